"""Tensor basics: construction and dtype rules, devices, repr, factories, seeding, conversions,
and nn.Module."""

import numpy as np
import pytest

import lucid
from lucid import nn


# -------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize(
    "dtype, name",
    [(lucid.float32, "float32"), (lucid.float64, "float64"), (lucid.int32, "int32"),
     (lucid.int64, "int64"), (lucid.bool_, "bool")],
)
def test_dtype_singletons_repr_and_string_names(dtype, name):
    assert repr(dtype) == f"lucid.{name}"
    assert lucid.tensor([1], dtype=name).dtype is dtype
    assert lucid.tensor([1], dtype=dtype).dtype is dtype


@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, lucid.float32),
        ([1.0, 2.0], lucid.float32),
        ([[1, 2.5]], lucid.float32),
        (3, lucid.int64),
        ([1, 2, 3], lucid.int64),
        ([True, False], lucid.bool_),
    ],
)
def test_python_data_dtype_inference(data, dtype):
    assert lucid.tensor(data).dtype is dtype


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_numpy_array_keeps_its_dtype(np_dtype):
    arr = np.zeros((2, 2), dtype=np_dtype)
    t = lucid.tensor(arr)
    assert t.numpy().dtype == np.dtype(np_dtype)
    assert t.dtype.np_dtype == np.dtype(np_dtype)


def test_dtype_override():
    assert lucid.tensor(np.zeros(3, dtype=np.float32), dtype="float64").dtype is lucid.float64
    assert lucid.tensor([1.5, 2.5], dtype=lucid.float64).dtype is lucid.float64
    assert lucid.tensor([1, 2], dtype=lucid.float32).dtype is lucid.float32
    np.testing.assert_array_equal(lucid.tensor([1.7, 2.2], dtype="int64").numpy(), [1, 2])


@pytest.mark.parametrize("np_dtype", [np.complex64, np.uint8])
def test_unsupported_numpy_dtype_raises_type_error(np_dtype):
    with pytest.raises(TypeError):
        lucid.tensor(np.zeros(2, dtype=np_dtype))


@pytest.mark.parametrize("bad", ["complex64", "bfloat16", np.complex64])
def test_unsupported_dtype_argument_raises_type_error(bad):
    with pytest.raises(TypeError):
        lucid.tensor([1.0], dtype=bad)


def test_float32_op_python_scalar_stays_float32():
    x = lucid.tensor([1.0, 2.0])
    for y in (x + 0.1, 0.1 + x, x * 2.5, x / 3.0, 3.0 / x, x - 1, 1 - x, x**2.0, -x, x.exp()):
        assert y.dtype is lucid.float32


def test_float64_ops_stay_float64():
    x = lucid.tensor([1.0, 2.0], dtype=lucid.float64)
    assert (x * 2.5 + 1).dtype is lucid.float64
    assert (x @ x.reshape(2, 1)).dtype is lucid.float64


def test_requires_grad_on_integer_tensor_raises_type_error():
    with pytest.raises(TypeError):
        lucid.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        lucid.tensor([True], requires_grad=True)
    t = lucid.tensor([1, 2])
    with pytest.raises(TypeError):
        t.requires_grad = True


# ------------------------------------------------------------------------- devices
def test_cpu_is_default_and_metal_is_a_tag():
    assert lucid.tensor([1.0]).device == "cpu"
    g = lucid.tensor([1.0, 2.0], device="metal")
    assert g.device == "metal"
    out = (g * 2.0 + g).exp().sum()
    assert out.device == "metal"
    np.testing.assert_allclose(out.item(), np.exp(3.0) + np.exp(6.0), rtol=1e-6)
    for factory in (lucid.zeros, lucid.ones, lucid.randn):
        assert factory(2, device="metal").device == "metal"
    assert lucid.tensor([1.0], device="gpu").device == "metal"  # lucid 2's name, an alias


def test_to_metal_and_back():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    g = x.to("metal")
    assert g.device == "metal" and x.device == "cpu"
    assert g.to("metal") is g
    c = g.to("cpu")
    assert c.device == "cpu"
    (c * 3.0).sum().backward()  # the device moves are differentiable
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert x.grad.device == "cpu"


