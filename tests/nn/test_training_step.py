"""The training step logits -> log_softmax -> ctc_loss -> backward, and the engine's leaf hand-off.

ctc_loss writes the logits' gradient itself when log_probs comes straight from log_softmax
over the classes (and folds the reduction's weight in); the autograd engine lets a leaf keep a
gradient array without a copy when nothing else can reach it. Every fast path is compared
with the plain composition of the backward passes (the switch below turns the fusion off), in
float64 to rounding, and with central differences; the hand-off is attacked with graphs that
would make a leaf's gradient share memory with something else.
"""

import tracemalloc

import numpy as np
import pytest
from helpers.gradcheck import central_difference

import lucid
import lucid.nn.functional.ctc as ctc_module
from lucid._tensor import record
from lucid.nn.functional import ctc_loss, log_softmax

rng = np.random.default_rng(15)
T, N, C, S = 12, 5, 6, 4
# sample 2 cannot fit its target (inf loss), sample 3 has no frames, sample 4 has padded frames
INPUT_LENGTHS = np.array([12, 10, 3, 0, 7])
TARGET_LENGTHS = np.array([4, 3, 3, 0, 2])
TARGETS = np.array([[1, 2, 2, 3], [4, 4, 1, 0], [5, 5, 5, 0], [0, 0, 0, 0], [2, 1, 0, 0]])
LOGITS = rng.standard_normal((T, N, C)) * 2.0


@pytest.fixture
def plain(monkeypatch):
    """Run the test body with the fusion switched off: the reference composition."""
    monkeypatch.setattr(ctc_module, "_fuse_log_softmax", False)


def step(logits, reduction="mean", zero_infinity=False, dim=2, fused=True, extra=None,
         **loss_kwargs):
    """logits.grad after the usual training step (optionally plus extra(log_probs))."""
    switch = ctc_module._fuse_log_softmax
    ctc_module._fuse_log_softmax = fused
    try:
        x = lucid.tensor(logits, requires_grad=True)
        lp = log_softmax(x, dim=dim)
        loss = ctc_loss(lp, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction,
                        zero_infinity=zero_infinity, **loss_kwargs)
        out = loss.sum() if reduction == "none" else loss
        if extra is not None:
            out = out + extra(lp)
        out.backward()
        return loss, x
    finally:
        ctc_module._fuse_log_softmax = switch


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_fused_equals_plain_composition(reduction, zero_infinity):
    loss, x = step(LOGITS, reduction, zero_infinity)
    assert loss.grad_fn.inputs[0] is x  # the fused path was taken: log_softmax is bypassed
    ref_loss, ref_x = step(LOGITS, reduction, zero_infinity, fused=False)
    assert ref_loss.grad_fn.inputs[0] is not ref_x
    np.testing.assert_array_equal(loss.numpy(), ref_loss.numpy())
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-13, atol=1e-15)
    # an impossible sample and frames past the input length get exactly 0, as in the plain path
    assert not x.grad.numpy()[:, 2:4].any() and not x.grad.numpy()[7:, 4].any()


def test_fused_matches_central_differences():
    logits = LOGITS[:6, :2, :4].copy()
    targets, il, tl = [[1, 2], [3, 0]], [6, 4], [2, 1]

    def loss_of(z):
        with lucid.no_grad():
            return ctc_loss(log_softmax(lucid.tensor(z), dim=2), targets, il, tl).item()

    x = lucid.tensor(logits, requires_grad=True)
    loss = ctc_loss(log_softmax(x, dim=2), targets, il, tl)
    loss.backward()
    assert loss.grad_fn is None or loss.grad_fn.backward is None  # freed after the backward
    np.testing.assert_allclose(x.grad.numpy(), central_difference(loss_of, logits),
                               rtol=1e-6, atol=1e-9)


