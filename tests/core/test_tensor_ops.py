"""Every differentiable Tensor op: gradients against central differences in float64, and values
and gradients against PyTorch when it is installed, with broadcasting and dims given as
negative numbers or tuples."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid
import lucid.nn.functional as F

rng = np.random.default_rng(2024)


def positive(shape):
    return rng.uniform(0.5, 2.0, size=shape)


def normal(shape):
    return rng.normal(size=shape)


def distinct(shape):
    """Values far apart, so max/min/clamp/abs have no ties or kinks within a finite difference."""
    n = int(np.prod(shape))
    return (rng.permutation(n) - n / 2 + 0.25).reshape(shape) * 0.3


# (id, lucid function, torch function or None, input makers)
CASES = [
    ("add_broadcast", lambda a, b: a + b, lambda a, b: a + b, [normal((3, 1)), normal((4,))]),
    ("sub_broadcast", lambda a, b: a - b, lambda a, b: a - b, [normal((2, 3)), normal((1, 3))]),
    ("rsub_scalar", lambda a: 2.5 - a, lambda a: 2.5 - a, [normal((3,))]),
    ("mul_broadcast", lambda a, b: a * b, lambda a, b: a * b, [normal((2, 1, 3)), normal((4, 1))]),
    ("div_broadcast", lambda a, b: a / b, lambda a, b: a / b, [normal((2, 3)), positive((3,))]),
    ("rdiv_scalar", lambda a: 1.5 / a, lambda a: 1.5 / a, [positive((4,))]),
    ("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, [normal((3, 2))]),
    ("pow_fractional", lambda a: a ** 0.5, lambda a: a ** 0.5, [positive((3,))]),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, [positive((2, 3)), normal((3,))]),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [normal((3,))]),
    ("neg", lambda a: -a, lambda a: -a, [normal((3,))]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [normal((2, 3, 4)), normal((4, 5))]),
    ("matmul_vec", lambda a, b: a @ b, lambda a, b: a @ b, [normal((4,)), normal((4, 2))]),
    ("exp", lambda a: a.exp(), lambda a: a.exp(), [normal((2, 3))]),
    ("log", lambda a: a.log(), lambda a: a.log(), [positive((2, 3))]),
    ("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), [positive((2, 3))]),
    ("abs", lambda a: a.abs(), lambda a: a.abs(), [distinct((2, 3))]),
    ("square", lambda a: a.square(), lambda a: a.square(), [normal((4,))]),
    ("clamp", lambda a: a.clamp(-0.5, 0.6), lambda a: a.clamp(-0.5, 0.6), [distinct((3, 4))]),
    ("clamp_min", lambda a: a.clamp(min=0.1), lambda a: a.clamp(min=0.1), [distinct((5,))]),
    ("maximum", lambda a, b: lucid.maximum(a, b), None, [distinct((2, 3)), distinct((3,))]),
    ("minimum", lambda a, b: lucid.minimum(a, b), None, [distinct((2, 3)), distinct((3,))]),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), [normal((2, 3))]),
    ("sum_neg_dim", lambda a: a.sum(dim=-1), lambda a: a.sum(dim=-1), [normal((2, 3, 4))]),
    ("sum_tuple_keep", lambda a: a.sum(dim=(0, -1), keepdim=True),
     lambda a: a.sum(dim=(0, -1), keepdim=True), [normal((2, 3, 4))]),
    ("mean_tuple", lambda a: a.mean(dim=(1, 2)), lambda a: a.mean(dim=(1, 2)),
     [normal((2, 3, 4))]),
    ("var", lambda a: a.var(dim=1), lambda a: a.var(dim=1), [normal((3, 5))]),
    ("std_keep", lambda a: a.std(dim=-1, keepdim=True), lambda a: a.std(dim=-1, keepdim=True),
     [normal((3, 5))]),
    ("max_dim", lambda a: a.max(dim=-2), lambda a: a.amax(dim=-2), [distinct((3, 4))]),
    ("max_all", lambda a: a.max(), lambda a: a.max(), [distinct((3, 4))]),
    ("min_dim_keep", lambda a: a.min(dim=1, keepdim=True),
     lambda a: a.amin(dim=1, keepdim=True), [distinct((3, 4))]),
    ("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [normal((2, 3, 2))]),
    ("view", lambda a: a.view(6, 2), lambda a: a.view(6, 2), [normal((2, 3, 2))]),
    ("flatten", lambda a: a.flatten(1), lambda a: a.flatten(1), [normal((2, 3, 2))]),
    ("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), [normal((2, 1, 3, 1))]),
    ("squeeze_dim", lambda a: a.squeeze(-1), lambda a: a.squeeze(-1), [normal((2, 1, 3, 1))]),
    ("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [normal((2, 3))]),
    ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1),
     [normal((2, 3, 4))]),
    ("transpose", lambda a: a.transpose(0, -1), lambda a: a.transpose(0, -1),
     [normal((2, 3, 4))]),
    ("T", lambda a: a.T, lambda a: a.T, [normal((2, 3))]),
    ("expand", lambda a: a.expand(4, -1, 3), lambda a: a.expand(4, -1, 3), [normal((2, 1))]),
    ("getitem", lambda a: a[1:, [0, 0, 2]], lambda a: a[1:, [0, 0, 2]], [normal((3, 4))]),
    ("bool_mask", lambda a: a[a > 0], lambda a: a[a > 0], [distinct((3, 4))]),
    ("clone", lambda a: a.clone(), lambda a: a.clone(), [normal((3,))]),
    ("cat", lambda a, b: lucid.cat([a, b], dim=-1), None, [normal((2, 3)), normal((2, 2))]),
    ("stack", lambda a, b: lucid.stack([a, b], dim=1), None, [normal((2, 3)), normal((2, 3))]),
    ("where", lambda a, b: lucid.where(a > b, a, b), None, [distinct((2, 3)), distinct((3,))]),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid(), [normal((2, 3)) * 3]),
    ("tanh", lambda a: a.tanh(), lambda a: a.tanh(), [normal((2, 3))]),
    ("relu", lambda a: a.relu(), lambda a: a.relu(), [distinct((2, 3))]),
    ("softmax", lambda a: a.softmax(dim=0), lambda a: a.softmax(dim=0), [normal((3, 4))]),
    ("log_softmax", lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1),
     [normal((3, 4))]),
    ("gelu", lambda a: F.gelu(a), None, [normal((2, 5)) * 2]),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), None, [normal((2, 5)) * 2]),
]

IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, fn, torch_fn, inputs", CASES, ids=IDS)
def test_gradient_matches_central_differences(name, fn, torch_fn, inputs):
    check_gradients(fn, *inputs)


def _torch_fn(name):
    return {"maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b),
            "cat": lambda a, b: __import__("torch").cat([a, b], dim=-1),
            "stack": lambda a, b: __import__("torch").stack([a, b], dim=1),
            "where": lambda a, b: __import__("torch").where(a > b, a, b),
            "gelu": lambda a: __import__("torch").nn.functional.gelu(a),
            "gelu_tanh": lambda a: __import__("torch").nn.functional.gelu(a, approximate="tanh"),
            }[name]


@pytest.mark.parametrize("name, fn, torch_fn, inputs", CASES, ids=IDS)
def test_values_and_gradients_match_pytorch(name, fn, torch_fn, inputs):
    torch = pytest.importorskip("torch")
    torch_fn = torch_fn or _torch_fn(name)
    ours = [lucid.tensor(x, dtype=lucid.float64, requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out, ref = fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    weight = rng.uniform(0.5, 1.5, size=out.shape)
    out.backward(weight)
    ref.backward(torch.tensor(weight))
    for a, b in zip(ours, theirs):
        want = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["max", "min"])
def test_tied_extrema_share_the_gradient_as_pytorch_amax(op):
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    a = lucid.tensor(x, requires_grad=True, dtype=lucid.float64)
    getattr(a, op)(dim=1).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    getattr(t, "a" + op)(dim=1).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())


def test_pow_zero_has_zero_gradient_at_zero():
    x = lucid.tensor([0.0, 2.0, -1.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_pow_gradient_at_zero_base_is_finite_for_positive_exponents():
    x = lucid.tensor([0.0, 1.0], requires_grad=True, dtype=lucid.float64)
    y = lucid.tensor([2.0, 2.0], requires_grad=True, dtype=lucid.float64)
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0])


def test_argmax_argmin_match_numpy_and_are_int64():
    x = distinct((3, 4))
    t = lucid.tensor(x)
    assert t.argmax().item() == np.argmax(x)
    np.testing.assert_array_equal(t.argmax(dim=-1).numpy(), np.argmax(x, axis=-1))
    np.testing.assert_array_equal(t.argmin(dim=0, keepdim=True).numpy(),
                                  np.argmin(x, axis=0)[None])
    assert t.argmax(dim=1).dtype is lucid.int64


def test_zero_dim_tensor_accepts_dim_zero_and_minus_one_as_pytorch():
    x = lucid.tensor(1.5, requires_grad=True)
    assert x.sum(dim=0).item() == 1.5 and x.sum(dim=-1).shape == ()
    x.mean(dim=0).backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError, match=r"dimension out of range"):
        x.sum(dim=1)


@pytest.mark.parametrize("bad", [3, -4, (0, 0)])
def test_bad_dims_name_the_problem(bad):
    with pytest.raises((IndexError, ValueError), match="dim"):
        lucid.zeros(2, 3, 4).sum(dim=bad)
