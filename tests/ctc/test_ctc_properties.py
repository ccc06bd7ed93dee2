"""Property tests of ctc_loss: hypothesis against the independent numpy reference.

Random batches: T, N, C, blank, targets (repeat-heavy ones too), input lengths from 0 to T
(so infeasible samples occur), logits from gentle to peaky (x1000, far below the
probability-space range), normalised or free log-probabilities, and -inf entries.

Profiles: "ci" (the default: 100 examples per test) and "long" (3000), chosen with the
environment variable HYPOTHESIS_PROFILE, e.g. ``HYPOTHESIS_PROFILE=long pytest
tests/ctc/test_ctc_properties.py``. The settings are applied per test, so other test files keep
their own.
"""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from helpers.ctc_reference import ctc_batch_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lucid
from lucid.nn.functional import ctc_loss, log_softmax

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# Free log-probabilities are among the inputs on purpose: their LogProbsWarning is not the point.
pytestmark = pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}
# The documented accuracy: float64 loss within 1e-9 relative and gradient within 1e-9 of
# the reference;
# float32 loss within 2e-5 relative of float64 on the same rounded inputs. The float32
# gradient bound is the main suite's: gamma lies in [0, 1]; 1e-5 is ~100 float32 ulps at 1.0.
LOSS_RTOL = {np.float32: 2e-5, np.float64: 1e-9}
GRAD_ATOL = {np.float32: 1e-5, np.float64: 1e-9}
LUCID = {np.float32: lucid.float32, np.float64: lucid.float64}


@st.composite
def batches(draw, normalised=None, neg_inf=True):
    T, N, C = draw(st.integers(1, 12)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    blank = draw(st.integers(0, C - 1))
    pool = [c for c in range(C) if c != blank]
    if pool and draw(st.booleans()):  # repeat-heavy: one or two labels only
        pool = pool[: draw(st.integers(1, 2))]
    targets = [draw(st.lists(st.sampled_from(pool), max_size=8)) if pool else []
               for _ in range(N)]
    input_lengths = [draw(st.integers(0, T)) for _ in range(N)]
    scale = draw(st.sampled_from([1.0, 5.0, 50.0, 1000.0]))
    logits = draw(arrays(np.float64, (T, N, C), elements=st.floats(-1, 1))) * scale
    if normalised is None:
        normalised = draw(st.booleans())
    shifted = logits - logits.max(axis=2, keepdims=True)
    lp = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True)) if normalised else logits
    if neg_inf:
        cells = draw(st.lists(st.tuples(st.integers(0, T - 1), st.integers(0, N - 1),
                                        st.integers(0, C - 1)), max_size=3))
        for t, n, c in cells:
            lp[t, n, c] = -np.inf
    return SimpleNamespace(T=T, N=N, C=C, blank=blank, targets=targets, logits=logits, lp=lp,
                           input_lengths=input_lengths,
                           target_lengths=[len(t) for t in targets])


def padded(batch, fill=-1):
    width = max(batch.target_lengths + [1])
    out = np.full((batch.N, width), fill, dtype=np.int64)
    for n, target in enumerate(batch.targets):
        out[n, : len(target)] = target
    return out


def concatenated(batch):
    return np.array([c for target in batch.targets for c in target], dtype=np.int64)


def run(batch, dtype=np.float64, targets=None, lp=None):
    """Per-sample losses and d(sum of losses)/d log_probs, as float64 numpy arrays."""
    lp = batch.lp if lp is None else lp
    leaf = lucid.tensor(lp, dtype=LUCID[dtype], requires_grad=True)
    out = ctc_loss(leaf, padded(batch) if targets is None else targets, batch.input_lengths,
                   batch.target_lengths, blank=batch.blank, reduction="none")
    out.backward(np.ones(batch.N))
    return out.numpy().astype(np.float64), leaf.grad.numpy().astype(np.float64)


def loss_slack(batch):
    """Rounding allowance for a loss: each of the two computations (ours, the reference) sums
    up to T per-frame terms of magnitude at most T * max|lp| (alpha's shifts), so each may be
    off by T * eps of that."""
    finite = np.abs(batch.lp[np.isfinite(batch.lp)])
    return 2 * batch.T**2 * EPS[np.float64] * (finite.max() if finite.size else 0.0)


def assert_losses_close(got, want, rtol, slack):
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=slack)


