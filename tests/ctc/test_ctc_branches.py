"""Every branch of the loss kernel, reached by a fixed input and checked against the reference.

``lucid.nn.functional.ctc._branches`` (private, for these tests) reports, per sample, the branch
that gave the answer: the probability-space fast path; the same with the wide beta (per-entry
exponents) after check (b) failed with the row-scaled one; one of its guards (a)-(c) sending the
sample to log space (guard (b) also when alpha dropped the best alignment); a NaN; no feasible
alignment; and "partial" when gradient rows were already written (then zeroed) before the fall
back.
"""

import numpy as np
import pytest
from helpers.ctc_reference import numpy_ctc

import lucid
from lucid._C import _ctc
from lucid.nn.functional import ctc_loss, log_softmax
from lucid.nn.functional.ctc import _branches


def level(T, C, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, C))
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def one_tight_region():
    """Labels 2-4 impossible for 6 frames, then three frames that must emit them at -599 each:
    alpha loses nothing, but the row-scaled beta's floor raises the states every alignment
    passes through early on by far more than the answer's tolerance; the wide beta keeps them."""
    lp = np.zeros((9, 5))
    lp[:6, 2:] = -np.inf
    lp[6:, 1:] = -599.0
    return lp, [1, 2, 3, 4]


def segment_walk_case():
    """Confident segments wandering along the target: alpha drops the early part of the best
    alignment and beta its late part (the probability-space DP alone is wrong by 197 nats)."""
    best = [0] * 5 + [7] + [3] * 5 + [7] * 6 + [0] * 3
    gap = [507] * 5 + [331] + [585] * 3 + [583] * 2 + [582] * 6 + [458] * 3
    lp = -np.array(gap, dtype=np.float64)[:, None] * np.ones((len(best), 9))
    lp[np.arange(len(best)), best] = 0.0
    return lp, [6, 4, 8, 7, 3, 2, 5, 1]


def wide():
    lp = level(6, 3)
    lp[2, 1] = -700.0  # more than 600 nats below its frame's maximum
    return lp, [1, 2]


def dead_frame():
    lp = level(5, 3)
    lp[2, :] = -np.inf
    return lp, [1]


def subnormal_products():
    """A single alignment (7 labels, two repeats, 9 frames) at -384 to -451 nats per label
    frame: the alpha entries that can still finish are products below 2^-1022 of the last
    row's maximum. Rounded to nearest, such a product may round up, so alpha drops it (the
    row then vanishes: guard (c)) instead of keeping it (which check (b) had to catch)."""
    lp = np.array([[0.0, -273.6, -297.0, -340.6, -549.4]]
                  + [[0.0, -425.0, -451.5, -384.5, -405.0]] * 8)
    return lp, [4, 2, 4, 1, 1, 1, 2]


def nan_frame():
    lp = level(5, 3)
    lp[3, 2] = np.nan
    return lp, [2, 1]


CASES = {
    "fast": (lambda: (level(8, 4), [1, 2, 3]), ["fast"], ["fast"]),
    "guard (a)": (wide, ["guard (a)"], ["guard (a)"]),
    "fast, wide beta": (one_tight_region, ["fast, wide beta"], ["fast"]),
    "guard (c)": (dead_frame, ["guard (c)"], ["guard (c)"]),
    "guard (c) when only subnormal products survive": (
        subnormal_products, ["guard (c)"], ["guard (c)"]),
    "guard (b) after alpha dropped the best alignment": (
        segment_walk_case, ["guard (b)", "partial"], ["guard (b)"]),
    "nan": (nan_frame, ["nan"], ["nan"]),
    "infeasible": (lambda: (level(3, 3), [1, 1, 2]), ["infeasible"], ["infeasible"]),
}


