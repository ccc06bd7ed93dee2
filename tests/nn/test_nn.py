"""Tests of the layers: lucid.nn.Linear, ReLU, Tanh, ContextWindow, Sequential and their
functional ops. Gradients are judged by central finite differences (gradcheck.py), values by
plain numpy definitions, initialisation by the distribution it must follow, and conv1d
semantics by PyTorch when it is installed."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid
from lucid import nn
from lucid.nn import functional as F


def away_from_zero(x, margin=0.05):
    """Push entries off ReLU's kink, where a central difference straddles two slopes."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


# ---------------------------------------------------------------------------- activations
def test_relu_values_and_gradient():
    x = away_from_zero(np.random.default_rng(0).normal(size=(4, 5)))
    np.testing.assert_array_equal(F.relu(lucid.tensor(x)).numpy(), np.maximum(x, 0))
    check_gradients(F.relu, x)


def test_relu_gradient_at_zero_is_zero():
    x = lucid.tensor([0.0, 1.0], requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


def test_tanh_values_and_gradient():
    x = np.random.default_rng(1).normal(scale=2.0, size=(3, 4))
    np.testing.assert_allclose(F.tanh(lucid.tensor(x)).numpy(), np.tanh(x), rtol=1e-15)
    check_gradients(F.tanh, x)


@pytest.mark.parametrize("dtype", [lucid.float32, lucid.float64])
def test_activations_keep_dtype(dtype):
    x = lucid.randn(3, dtype=dtype)
    assert F.relu(x).dtype is dtype
    assert F.tanh(x).dtype is dtype


def test_activation_modules_call_the_functions():
    x = lucid.randn(2, 3)
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), F.relu(x).numpy())
    np.testing.assert_array_equal(nn.Tanh()(x).numpy(), F.tanh(x).numpy())
    assert list(nn.ReLU().parameters()) == []


# --------------------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(5,), (3, 5), (4, 3, 5)])
def test_linear_values(x_shape):
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=(2, 5)), rng.normal(size=2)
    out = F.linear(lucid.tensor(x), lucid.tensor(w), lucid.tensor(b))
    assert out.shape == x_shape[:-1] + (2,)
    np.testing.assert_allclose(out.numpy(), x @ w.T + b, rtol=1e-13)
    no_bias = F.linear(lucid.tensor(x), lucid.tensor(w))
    np.testing.assert_allclose(no_bias.numpy(), x @ w.T, rtol=1e-13)


@pytest.mark.parametrize("x_shape", [(5,), (3, 5), (4, 3, 5)])
def test_linear_gradients(x_shape):
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=(2, 5)), rng.normal(size=2)
    check_gradients(F.linear, x, w, b)
    check_gradients(F.linear, x, w)


def test_linear_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 5\).*got shape \(3, 4\)"):
        F.linear(lucid.randn(3, 4), lucid.randn(2, 5))
    with pytest.raises(ValueError, match="weight must have shape"):
        F.linear(lucid.randn(3, 4), lucid.randn(4))


def test_linear_module_gradients_reach_its_parameters():
    """d sum(g * (x W^T + b)) / dW = g^T x and / db = sum of g over the batch."""
    rng = np.random.default_rng(4)
    layer = nn.Linear(5, 3, dtype=lucid.float64)
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    out = layer(lucid.tensor(x))
    np.testing.assert_allclose(out.numpy(), x @ layer.weight.numpy().T + layer.bias.numpy(),
                               rtol=1e-13)
    out.backward(gradient=g)
    np.testing.assert_allclose(layer.weight.grad.numpy(), g.T @ x, rtol=1e-13)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("fan_in,fan_out", [(100, 200), (7, 3000)])
def test_linear_init_follows_pytorch(fan_in, fan_out):
    """weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    For n draws of U(-a, a): max |u| < 0.9 a has probability 0.9**n (negligible for n >= 3000);
    u**2 / a**2 has mean 1/3 and standard deviation sqrt(1/5 - 1/9) = 2/sqrt(45), so its sample
    mean lies within 5 standard errors of 1/3 except with probability < 1e-6.
    """
    lucid.manual_seed(0)
    layer = nn.Linear(fan_in, fan_out)
    bound = 1 / np.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        u = p.numpy().astype(np.float64) / bound
        assert p.dtype is lucid.float32 and p.requires_grad
        assert np.abs(u).max() <= 1 and np.abs(u).max() > 0.9
        if u.size >= 3000:
            assert abs(np.mean(u**2) - 1 / 3) < 5 * 2 / np.sqrt(45) / np.sqrt(u.size)
            assert abs(np.mean(u)) < 5 * np.sqrt(1 / 3) / np.sqrt(u.size)
    assert layer.weight.shape == (fan_out, fan_in) and layer.bias.shape == (fan_out,)