def test_metal_leaf_gets_metal_grad():
    x = lucid.tensor([1.0, 2.0], device="metal", requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.device == "metal"


@pytest.mark.parametrize("bad", ["cuda", "tpu", "GPU", ""])
def test_unknown_device_raises_value_error_listing_valid_ones(bad):
    with pytest.raises(ValueError, match="cpu") as info:
        lucid.tensor([1.0], device=bad)
    assert "metal" in str(info.value)
    with pytest.raises(ValueError, match="cpu"):
        lucid.zeros(2, device=bad)


@pytest.mark.parametrize("bad", ["cuda", "tpu"])
def test_to_unknown_device_raises_value_error_listing_valid_ones(bad):
    with pytest.raises(ValueError, match="cpu") as info:
        lucid.tensor([1.0]).to(bad)
    assert "metal" in str(info.value)


@pytest.mark.parametrize(
    "op",
    [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
     lambda a, b: a @ b],
)
def test_mixing_devices_in_one_op_raises_value_error(op):
    a = lucid.tensor([1.0, 2.0])
    b = lucid.tensor([3.0, 4.0], device="metal")
    with pytest.raises(ValueError):
        op(a, b)
    with pytest.raises(ValueError):
        op(b, a)


# ---------------------------------------------------------------------------- repr
def test_repr_plain_float32():
    r = repr(lucid.tensor([1.0, 2.5]))
    assert r.startswith("Tensor(") and r.endswith(")")
    assert "1." in r and "2.5" in r
    assert "dtype" not in r and "device" not in r and "grad" not in r


@pytest.mark.parametrize("dtype", [lucid.float64, lucid.int32, lucid.int64, lucid.bool_])
def test_repr_shows_dtype_when_not_float32(dtype):
    r = repr(lucid.tensor([1, 0], dtype=dtype))
    assert r.startswith("Tensor(") and r.endswith(")")
    assert f"dtype={dtype!r}" in r


def test_repr_shows_device_only_when_not_cpu():
    assert "device='metal'" in repr(lucid.tensor([1.0], device="metal"))
    assert "device" not in repr(lucid.tensor([1.0], device="cpu"))


def test_repr_shows_requires_grad_and_grad_fn():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    rx = repr(x)
    assert "requires_grad=True" in rx and rx.endswith(")")
    ry = repr(x * 2.0)
    assert "grad_fn=<" in ry and ry.endswith(">)")
    with lucid.no_grad():
        assert "grad" not in repr(x * 2.0)


def test_repr_of_scalar_tensor():
    assert repr(lucid.tensor(0.5)) == "Tensor(0.5)"


def test_repr_summarises_large_tensors():
    r = repr(lucid.arange(100_000, dtype=lucid.float64))
    assert r.startswith("Tensor(") and r.endswith(")")
    assert "..." in r and len(r) < 200
    assert r.endswith("dtype=lucid.float64)")  # the extras follow the summary
    assert "998." in repr(lucid.arange(1000, dtype=lucid.float32))  # the edges are still shown
    assert "..." not in repr(lucid.arange(10, dtype=lucid.float32))


def test_repr_summarises_large_2d_tensors():
    r = repr(lucid.zeros(500, 500))
    assert "..." in r and len(r) < 1000


# ---------------------------------------------------------------------- factories
def test_manual_seed_makes_randn_reproducible():
    lucid.manual_seed(123)
    a = lucid.randn(3, 4).numpy().copy()
    b = lucid.randn(3, 4).numpy().copy()
    lucid.manual_seed(123)
    np.testing.assert_array_equal(lucid.randn(3, 4).numpy(), a)
    np.testing.assert_array_equal(lucid.randn(3, 4).numpy(), b)
    assert not np.array_equal(a, b)
    lucid.manual_seed(124)
    assert not np.array_equal(lucid.randn(3, 4).numpy(), a)


def test_randn_size_forms_and_options():
    assert lucid.randn(2, 3).shape == lucid.randn((2, 3)).shape == (2, 3)
    assert lucid.randn([4]).shape == (4,)
    assert lucid.randn(2, 3).dtype is lucid.float32
    assert lucid.randn(2, dtype=lucid.float64).dtype is lucid.float64
    assert lucid.randn(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError):
        lucid.randn(2, dtype=lucid.int64)


def test_randn_is_roughly_standard_normal():
    lucid.manual_seed(0)
    x = lucid.randn(20_000, dtype="float64").numpy()
    # standard errors are 1/sqrt(n) ~ 0.007 for the mean, ~0.005 for the std
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1.0) < 0.05


def test_zeros_and_ones():
    z = lucid.zeros(2, 3)
    o = lucid.ones((2, 3), dtype="int64")
    assert z.shape == o.shape == (2, 3)
    assert z.dtype is lucid.float32 and o.dtype is lucid.int64
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(o.numpy(), np.ones((2, 3)))
    assert lucid.zeros(3, requires_grad=True).requires_grad


