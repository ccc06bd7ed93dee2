"""The dtype rules: explicit conversions give exactly the dtype asked for (every pair), binary
ops promote as PyTorch does, and recording a graph node never changes a dtype."""

import itertools

import numpy as np
import pytest

import lucid
from lucid import _dtype

DTYPES = list(_dtype.ALL)
NAMES = [d.name for d in DTYPES]


def sample(dtype):
    return lucid.tensor(np.array([0, 1, 2, 3]), dtype=dtype)


@pytest.mark.parametrize("src, dst", list(itertools.product(DTYPES, DTYPES)),
                         ids=[f"{a}->{b}" for a, b in itertools.product(NAMES, NAMES)])
def test_to_gives_the_requested_dtype_for_every_pair(src, dst):
    x = sample(src)
    y = x.to(dst)
    assert y.dtype is dst
    assert y.numpy().dtype == dst.np_dtype
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(dst.np_dtype))
    assert (y is x) == (src is dst)  # no copy when nothing changes


@pytest.mark.parametrize("src", [d for d in DTYPES if d.is_floating_point], ids=str)
@pytest.mark.parametrize("dst", [d for d in DTYPES if d.is_floating_point], ids=str)
def test_float_conversions_are_differentiable_and_cast_the_gradient_back(src, dst):
    x = lucid.tensor([1.0, 2.0], dtype=src, requires_grad=True)
    (x.to(dst) * 3).sum().backward()
    assert x.grad.dtype is src
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("src", [lucid.float32, lucid.int32, lucid.int64, lucid.bool_], ids=str)
def test_double_and_float64_are_float64(src):
    x = sample(src)
    assert x.double().dtype is lucid.float64
    assert x.to(lucid.float64).dtype is lucid.float64
    assert x.to("float64").dtype is lucid.float64
    assert x.to(dtype=lucid.double).dtype is lucid.float64


def test_conversion_methods():
    x = lucid.tensor([1.5, -2.5])
    assert x.long().dtype is lucid.int64 and x.int().dtype is lucid.int32
    assert x.half().dtype is lucid.float16 and x.bool().dtype is lucid.bool_
    assert x.double().float().dtype is lucid.float32
    assert x.type_as(lucid.zeros(1, dtype=lucid.int64)).dtype is lucid.int64


def test_to_device_and_dtype_together():
    x = lucid.tensor([1, 2])
    y = x.to("metal", lucid.float64)
    assert y.device == "metal" and y.dtype is lucid.float64
    z = lucid.zeros(1, dtype=lucid.float16, device="metal")
    assert x.to(z).dtype is lucid.float16 and x.to(z).device.type == "metal"


def test_int32_plus_python_int_stays_int32():
    x = lucid.tensor([1, 2], dtype=lucid.int32)
    for y in (x + 1, 1 + x, x * 3, x - 2, x ** 2, -x):
        assert y.dtype is lucid.int32


SCALARS = [2, 2.5, True]
TORCH_NAMES = {"bool": "bool"}


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)),
                         ids=[f"{a}+{b}" for a, b in itertools.product(NAMES, NAMES)])
def test_tensor_tensor_promotion_matches_pytorch(a, b):
    torch = pytest.importorskip("torch")
    ours = (sample(a) * sample(b)).dtype
    theirs = torch.promote_types(getattr(torch, a.name), getattr(torch, b.name))
    assert ours.name == str(theirs).removeprefix("torch.")


@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tensor_scalar_promotion_matches_pytorch(dtype, scalar):
    torch = pytest.importorskip("torch")
    ours = (sample(dtype) + scalar).dtype
    theirs = (torch.tensor([0, 1, 2, 3]).to(getattr(torch, dtype.name)) + scalar).dtype
    assert ours.name == str(theirs).removeprefix("torch.")


@pytest.mark.parametrize("dtype", [lucid.int32, lucid.int64, lucid.bool_], ids=str)
def test_true_division_and_float_ops_of_integers_give_float32(dtype):
    x = sample(dtype)
    assert (x / 2).dtype is lucid.float32
    assert x.exp().dtype is lucid.float32
    assert x.sqrt().dtype is lucid.float32
    assert x.float().mean().dtype is lucid.float32


def test_integer_sums_are_int64_as_pytorch():
    assert lucid.tensor([1, 2], dtype=lucid.int32).sum().dtype is lucid.int64
    assert lucid.tensor([True, True]).sum().item() == 2


def test_recording_a_node_keeps_the_dtype_the_op_chose():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 2  # float64 result recorded from a float32 input
    assert y.dtype is lucid.float64
    y.sum().backward()
    assert x.grad.dtype is lucid.float32


def test_what_coming_from_says_of_pytorch_zero_dim_promotion():
    torch = pytest.importorskip("torch")
    theirs = (torch.tensor([1, 2], dtype=torch.int32) + torch.tensor(5)).dtype
    ours = (lucid.tensor([1, 2], dtype=lucid.int32) + lucid.tensor(5)).dtype
    assert theirs == torch.int32 and ours is lucid.int64  # documented difference
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).mean()
    assert lucid.tensor([1, 2]).mean().dtype is lucid.float32