def test_pytorch_linear_init_has_the_same_bound():
    """Our bound is PyTorch's: torch's weights reach it and never exceed it."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.Linear(100, 200)
    for p in (layer.weight, layer.bias):
        u = p.detach().numpy().astype(np.float64) * np.sqrt(100)
        assert np.abs(u).max() <= 1 and np.abs(u).max() > 0.9


def test_linear_init_is_seeded():
    lucid.manual_seed(5)
    a = nn.Linear(4, 3)
    lucid.manual_seed(5)
    b = nn.Linear(4, 3)
    c = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert not np.array_equal(b.weight.numpy(), c.weight.numpy())


def test_linear_options_and_errors():
    layer = nn.Linear(3, 2, bias=False, dtype=lucid.float64)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.dtype is lucid.float64
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match="out_features must be a positive int, got 2.0"):
        nn.Linear(3, 2.0)
    with pytest.raises(TypeError, match="dtype must be floating point"):
        nn.Linear(3, 2, dtype=lucid.int64)


# ------------------------------------------------------------------------- context window
def context_window_loop(x, left, right):
    """The definition, one frame and one offset at a time."""
    T, F_ = x.shape[0], x.shape[-1]
    out = np.zeros(x.shape[:-1] + ((left + right + 1) * F_,))
    for t in range(T):
        for k, offset in enumerate(range(-left, right + 1)):
            if 0 <= t + offset < T:
                out[t, ..., k * F_:(k + 1) * F_] = x[t + offset]
    return out


@pytest.mark.parametrize("shape", [(6, 3), (5, 2, 3), (1, 2, 4)])
@pytest.mark.parametrize("left,right", [(0, 0), (2, 1), (0, 3), (3, 3)])
def test_context_window_values_and_gradient(shape, left, right):
    x = np.random.default_rng(6).normal(size=shape)
    out = F.context_window(lucid.tensor(x), left, right)
    np.testing.assert_array_equal(out.numpy(), context_window_loop(x, left, right))
    check_gradients(lambda t: F.context_window(t, left, right), x)


def test_context_window_module_and_errors():
    x = lucid.randn(4, 2, 3)
    np.testing.assert_array_equal(nn.ContextWindow(1, 2)(x).numpy(),
                                  F.context_window(x, 1, 2).numpy())
    assert repr(nn.ContextWindow(1, 2)) == "ContextWindow(left=1, right=2)"
    with pytest.raises(ValueError, match="left must be an int >= 0, got -1"):
        F.context_window(x, -1, 0)
    with pytest.raises(ValueError, match="right must be an int >= 0, got 1.5"):
        F.context_window(x, 0, 1.5)
    with pytest.raises(ValueError, match=r"x must have shape \(T, \*, F\)"):
        F.context_window(lucid.randn(4), 1, 1)


def test_context_window_then_linear_is_pytorch_conv1d():
    """Stacking k frames then Linear is Conv1d(kernel k, zero padding) on the (N, F, T) layout,
    with the conv weight (out, F, k) laid out as the Linear weight (out, k * F)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    T, N, F_, out, left, right = 9, 2, 3, 4, 2, 1
    k = left + right + 1
    x, w, b = rng.normal(size=(T, N, F_)), rng.normal(size=(out, F_, k)), rng.normal(size=out)
    ours = F.linear(F.context_window(lucid.tensor(x), left, right),
                    lucid.tensor(w.transpose(0, 2, 1).reshape(out, k * F_)), lucid.tensor(b))
    padded = torch.nn.functional.pad(torch.tensor(x).permute(1, 2, 0), (left, right))
    theirs = torch.nn.functional.conv1d(padded, torch.tensor(w), torch.tensor(b))
    np.testing.assert_allclose(ours.numpy(), theirs.permute(2, 0, 1).numpy(), rtol=1e-12,
                               atol=1e-12)


# ----------------------------------------------------------------------------- sequential
def make_model(seed):
    lucid.manual_seed(seed)
    return nn.Sequential(nn.ContextWindow(1, 1), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4),
                         nn.ReLU())


def test_sequential_applies_modules_in_order():
    model = make_model(0)
    x = lucid.randn(7, 3, 2)
    expected = x
    for module in [model[0], model[1], model[2], model[3], model[4]]:
        expected = module(expected)
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())
    assert len(model) == 5 and list(model) == [model[i] for i in range(5)]
    assert isinstance(model[-1], nn.ReLU)
    assert [n for n, _ in model.named_parameters()] == ["1.weight", "1.bias", "3.weight",
                                                         "3.bias"]


def test_sequential_gradients_match_finite_differences():
    """The whole stack as a function of its input, in float64."""
    model = make_model(1)
    model.double()
    x = np.random.default_rng(8).normal(size=(5, 2, 2))
    check_gradients(lambda t: nn.Sequential(*list(model)[:4])(t), x)


def test_sequential_train_eval_zero_grad_and_errors():
    model = make_model(2)
    model.eval()
    assert not any(m.training for m in model)
    model.train()
    assert all(m.training for m in model)
    model(lucid.randn(3, 1, 2)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError, match="argument 1 must be a Module, got function"):
        nn.Sequential(nn.ReLU(), F.relu)


def test_state_dict_round_trip():
    a, b = make_model(3), make_model(4)
    x = lucid.randn(6, 2, 2)
    assert not np.array_equal(a(x).numpy(), b(x).numpy())
    state = a.state_dict()
    b.load_state_dict(state)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    state["1.weight"][...] = 0  # a copy: changing it leaves both models alone
    assert np.abs(a[1].weight.numpy()).max() > 0 and np.abs(b[1].weight.numpy()).max() > 0
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"1.weight": state["1.weight"]})
