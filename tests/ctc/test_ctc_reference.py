"""The test references must be right before they can judge the kernel: check them against each
other, against closed forms, and against finite differences."""

import numpy as np
import pytest
from helpers.ctc_reference import brute_force_ctc, collapse, ctc_batch_reference, numpy_ctc
from helpers.gradcheck import central_difference


def log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def random_case(seed):
    """A tiny random case: free (unnormalised) log-probs and a target that is often repeat-heavy
    and sometimes too long to fit."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 7))
    C = int(rng.integers(2, 5))
    while C**T > 5000:
        T -= 1
    blank = int(rng.integers(0, C))
    labels = [c for c in range(C) if c != blank]
    S = int(rng.integers(0, T + 2))
    if rng.random() < 0.4:  # repeat-heavy: draw from one or two labels only
        labels = labels[:1] if rng.random() < 0.5 else labels[:2]
    target = [int(rng.choice(labels)) for _ in range(S)]
    lp = rng.normal(scale=2.0, size=(T, C))
    return lp, target, blank


def required_frames(target):
    return len(target) + sum(a == b for a, b in zip(target, target[1:]))


def test_collapse():
    assert collapse([0, 1, 1, 0, 1, 2, 2, 0], blank=0) == [1, 1, 2]
    assert collapse([2, 2, 2], blank=2) == []
    assert collapse([], blank=0) == []


@pytest.mark.parametrize("seed", range(300))
def test_numpy_matches_brute_force(seed):
    lp, target, blank = random_case(seed)
    loss_bf, grad_bf = brute_force_ctc(lp, target, blank)
    loss_np, grad_np = numpy_ctc(lp, target, blank)
    feasible = required_frames(target) <= lp.shape[0]
    assert np.isfinite(loss_bf) == feasible
    if feasible:
        np.testing.assert_allclose(loss_np, loss_bf, rtol=1e-12, atol=1e-12)
    else:
        assert loss_np == np.inf
    np.testing.assert_allclose(grad_np, grad_bf, rtol=0, atol=1e-12)


@pytest.mark.parametrize("blank", [0, 2])
def test_closed_forms(blank):
    rng = np.random.default_rng(1)
    lp = rng.normal(size=(5, 4))
    # empty target: every frame is blank
    for ref in (brute_force_ctc, numpy_ctc):
        loss, grad = ref(lp, [], blank)
        np.testing.assert_allclose(loss, -lp[:, blank].sum(), rtol=1e-13)
        expected = np.zeros_like(lp)
        expected[:, blank] = -1.0
        np.testing.assert_allclose(grad, expected, atol=1e-13)
    # a target as long as the input, without repeats: exactly one path
    target = {0: [1, 3, 2, 3, 1], 2: [1, 3, 0, 3, 1]}[blank]
    for ref in (brute_force_ctc, numpy_ctc):
        loss, grad = ref(lp, target, blank)
        np.testing.assert_allclose(loss, -lp[np.arange(5), target].sum(), rtol=1e-13)
        expected = np.zeros_like(lp)
        expected[np.arange(5), target] = -1.0
        np.testing.assert_allclose(grad, expected, atol=1e-13)


def test_infeasible_and_zero_length():
    lp = np.log(np.full((2, 3), 1 / 3))
    for ref in (brute_force_ctc, numpy_ctc):
        loss, grad = ref(lp, [1, 1])  # needs three frames: 1, blank, 1
        assert loss == np.inf and not grad.any()
    assert numpy_ctc(np.zeros((0, 3)), [])[0] == 0.0
    assert numpy_ctc(np.zeros((0, 3)), [1])[0] == np.inf
    assert numpy_ctc(np.zeros((0, 3)), [1])[1].shape == (0, 3)


def test_neg_inf_entries():
    rng = np.random.default_rng(2)
    lp = rng.normal(size=(5, 3))
    lp[1, 0] = lp[3, 2] = -np.inf
    loss_bf, grad_bf = brute_force_ctc(lp, [1, 2])
    loss_np, grad_np = numpy_ctc(lp, [1, 2])
    np.testing.assert_allclose(loss_np, loss_bf, rtol=1e-12)
    np.testing.assert_allclose(grad_np, grad_bf, atol=1e-12)
    assert grad_np[1, 0] == 0.0 and grad_np[3, 2] == 0.0
    # blank impossible everywhere: only the paths 1..1 2..2 remain
    lp[:, 0] = -np.inf
    np.testing.assert_allclose(numpy_ctc(lp, [1, 2])[0], brute_force_ctc(lp, [1, 2])[0], rtol=1e-12)


def test_nan_propagates():
    lp = np.zeros((4, 3))
    lp[2, 1] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(numpy_ctc(lp, [1, 2])[0])


@pytest.mark.parametrize("seed", range(10))
def test_numpy_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(100 + seed)
    T, C = 12, 5
    lp = rng.normal(scale=3.0, size=(T, C))  # free variables, deliberately not normalised
    target = [int(c) for c in rng.integers(1, C, size=int(rng.integers(0, 6)))]
    _, grad = numpy_ctc(lp, target)
    numeric = central_difference(lambda x: numpy_ctc(x, target)[0], lp)
    np.testing.assert_allclose(grad, numeric, atol=1e-7)


@pytest.mark.parametrize("seed", range(10))
def test_logit_gradient_sums_to_zero(seed):
    """Through a log_softmax, the gradient w.r.t. the logits is softmax - gamma: it sums to 0 over
    the classes on each frame (gamma is a distribution per frame), and matches finite differences
    of the composed function."""
    rng = np.random.default_rng(200 + seed)
    T, C = 10, 4
    logits = rng.normal(scale=2.0, size=(T, C))
    target = [int(c) for c in rng.integers(1, C, size=4)]
    lp = log_softmax(logits)
    _, grad_lp = numpy_ctc(lp, target)
    np.testing.assert_allclose(grad_lp.sum(axis=1), -1.0, atol=1e-12)
    grad_logits = grad_lp - np.exp(lp) * grad_lp.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad_logits.sum(axis=1), 0.0, atol=1e-12)
    numeric = central_difference(lambda z: numpy_ctc(log_softmax(z), target)[0], logits)
    np.testing.assert_allclose(grad_logits, numeric, atol=1e-7)
    np.testing.assert_allclose(numeric.sum(axis=1), 0.0, atol=1e-7)


def test_large_logits_are_accurate():
    """Scaled by 1000 the log-probs are far below -700 (probability space underflows); the
    log-space recursion must still agree with enumeration."""
    rng = np.random.default_rng(3)
    lp = log_softmax(1000 * rng.normal(size=(7, 4)))
    assert lp.min() < -700
    for target in ([1, 2, 1], [3, 3], [], [1, 2, 3, 1]):
        loss_bf, grad_bf = brute_force_ctc(lp, target)
        loss_np, grad_np = numpy_ctc(lp, target)
        np.testing.assert_allclose(loss_np, loss_bf, rtol=1e-12)
        np.testing.assert_allclose(grad_np, grad_bf, atol=1e-12)


def test_long_sequence_is_consistent():
    """T = 1000, S = 300: gamma sums to 1 on each frame and the loss is invariant to adding a
    constant to every entry of a frame (each path picks one entry per frame)."""
    rng = np.random.default_rng(4)
    T, C, S = 1000, 20, 300
    lp = log_softmax(rng.normal(size=(T, C)))
    target = rng.integers(1, C, size=S)
    loss, grad = numpy_ctc(lp, target)
    assert np.isfinite(loss) and loss > 0
    np.testing.assert_allclose(grad.sum(axis=1), -1.0, atol=1e-12)
    shift = rng.normal(size=(T, 1))
    shifted_loss, shifted_grad = numpy_ctc(lp + shift, target)
    np.testing.assert_allclose(shifted_loss, loss - shift.sum(), rtol=1e-12)
    np.testing.assert_allclose(shifted_grad, grad, atol=1e-12)


def test_batch_reference():
    rng = np.random.default_rng(5)
    T, N, C = 6, 3, 4
    lp = rng.normal(size=(T, N, C))
    targets = [[1, 2, 99], [3], [2, 2, 1]]  # 99 lies past target_lengths[0] and is never read
    input_lengths, target_lengths = [6, 0, 4], [2, 1, 3]
    losses, grad = ctc_batch_reference(lp, targets, input_lengths, target_lengths)
    for n in range(N):
        L, S = input_lengths[n], target_lengths[n]
        loss, g = numpy_ctc(lp[:L, n], targets[n][:S])
        assert losses[n] == loss
        np.testing.assert_array_equal(grad[:L, n], g)
        assert not grad[L:, n].any()
    assert losses[1] == np.inf