def test_arange():
    a = lucid.arange(5)
    assert a.dtype is lucid.int64
    np.testing.assert_array_equal(a.numpy(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(lucid.arange(2, 8, 3).numpy(), [2, 5])
    f = lucid.arange(0, 1, 0.25)
    assert f.dtype is lucid.float32
    np.testing.assert_array_equal(f.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert lucid.arange(3, dtype="float64").dtype is lucid.float64


def test_tensor_from_tensor_copies():
    a = lucid.tensor([1.0, 2.0])
    b = lucid.tensor(a)
    b.numpy()[0] = 9.0
    assert a.numpy()[0] == 1.0


# ---------------------------------------------------------------- attributes, conversions
def test_shape_ndim_size_numel_len():
    t = lucid.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24
    assert len(t) == 2
    with pytest.raises(TypeError):
        len(lucid.tensor(1.0))


def test_item():
    v = lucid.tensor([[2.5]]).item()
    assert v == 2.5 and isinstance(v, float)
    n = lucid.tensor(7).item()
    assert n == 7 and isinstance(n, int)
    with pytest.raises((ValueError, RuntimeError)):
        lucid.tensor([1.0, 2.0]).item()


def test_numpy_and_array_interop():
    data = np.arange(6.0).reshape(2, 3)
    t = lucid.tensor(data)
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), data)
    np.testing.assert_array_equal(np.asarray(t), data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.exp(np.asarray(t)), np.exp(data))
    assert isinstance(np.ones(3) + t, lucid.Tensor)  # ndarray defers to Tensor's reflected op


def test_detach_shares_data_and_device():
    x = lucid.tensor([1.0, 2.0], device="metal", requires_grad=True)
    d = (x * 2.0).detach()
    assert d.device == "metal" and d.is_leaf and not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])


# -------------------------------------------------------------------------- nn.Module
class Affine(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(lucid.randn(n_in, n_out))
        self.bias = nn.Parameter(lucid.zeros(n_out))
        self.scale = 2.0  # not a parameter

    def forward(self, x):
        return x @ self.weight + self.bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Affine(3, 4)
        self.second = Affine(4, 2)
        self.temperature = nn.Parameter(lucid.ones(1))

    def forward(self, x):
        return self.second(self.first(x).exp()) * self.temperature


def test_module_registers_parameters_with_dotted_names():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert sorted(names) == sorted(
        ["temperature", "first.weight", "first.bias", "second.weight", "second.bias"]
    )
    params = list(net.parameters())
    assert len(params) == 5
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert any(p is net.first.weight for p in params)


def test_reassigning_an_attribute_unregisters_it():
    layer = Affine(2, 2)
    layer.bias = lucid.zeros(2)  # a plain tensor, not a Parameter
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_module_forward_backward_and_zero_grad():
    net = Net()
    net(lucid.randn(5, 3)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip():
    lucid.manual_seed(1)
    a = Net()
    lucid.manual_seed(2)
    b = Net()
    x = lucid.randn(5, 3)
    assert not np.allclose(a(x).numpy(), b(x).numpy())

    state = a.state_dict()
    assert set(state) == {name for name, _ in a.named_parameters()}
    weight_before = b.first.weight
    b.load_state_dict(state)
    assert b.first.weight is weight_before  # loaded in place
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())

    a.first.bias.numpy()[...] = 5.0  # the state dict holds copies
    assert not np.any(state["first.bias"].numpy() == 5.0)


def test_load_state_dict_checks_keys_and_shapes():
    net = Net()
    state = net.state_dict()
    with pytest.raises(KeyError):
        net.load_state_dict({k: v for k, v in state.items() if k != "temperature"})
    with pytest.raises(KeyError):
        net.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(ValueError):
        net.load_state_dict({**state, "first.bias": np.zeros(7)})


def test_module_repr_and_parameter_repr():
    r = repr(Net())
    assert r.startswith("Net(") and r.endswith(")")
    assert "(first): Affine()" in r and "(second): Affine()" in r
    assert repr(nn.Parameter(lucid.zeros(2))).startswith("Parameter containing:\nTensor(")


def test_module_train_eval_and_missing_forward():
    net = Net()
    net.eval()
    assert not net.training and not net.first.training
    net.train()
    assert net.training and net.second.training
    with pytest.raises(NotImplementedError):
        nn.Module()(lucid.zeros(1))


def test_module_without_super_init_fails_clearly():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(lucid.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_numpy_scalar_keeps_its_dtype():
    assert lucid.tensor(np.float64(1.5)).dtype is lucid.float64
    assert lucid.tensor(np.int32(3)).dtype is lucid.int32


def test_int_tensor_times_python_float_is_float32_as_torch():
    out = lucid.tensor([1, 2]) * 2.5
    assert out.dtype is lucid.float32
    np.testing.assert_array_equal(out.numpy(), [2.5, 5.0])