# ----------------------------------------------------------------------------- the reference
@PROFILE
@given(batches())
def test_float64_matches_the_reference(batch):
    ref_loss, ref_grad = ctc_batch_reference(batch.lp, batch.targets, batch.input_lengths,
                                             batch.target_lengths, batch.blank)
    losses, grad = run(batch)
    assert_losses_close(losses, ref_loss, LOSS_RTOL[np.float64], loss_slack(batch))
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=GRAD_ATOL[np.float64])


@PROFILE
@given(batches())
def test_float32_agrees_with_float64_on_the_same_inputs(batch):
    rounded = batch.lp.astype(np.float32).astype(np.float64)
    loss64, grad64 = run(batch, np.float64, lp=rounded)
    loss32, grad32 = run(batch, np.float32, lp=rounded)
    assert_losses_close(loss32, loss64, LOSS_RTOL[np.float32], loss_slack(batch))
    np.testing.assert_allclose(grad32, grad64, rtol=0, atol=GRAD_ATOL[np.float32])


# ----------------------------------------------------------------------------- invariants
@PROFILE
@given(batches(normalised=True, neg_inf=False), st.sampled_from([np.float32, np.float64]))
def test_loss_is_nonnegative_for_normalised_inputs(batch, dtype):
    """p <= prod_t sum_c exp(lp[t, c]) <= (1 + C eps)^T once the rows are rounded to dtype,
    so -ln p >= -T C eps."""
    losses, _ = run(batch, dtype)
    assert (losses >= -batch.T * batch.C * EPS[dtype]).all(), losses


@PROFILE
@given(batches(normalised=True, neg_inf=False))
def test_gradient_sums_over_classes_on_valid_frames(batch):
    """On each valid frame of a feasible sample the posteriors over classes sum to 1, so the
    exact gradient sums to -1, and through log_softmax the logit gradient sums to 0. Each of
    the C terms may be off by the documented 1e-9."""
    losses, grad = run(batch)
    logits = lucid.tensor(batch.logits, dtype=lucid.float64, requires_grad=True)
    ctc_loss(log_softmax(logits, dim=2), padded(batch), batch.input_lengths,
             batch.target_lengths, blank=batch.blank, reduction="sum",
             zero_infinity=True).backward()
    logit_grad = logits.grad.numpy()
    tol = batch.C * GRAD_ATOL[np.float64]
    for n, length in enumerate(batch.input_lengths):
        if np.isfinite(losses[n]):
            np.testing.assert_allclose(grad[:length, n].sum(axis=1), -1.0, rtol=0, atol=tol)
            np.testing.assert_allclose(logit_grad[:length, n].sum(axis=1), 0.0, atol=tol)
        else:
            assert not logit_grad[:, n].any()
        assert not grad[length:, n].any() and not logit_grad[length:, n].any()


@PROFILE
@given(batches(), st.randoms(use_true_random=False))
def test_permuting_the_batch_permutes_the_results(batch, rnd):
    """Each sample runs the same code whatever its place: the results permute bit for bit."""
    perm = list(range(batch.N))
    rnd.shuffle(perm)
    shuffled = SimpleNamespace(**vars(batch))
    shuffled.lp = batch.lp[:, perm]
    shuffled.targets = [batch.targets[i] for i in perm]
    shuffled.input_lengths = [batch.input_lengths[i] for i in perm]
    shuffled.target_lengths = [batch.target_lengths[i] for i in perm]
    losses, grad = run(batch)
    p_losses, p_grad = run(shuffled)
    np.testing.assert_array_equal(p_losses, losses[perm])
    np.testing.assert_array_equal(p_grad, grad[:, perm])


@PROFILE
@given(batches(), st.integers(-(2**63), 2**63 - 1))
def test_padded_and_concatenated_agree(batch, fill):
    """Both layouts, whatever the padding holds, give bit-identical results."""
    want = run(batch, targets=concatenated(batch))
    got = run(batch, targets=padded(batch, fill))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@PROFILE
@given(batches(), st.sampled_from([np.float32, np.float64]))
def test_thread_counts_are_bit_identical(batch, dtype):
    old, results = lucid.get_num_threads(), []
    try:
        for threads in (1, 2):
            lucid.set_num_threads(threads)
            results.append(run(batch, dtype))
    finally:
        lucid.set_num_threads(old)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_profiles_are_registered():
    """The long profile exists and is larger than the default one."""
    assert settings.get_profile("long").max_examples > settings.get_profile("ci").max_examples
