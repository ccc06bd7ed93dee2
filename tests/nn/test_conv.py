"""nn.Conv1d and nn.MaxPool1d: against PyTorch (float64, copied weights), against central
differences and a direct loop without PyTorch, and their argument checks."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid
from lucid import nn
from lucid.nn.functional import conv1d, max_pool1d


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _direct_conv(x, w, b, stride, padding, dilation):
    """The definition, one output element at a time."""
    N, C, L = x.shape
    O, _, K = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    out_len = (L + 2 * padding - dilation * (K - 1) - 1) // stride + 1
    out = np.zeros((N, O, out_len))
    for n in range(N):
        for o in range(O):
            for i in range(out_len):
                taps = xp[n, :, i * stride:i * stride + dilation * (K - 1) + 1:dilation]
                out[n, o, i] = (taps * w[o]).sum() + (b[o] if b is not None else 0)
    return out


CONV_CASES = [  # (stride, padding, dilation, bias)
    (1, 0, 1, True), (2, 1, 1, True), (1, 2, 2, False), (3, 0, 2, True), (1, "same", 3, True),
    (1, "valid", 1, True),
]


@pytest.mark.parametrize("stride, padding, dilation, bias", CONV_CASES)
def test_conv1d_matches_torch(torch, stride, padding, dilation, bias):
    lucid.manual_seed(0)
    ours = nn.Conv1d(3, 4, 3, stride=stride, padding=padding, dilation=dilation, bias=bias,
                     dtype=lucid.float64)
    theirs = torch.nn.Conv1d(3, 4, 3, stride=stride, padding=padding, dilation=dilation,
                             bias=bias, dtype=torch.float64)
    theirs.load_state_dict({k: torch.tensor(v.numpy())
                            for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 11))
    lx, tx = lucid.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lout, tout = ours(lx), theirs(tx)
    np.testing.assert_allclose(lout.numpy(), tout.detach().numpy(), rtol=0, atol=1e-12)
    w = np.random.default_rng(2).standard_normal(tout.shape)
    (lout * lucid.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-10)
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad.numpy(), p.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)])
def test_conv1d_matches_the_definition_and_central_differences(stride, padding, dilation):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3)), rng.standard_normal(4)
    out = conv1d(lucid.tensor(x), lucid.tensor(w), lucid.tensor(b), stride, padding, dilation)
    np.testing.assert_allclose(out.numpy(), _direct_conv(x, w, b, stride, padding, dilation),
                               rtol=1e-12, atol=1e-12)
    check_gradients(lambda x, w, b: conv1d(x, w, b, stride, padding, dilation), x, w, b)


def test_conv1d_initialisation_and_float32():
    lucid.manual_seed(0)
    conv = nn.Conv1d(8, 16, 5)
    bound = 1 / np.sqrt(8 * 5)
    assert conv.weight.shape == (16, 8, 5) and conv.bias.shape == (16,)
    assert np.abs(conv.weight.numpy()).max() <= bound
    assert np.abs(conv.weight.numpy()).max() > 0.9 * bound
    out = conv(lucid.randn(2, 8, 20))
    assert out.shape == (2, 16, 16) and out.dtype == lucid.float32


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, ceil_mode", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 2, True), (2, 3, 0, 1, True),
    (4, 1, 2, 1, False),
])
def test_max_pool1d_matches_torch(torch, kernel_size, stride, padding, dilation, ceil_mode):
    x = np.random.default_rng(4).standard_normal((2, 3, 10))
    x[0, 0, 2:4] = 5.0  # a tie inside one window: the first maximum takes the gradient
    lx, tx = lucid.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lout = nn.MaxPool1d(kernel_size, stride, padding, dilation, ceil_mode)(lx)
    tout = torch.nn.MaxPool1d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)(tx)
    np.testing.assert_array_equal(lout.numpy(), tout.detach().numpy())
    w = np.random.default_rng(5).standard_normal(tout.shape)
    (lout * lucid.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-12)


def test_max_pool1d_central_differences():
    x = np.random.default_rng(6).permutation(30).reshape(1, 3, 10) * 0.1  # no ties
    check_gradients(lambda x: max_pool1d(x, 3, 2, 1), x)


@pytest.mark.parametrize("call, error, match", [
    (lambda: conv1d(lucid.randn(2, 3), lucid.randn(4, 3, 3)), ValueError, r"\(N, C, L\)"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 2, 3)), ValueError, "3 channels"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 3, 3), lucid.randn(3)), ValueError,
     r"bias must have shape \(4,\)"),
    (lambda: conv1d(lucid.randn(2, 3, 2), lucid.randn(4, 3, 3)), ValueError, "shorter"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 3, 3), stride=0), ValueError, "stride"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 3, 3), padding="full"), ValueError,
     "padding"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 3, 3), stride=2, padding="same"),
     ValueError, "stride 1"),
    (lambda: conv1d(lucid.randn(2, 3, 8), lucid.randn(4, 3, 3, dtype=lucid.float64)), TypeError,
     "dtype"),
    (lambda: max_pool1d(lucid.randn(2, 3, 8), 2, padding=2), ValueError, "half of kernel_size"),
    (lambda: max_pool1d(lucid.randn(2, 3, 8), 0), ValueError, "kernel_size"),
    (lambda: nn.Conv1d(3, 0, 3), ValueError, "out_channels"),
])
def test_bad_arguments_raise_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()