def one_sample(lp, target, grad):
    """_branches on a single (T, C) sample using all its frames."""
    return _branches(lucid.tensor(lp), np.array(target), lp.shape[0], len(target), grad=grad)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_branch_is_reached_and_matches_the_reference(name, dtype):
    make, with_grad, loss_only = CASES[name]
    lp, target = make()
    lp = lp.astype(dtype)
    with np.errstate(invalid="ignore"):  # the "nan" case feeds a NaN to the reference
        want, want_grad = numpy_ctc(lp.astype(np.float64), target)
    for grad, expected in ((True, with_grad), (False, loss_only)):
        loss, g, paths = one_sample(lp, target, grad)
        assert paths == [expected]
        tol = 1e-9 if dtype == np.float64 else 2e-5
        if np.isnan(want):
            assert np.isnan(loss[0])
            if grad:
                assert np.isnan(g).all()
            continue
        assert loss[0] == pytest.approx(want, rel=tol, abs=tol)
        if grad:
            np.testing.assert_allclose(g[:, 0], want_grad,
                                       atol=1e-9 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_branch_with_a_large_vocabulary(name, dtype):
    # the same frames with 1500 impossible classes appended: gradient rows of many cache lines
    # of which the labels touch few. Same branches, the same bits on the original classes,
    # and exactly 0 on the new ones (NaN on a NaN sample's frames)
    make, with_grad, loss_only = CASES[name]
    lp, target = make()
    lp = lp.astype(dtype)
    wide_lp = np.concatenate([lp, np.full((lp.shape[0], 1500), -np.inf, dtype)], axis=1)
    for grad, expected in ((True, with_grad), (False, loss_only)):
        small = one_sample(lp, target, grad)
        loss, g, paths = one_sample(wide_lp, target, grad)
        assert paths == small[2] == [expected]
        np.testing.assert_array_equal(loss, small[0])
        if grad:
            np.testing.assert_array_equal(g[:, :, :lp.shape[1]], small[1])
            pad = g[:, :, lp.shape[1]:]
            assert np.isnan(pad).all() if np.isnan(loss[0]) else not pad.any()


def test_partial_write_leaves_other_samples_and_padding_rows_alone():
    # the fall back after partly written rows, inside a batch with a fast sample beside it
    lp1, t1 = segment_walk_case()
    T = lp1.shape[0]
    lp = np.full((T + 2, 2, 9), -3.0)
    lp[:T, 0] = lp1
    lp[:, 1] = level(T + 2, 9, seed=3)
    targets = np.array([t1, [1, 2, 3, 0, 0, 0, 0, 0]])
    loss, grad, paths = _branches(lucid.tensor(lp), targets, [T, T + 2], [8, 3])
    assert paths == [["guard (b)", "partial"], ["fast"]]
    for n, (length, target) in enumerate([(T, t1), (T + 2, [1, 2, 3])]):
        want, want_grad = numpy_ctc(lp[:length, n], target)
        assert loss[n] == pytest.approx(want, rel=1e-12)
        np.testing.assert_allclose(grad[:length, n], want_grad, atol=1e-9)
        assert not grad[length:, n].any()


def test_old_fast_path_answer_would_have_been_wrong():
    # what the guards protect against: the alignment beta and alpha both lost carries the loss
    lp, target = segment_walk_case()
    want, _ = numpy_ctc(lp, target)
    got = ctc_loss(lucid.tensor(lp), np.array(target), lp.shape[0], len(target))
    assert got.item() == pytest.approx(want, rel=1e-12)
    assert abs(want - 5203.14) > 100  # the value the unguarded fast path accepted


def test_workspace_is_sized_by_the_largest_sample_not_longest_times_widest():
    il = np.array([1000, 10], dtype=np.int64)
    tl = np.array([1, 300], dtype=np.int64)  # long input, short target; short input, wide one
    got = _ctc.workspace_bytes(il, tl)
    cells = max(1000 * (2 * 1 + 5), 10 * (2 * 300 + 5))
    assert got < 3 * cells * 8 + 40 * (2 * 300 + 5) + 24 * 1000 + 64
    assert got < 3 * 1000 * (2 * 300 + 5) * 8 / 10  # what longest x widest would take
    # samples whose target cannot fit take no workspace at all
    assert _ctc.workspace_bytes(np.array([5], dtype=np.int64), np.array([9], dtype=np.int64)) \
        < 1024


def test_partial_write_fallback_through_log_softmax():
    # the same fall back when the kernel writes the logits' gradient (log_softmax fused in)
    z, target = segment_walk_case()
    x = lucid.tensor(z, requires_grad=True)
    loss = ctc_loss(log_softmax(x, dim=1), np.array(target), z.shape[0], len(target))
    loss.backward()
    lp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - \
        z.max(1, keepdims=True)
    want, g = numpy_ctc(lp, target)
    assert _branches(log_softmax(x, dim=1), np.array(target), z.shape[0], len(target))[2] \
        == [["guard (b)", "partial"]]
    assert loss.item() == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), g - np.exp(lp) * g.sum(1, keepdims=True),
                               atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beta_on_long_peaky_frames_matches_the_reference(seed):
    # randn * 15 logits over 600 frames: the best prefix and suffix of some frame are too far
    # apart for the row-scaled beta's floor, and the wide beta is accepted instead of log space
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((600, 64)) * 15
    lp = z - z.max(1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(1, keepdims=True))
    target = rng.integers(1, 64, 100)
    want, want_grad = numpy_ctc(lp, list(target))
    loss, g, paths = _branches(lucid.tensor(lp), target, 600, 100)
    assert paths == [["fast, wide beta"]]
    assert loss[0] == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(g[:, 0], want_grad, atol=1e-9)
    loss, _, _ = _branches(lucid.tensor(lp), target, 600, 100, grad=False)
    assert loss[0] == pytest.approx(want, rel=1e-12)
