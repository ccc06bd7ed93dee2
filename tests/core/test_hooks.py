"""Tensor.register_hook and retain_grad: a hook sees the whole gradient of its tensor, what it
returns replaces the gradient downstream, checked against central differences of the function
whose derivative the hooked backward pass computes, and against PyTorch."""

import numpy as np
import pytest
from helpers.gradcheck import central_difference

import lucid
from lucid.nn.functional import ctc_loss, log_softmax

rng = np.random.default_rng(7)


def leaf(a):
    return lucid.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def test_a_scaling_hook_on_an_intermediate_scales_only_the_paths_through_it():
    # L = sum(w * (tanh(y) + x * y)) with y = x**2 + x and a direct use of x; the hook on y
    # multiplies dL/dy by 3, so x.grad = 3 * (dL/dx through y) + dL/dx directly
    x0, w = rng.normal(size=5), rng.uniform(0.5, 1.5, size=5)

    def loss(x_through_y, x_direct):
        y = x_through_y**2 + x_through_y
        return float(np.sum(w * (np.tanh(y) + x_direct * y)))

    x = leaf(x0)
    y = x**2 + x
    y.register_hook(lambda g: g * 3)
    (lucid.tensor(w) * (y.tanh() + x * y)).sum().backward()
    through_y = central_difference(lambda v: loss(v, x0), x0)
    direct = central_difference(lambda v: loss(x0, v), x0)
    np.testing.assert_allclose(x.grad.numpy(), 3 * through_y + direct, rtol=1e-6, atol=1e-8)


def test_a_nonlinear_hook_sees_the_sum_over_every_use_and_replaces_it():
    # y is used twice downstream; the hook clips dL/dy (the sum of both uses) to [-0.5, 0.5]
    x0 = rng.normal(size=4)
    w1, w2 = rng.normal(size=4) * 2, rng.normal(size=4) * 2
    y_of = lambda x: x * x * 0.5 + x  # noqa: E731
    downstream = lambda y: float(np.sum(w1 * y * y + w2 * np.tanh(y)))  # noqa: E731
    seen = []

    def clip(g):
        seen.append(g.numpy().copy())
        return g.clamp(-0.5, 0.5)

    x = leaf(x0)
    y = x * x * 0.5 + x
    y.register_hook(clip)
    (lucid.tensor(w1) * y * y + lucid.tensor(w2) * y.tanh()).sum().backward()

    g_y = central_difference(downstream, y_of(x0))  # dL/dy, both uses together
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], g_y, rtol=1e-6, atol=1e-8)
    clipped = np.clip(g_y, -0.5, 0.5)
    assert (np.abs(g_y) > 0.5).any()  # the hook really changes something
    want = central_difference(lambda v: float(np.sum(clipped * y_of(v))), x0)  # J^T clipped
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6, atol=1e-8)


def test_a_leaf_hook_runs_once_on_the_sum_and_what_it_returns_is_accumulated():
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.tolist()) or g * 10)
    (x * 3 + x * x).sum().backward()  # dL/dx = 3 + 2x = [5, 7]
    assert calls == [[5.0, 7.0]] and x.grad.tolist() == [50.0, 70.0]
    (x * 1).sum().backward()  # accumulates: 10 * 1 more
    assert x.grad.tolist() == [60.0, 80.0]


def test_a_hook_on_the_root_and_on_a_leaf_root():
    x = leaf([2.0])
    y = x * x
    y.register_hook(lambda g: g * 0.25)
    y.backward()
    assert x.grad.tolist() == [1.0]  # 0.25 * 2x
    z = leaf([1.0])
    z.register_hook(lambda g: g + 1)
    z.backward(lucid.tensor([2.0], dtype=lucid.float64))
    assert z.grad.tolist() == [3.0]


def test_hooks_chain_in_order_and_handles_remove_them():
    x = leaf([1.0])
    first = x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [30.0]  # (2 + 1) * 10, not 2 * 10 + 1
    first.remove()
    first.remove()  # a second remove does nothing
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [20.0]
    x.grad = None
    with x.register_hook(lambda g: g * 0):
        (x * 2).sum().backward()
    assert x.grad.tolist() == [0.0]
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [20.0]


def test_retain_grad_keeps_the_hooked_gradient_of_a_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * 3
    assert not y.retains_grad
    y.retain_grad()
    y.register_hook(lambda g: g * 0.5)
    (y * y).sum().backward()
    assert y.retains_grad and y.grad.tolist() == [3.0, 6.0]  # 0.5 * 2y
    assert x.grad.tolist() == [9.0, 18.0]
    x.retain_grad()  # on a leaf: nothing to do
    assert not x.retains_grad


def test_bad_hooks_are_refused_clearly():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lucid.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="does not require grad"):
        lucid.ones(2).retain_grad()
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="hook must be callable"):
        x.register_hook(3)
    x.register_hook(lambda g: lucid.ones(3))
    with pytest.raises(ValueError, match=r"gradient's shape \(2,\), got \(3,\)"):
        (x * 1).sum().backward()
    y = leaf([1.0])
    y.register_hook(lambda g: g.numpy().__setitem__(0, 5.0))
    with pytest.raises(ValueError, match="read-only"):
        (y * 1).sum().backward()


def test_a_hook_on_ctc_log_probs_is_honoured():
    """ctc_loss may skip log_softmax's node to send its gradient straight to the logits; a
    hook on the log-probabilities must still see (and change) their gradient."""
    logits0 = rng.normal(size=(6, 2, 4))
    args = (np.array([[1, 2], [3, 0]]), [6, 5], [2, 1])

    def run(hook):
        logits = leaf(logits0)
        log_probs = log_softmax(logits, dim=2)
        if hook:
            log_probs.register_hook(lambda g: g * 2)
        ctc_loss(log_probs, *args).backward()
        return logits.grad.numpy()

    np.testing.assert_allclose(run(True), 2 * run(False), rtol=1e-12, atol=1e-14)


def test_hooks_and_retained_grads_match_pytorch():
    torch = pytest.importorskip("torch")
    x0 = rng.normal(size=(3, 4))

    def build(lib, make):
        x = make(x0)
        y = (x * x).sum(1) if lib is torch else (x * x).sum(dim=1)
        y.retain_grad()
        y.register_hook(lambda g: g.clamp(-1.0, 1.0))
        z = y.tanh() * y + y
        x.register_hook(lambda g: g * 2)
        z.sum().backward()
        return x.grad.numpy(), y.grad.numpy()

    ours = build(lucid, leaf)
    theirs = build(torch, lambda a: torch.tensor(a, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)