def test_float32_fused_is_close_to_plain():
    loss, x = step(LOGITS.astype(np.float32))
    ref_loss, ref_x = step(LOGITS.astype(np.float32), fused=False)
    assert x.grad.dtype == lucid.float32
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_unbatched_and_strided_logits():
    # a (T, C) input, and logits given batch-first and transposed: neither breaks the fusion
    for fused in (True, False):
        ctc_module._fuse_log_softmax = fused
        try:
            x = lucid.tensor(LOGITS[:, 0], requires_grad=True)
            ctc_loss(log_softmax(x, dim=1), TARGETS[0], 12, 4).backward()
            xb = lucid.tensor(LOGITS.transpose(1, 0, 2).copy(), requires_grad=True)
            ctc_loss(log_softmax(xb.transpose(0, 1), dim=2), TARGETS, INPUT_LENGTHS,
                     TARGET_LENGTHS).backward()
        finally:
            ctc_module._fuse_log_softmax = True
        if fused:
            got = x.grad.numpy(), xb.grad.numpy()
    np.testing.assert_allclose(got[0], x.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got[1], xb.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_other_consumers_of_log_probs_add_up():
    weight = rng.standard_normal((T, N, C))

    def extra(lp):
        return (lp * lucid.tensor(weight)).sum() + lp[3].exp().sum()

    _, x = step(LOGITS, extra=extra)
    _, ref_x = step(LOGITS, extra=extra, fused=False)
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # not normalised, on purpose
def test_log_softmax_over_another_axis_is_not_fused():
    # log_softmax over the batch axis is a valid (if odd) input: the plain chain rule applies
    loss, x = step(LOGITS, dim=1)
    assert loss.grad_fn.inputs[0] is not x
    z = LOGITS[:4, :2, :3].copy()
    targets, il, tl = [[1, 2], [2, 0]], [4, 3], [2, 1]

    def loss_of(v):
        with lucid.no_grad():
            return ctc_loss(log_softmax(lucid.tensor(v), dim=1), targets, il, tl).item()

    x = lucid.tensor(z, requires_grad=True)
    ctc_loss(log_softmax(x, dim=1), targets, il, tl).backward()
    np.testing.assert_allclose(x.grad.numpy(), central_difference(loss_of, z), rtol=1e-6,
                               atol=1e-9)


def test_no_grad():
    x = lucid.tensor(LOGITS, requires_grad=True)
    with lucid.no_grad():
        loss = ctc_loss(log_softmax(x, dim=2), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
    assert not loss.requires_grad and loss.grad_fn is None
    with lucid.no_grad():
        lp = log_softmax(x, dim=2)
    loss = ctc_loss(lp, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
    assert not loss.requires_grad
    ref, _ = step(LOGITS)
    np.testing.assert_array_equal(loss.numpy(), ref.numpy())


@pytest.mark.parametrize("fused", [True, False])
def test_retain_graph_backward_three_times(fused):
    ctc_module._fuse_log_softmax = fused
    try:
        x = lucid.tensor(LOGITS, requires_grad=True)
        loss = ctc_loss(log_softmax(x, dim=2), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
    finally:
        ctc_module._fuse_log_softmax = True
    loss.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    loss.backward(retain_graph=True)
    loss.backward()
    # had the leaf kept the array the graph holds, the later calls would have doubled it
    np.testing.assert_allclose(x.grad.numpy(), 3 * once, rtol=1e-14)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    _, ref_x = step(LOGITS, fused=False)
    np.testing.assert_allclose(once, ref_x.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fused", [True, False])
def test_backward_with_a_gradient_other_than_one(fused):
    # the reference: the plain loss.backward() of one sample at a time, scaled by hand
    one_at_a_time = np.zeros_like(LOGITS)
    for n in range(N):
        x = lucid.tensor(LOGITS[:, n], requires_grad=True)
        ctc_loss(log_softmax(x, dim=1), TARGETS[n], INPUT_LENGTHS[n], TARGET_LENGTHS[n],
                 zero_infinity=True).backward()
        one_at_a_time[:, n] = x.grad.numpy()
    weights = rng.standard_normal(N)
    for reduction, g, scale in (("mean", 2.5, 2.5 / N), ("sum", -0.5, -0.5),
                                ("none", weights, weights[:, None])):
        ctc_module._fuse_log_softmax = fused
        try:
            x = lucid.tensor(LOGITS, requires_grad=True)
            loss = ctc_loss(log_softmax(x, dim=2), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS,
                            reduction=reduction, zero_infinity=True)
        finally:
            ctc_module._fuse_log_softmax = True
        loss.backward(gradient=np.asarray(g))
        np.testing.assert_allclose(x.grad.numpy(), one_at_a_time * scale, rtol=1e-12,
                                   atol=1e-15)


def test_nan_logits_give_the_same_nans():
    logits = LOGITS.copy()
    logits[2, 0, 1] = np.nan   # a needed class of sample 0: its frames go NaN
    logits[9, 4, 3] = np.nan   # a frame past sample 4's length
    _, x = step(logits)
    _, ref_x = step(logits, fused=False)
    np.testing.assert_array_equal(np.isnan(x.grad.numpy()), np.isnan(ref_x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_fused_against_torch():
    torch = pytest.importorskip("torch")
    il, tl = INPUT_LENGTHS[[0, 1, 4]], TARGET_LENGTHS[[0, 1, 4]]
    targets, logits = TARGETS[[0, 1, 4]], LOGITS[:, [0, 1, 4]].copy()
    x = lucid.tensor(logits, requires_grad=True)
    ctc_loss(log_softmax(x, dim=2), targets, il, tl, reduction="sum").backward()
    xt = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.ctc_loss(torch.log_softmax(xt, 2), torch.tensor(targets),
                                 torch.tensor(il), torch.tensor(tl), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_step_peak_memory_is_log_probs_and_one_gradient():
    # logits exist before the step; it may add log_probs and one gradient array, nothing more
    # of that size (numpy reports its allocations to tracemalloc)
    logits = rng.standard_normal((40, 4, 1000)).astype(np.float32)
    size = logits.nbytes
    x = lucid.tensor(logits, requires_grad=True)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        lp = log_softmax(x, dim=2)  # kept alive through the backward, as user code often does
        ctc_loss(lp, [[1, 2, 3]] * 4, [40] * 4, [3] * 4).backward()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert 2 * size <= peak < 2.5 * size
    assert not np.shares_memory(x.grad.numpy(), logits)


# -------------------------------------------------------------- the engine's leaf hand-off
def shares(a, b):
    return np.shares_memory(np.asarray(a.numpy() if hasattr(a, "numpy") else a),
                            np.asarray(b.numpy() if hasattr(b, "numpy") else b))


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # not normalised, on purpose
def test_a_tensor_used_twice():
    x = lucid.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    lp = lucid.tensor(LOGITS, requires_grad=True)
    loss = ctc_loss(lp, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
    (loss + loss).backward()
    single = lucid.tensor(LOGITS, requires_grad=True)
    ctc_loss(single, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS).backward()
    np.testing.assert_allclose(lp.grad.numpy(), 2 * single.grad.numpy(), rtol=1e-15)


def test_two_leaves_given_the_same_array_do_not_share_it():
    a = lucid.tensor([1.0, 2.0], requires_grad=True)
    b = lucid.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # AddBackward hands the same array to both inputs
    assert not shares(a.grad, b.grad)
    a.grad.numpy()[0] = 10.0
    assert b.grad.numpy()[0] == 1.0


def test_a_backward_returning_what_it_saved():
    # a "hook" that keeps the array it gives back, or a view of it
    saved = np.full(3, 2.0)
    kept = []
    for backward in (lambda g: (saved,), lambda g: (saved[:],), lambda g: (saved.reshape(3),),
                     lambda g: (kept.append(g * 2) or kept[-1],)):
        x = lucid.tensor([1.0, 1.0, 1.0], requires_grad=True)
        record(x.numpy() * 1.0, (x,), backward, "Keep").sum().backward()
        assert not shares(x.grad, saved)
        for k in kept:
            assert not shares(x.grad, k)
        x.grad.numpy()[:] = 0.0
        assert (saved == 2.0).all() and all((k == 2.0).all() for k in kept)


def test_a_read_only_or_borrowed_gradient_is_copied():
    x = lucid.tensor([1.0, 1.0, 1.0], requires_grad=True)
    buffer = bytearray(24)
    borrowed = np.frombuffer(buffer, dtype=np.float64)
    y = record(x.numpy() * 1.0, (x,), lambda g: (np.frombuffer(buffer, dtype=np.float64),),
               "Borrow")
    y.sum().backward()
    assert not shares(x.grad, borrowed)
    z = lucid.tensor([1.0, 1.0, 1.0], requires_grad=True)

    def read_only(g):
        out = np.ones(3)
        out.flags.writeable = False
        return (out,)

    record(z.numpy() * 1.0, (z,), read_only, "ReadOnly").sum().backward()
    assert z.grad.numpy().flags.writeable
    record(z.numpy() * 1.0, (z,), read_only, "ReadOnly").sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [2.0, 2.0, 2.0])


def test_user_gradient_is_never_kept():
    x = lucid.tensor(np.ones((2, 3)), requires_grad=True)
    g = np.arange(6.0)
    x.reshape(6).backward(gradient=g)  # the reshape's backward returns a view of g
    assert not shares(x.grad, g)
    w = lucid.tensor(np.ones(6), requires_grad=True)
    w.backward(gradient=g)  # the root is the leaf
    assert not shares(w.grad, g)
    g[:] = -1.0
    assert (x.grad.numpy() >= 0).all() and (w.grad.numpy() >= 0).all()


def test_an_existing_grad_is_accumulated_in_place():
    x = lucid.tensor(LOGITS, requires_grad=True)
    ctc_loss(log_softmax(x, dim=2), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS).backward()
    first = x.grad
    first_array = first.numpy().copy()
    ctc_loss(log_softmax(x, dim=2), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS).backward()
    assert x.grad is first
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_array, rtol=1e-15)


def test_leaf_gradients_share_memory_with_nothing_in_the_graph():
    x = lucid.tensor(LOGITS, requires_grad=True)
    lp = log_softmax(x, dim=2)
    loss = ctc_loss(lp, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
    loss.backward()
    for array in (LOGITS, x.numpy(), lp.numpy()):
        assert not shares(x.grad, array)
    leaf = lucid.tensor(lp.numpy().copy(), requires_grad=True)
    ctc_loss(leaf, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS).backward()
    assert not shares(leaf.grad, leaf)


def test_fused_gradient_does_not_depend_on_the_thread_count():
    # large enough (40 x 6 x 600 entries) for the elementwise passes to use several threads
    logits = rng.standard_normal((40, 6, 600)).astype(np.float32)
    targets = rng.integers(1, 600, size=(6, 8))
    lengths = [40, 33, 40, 8, 20, 0]
    before = lucid.get_num_threads()
    grads = []
    try:
        for n in (1, 2, 3):
            lucid.set_num_threads(n)
            x = lucid.tensor(logits, requires_grad=True)
            ctc_loss(log_softmax(x, dim=2), targets, lengths, [8, 8, 5, 8, 3, 0]).backward()
            grads.append(x.grad.numpy())
    finally:
        lucid.set_num_threads(before)
    for g in grads[1:]:
        np.testing.assert_array_equal(g, grads[0])
