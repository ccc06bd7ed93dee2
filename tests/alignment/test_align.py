"""Tests of forced_align (batched, long inputs in blocks, the NaN rule) and merge_tokens.

The judges: enumeration of every frame path on tiny cases (the best score is the maximum over
all paths that collapse to the target, and the documented tie rule picks one maximiser); an
independent numpy Viterbi for larger batches (itself checked against enumeration); the plain
Viterbi for the blocked one, element for element, on inputs full of ties; ctc_loss for the NaN
and infeasibility rules and for input validation; torchaudio when installed.
"""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers.ctc_reference import collapse
from helpers.decoding import (
    BAD_INPUTS,
    GOOD,
    error_batch_first,
    error_of,
    one_hot_log_probs,
    random_case,
)

import lucid
from lucid.ctc import TokenSpan, merge_tokens
from lucid.ctc import align as align_module
from lucid.nn.functional import ctc_loss

DTYPES = [np.float32, np.float64]
# Most cases align free scores (random_case), on purpose: their LogProbsWarning is not the point.
pytestmark = pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request, monkeypatch):
    monkeypatch.setattr(lucid._threads, "_num_threads", None)  # restored after the test
    lucid.set_num_threads(request.param)
    return request.param


def forced_align(log_probs, *args, **kwargs):
    """lucid.ctc.forced_align on log-probs built time first, (T, N, C), as for ctc_loss (the
    references index them so), with numpy results. Its own layout and Tensor results are
    tested in test_batch_first_layout_and_tensor_results."""
    lp = log_probs if isinstance(log_probs, lucid.Tensor) else lucid.tensor(log_probs)
    labels, scores = lucid.ctc.forced_align(lp.transpose(0, 1) if lp.ndim == 3 else lp,
                                            *args, **kwargs)
    return labels.numpy(), scores.numpy()


def test_batch_first_layout_and_tensor_results():
    """torchaudio's convention: (N, T, C) in, (N, T) Tensors out, a sample per row; the same
    alignment as each sample alone, (T, C) in and (T,) out."""
    rng = np.random.default_rng(20)
    N, T, C = 3, 12, 5
    logits = rng.normal(size=(N, T, C))
    lp = lucid.tensor(logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)))
    targets = lucid.tensor(rng.integers(1, C, size=(N, 4)))
    labels, scores = lucid.ctc.forced_align(lp, targets)
    assert isinstance(labels, lucid.Tensor) and isinstance(scores, lucid.Tensor)
    assert labels.shape == scores.shape == (N, T)
    assert labels.dtype == lucid.int64 and scores.dtype == lucid.float64
    assert labels.grad_fn is None and scores.grad_fn is None
    for n in range(N):
        one_labels, one_scores = lucid.ctc.forced_align(lp[n], targets[n])
        assert one_labels.shape == (T,)
        assert one_labels.tolist() == labels[n].tolist()
        assert one_scores.tolist() == scores[n].tolist()
        assert collapse(labels[n].tolist(), 0) == targets[n].tolist()
    # time-first input (T, N, C) with N input lengths: the hint names the layout
    with pytest.raises(ValueError, match=r"second axis of log_probs.*batch first.*transpose"):
        lucid.ctc.forced_align(lp.transpose(0, 1), targets, [T] * N)


# ------------------------------------------------------------------------------ references
def states_of(path, target, blank):
    """The lattice states (s in l') a frame path that collapses to target walks through."""
    states, consumed = [], 0
    for t, c in enumerate(path):
        if c == blank:
            states.append(2 * consumed)
        elif t > 0 and path[t - 1] == c:
            states.append(states[-1])
        else:
            consumed += 1
            states.append(2 * consumed - 1)
    return states


def brute_force_alignment(lp, target, blank):
    """The best score over frame paths that collapse to target, and the maximiser the documented
    tie rule picks: read from the last frame backwards, end on the last label rather than the
    final blank, then the largest state at each frame (stay rather than advance)."""
    T, C = lp.shape
    best, chosen = -np.inf, None
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) != list(target):
            continue
        score = lp[np.arange(T), list(path)].sum()
        states = states_of(path, target, blank)
        key = [-states[-1]] + states[-2::-1]
        if score > best or (score == best and score > -np.inf and key > chosen[1]):
            best, chosen = score, (list(path), key)
    return best, (chosen[0] if chosen else None)


def numpy_viterbi(lp, target, blank):
    """Best-path score by a max-plus recursion vectorised over the extended target."""
    lp = np.asarray(lp, dtype=np.float64)
    T = lp.shape[0]
    ext = np.full(2 * len(target) + 1, blank)
    ext[1::2] = target
    if T == 0:
        return 0.0 if len(target) == 0 else -np.inf
    can_skip = np.zeros(ext.size, dtype=bool)
    can_skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    delta = np.full(ext.size, -np.inf)
    delta[:2] = lp[0, ext[:2]]
    for t in range(1, T):
        one = np.concatenate([[-np.inf], delta[:-1]])
        two = np.where(can_skip, np.concatenate([[-np.inf, -np.inf], delta[:-2]]), -np.inf)
        delta = np.maximum(np.maximum(delta, one), two) + lp[t, ext]
    return delta[-2:].max()


def tied_case(rng, max_paths=5000):
    """random_case with log-probabilities from a few integers, so equal-score paths abound."""
    lp, target, blank = random_case(rng, max_paths)
    return rng.integers(-2, 1, size=lp.shape).astype(np.float64), target, blank


def check_row(alignment, scores, lp, target, blank, expected):
    """One sample's output rows against its own log-probs (frames of lp) and the best score."""
    F, T = lp.shape[0], alignment.shape[0]
    assert alignment.dtype == np.int64 and scores.shape == (T,)
    if not expected > -np.inf:
        assert (alignment == blank).all()
        assert np.array_equal(scores, np.full(T, expected), equal_nan=True)
        return
    assert collapse(alignment[:F].tolist(), blank) == list(target)
    assert (alignment[F:] == blank).all() and (scores[F:] == 0).all()
    np.testing.assert_array_equal(scores[:F], lp[np.arange(F), alignment[:F]].astype(scores.dtype))
    np.testing.assert_allclose(scores.astype(np.float64).sum(), expected, rtol=1e-5, atol=1e-5)


def test_numpy_viterbi_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lp, target, blank = random_case(rng)
        best, _ = brute_force_alignment(lp, target, blank)
        assert numpy_viterbi(lp, target, blank) == pytest.approx(best, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------ tiny: exact
@pytest.mark.parametrize("seed", range(150))
def test_matches_brute_force_including_the_tie_rule(seed):
    rng = np.random.default_rng(seed)
    lp, target, blank = (tied_case if seed % 2 else random_case)(rng)
    best, chosen = brute_force_alignment(lp, target, blank)
    alignment, scores = forced_align(lucid.tensor(lp), target, blank=blank)
    check_row(alignment, scores, lp, target, blank, best)
    if chosen is not None:
        assert alignment.tolist() == chosen
        assert scores.sum() == best  # float64 sums of the same terms in the same order


@pytest.mark.parametrize("dtype", DTYPES)
def test_padded_batch_matches_brute_force(dtype, n_threads):
    """Each sample with its own lengths and junk past them, one blank for the whole batch."""
    rng = np.random.default_rng(1)
    cases = []
    while len(cases) < 12:
        lp, target, blank = (tied_case if len(cases) % 2 else random_case)(rng, max_paths=3000)
        if blank == 1:
            cases.append((lp.astype(dtype).astype(np.float64), target))
    T, C = 7, 4
    batch = rng.normal(size=(T, len(cases), C)).astype(dtype)
    targets = np.zeros((len(cases), 8), dtype=np.int64)
    for n, (lp, target) in enumerate(cases):
        batch[: lp.shape[0], n, : lp.shape[1]] = lp
        batch[: lp.shape[0], n, lp.shape[1]:] = -np.inf  # classes the case does not have
        targets[n, : len(target)] = target
    il = [lp.shape[0] for lp, _ in cases]
    tl = [len(target) for _, target in cases]
    alignments, scores = forced_align(lucid.tensor(batch), targets, il, tl, blank=1)
    assert alignments.shape == scores.shape == (len(cases), T) and scores.dtype == dtype
    for n, (lp, target) in enumerate(cases):
        best, chosen = brute_force_alignment(lp, target, 1)
        check_row(alignments[n], scores[n], lp, target, 1, best)
        if chosen is not None:
            assert alignments[n, : lp.shape[0]].tolist() == chosen


# ----------------------------------------------------------------------------- larger
@pytest.mark.parametrize("dtype", DTYPES)
def test_larger_batch_matches_numpy_viterbi_and_a_loop(dtype, n_threads):
    rng = np.random.default_rng(2)
    T, N, C = 80, 9, 7
    logits = rng.normal(scale=3.0, size=(T, N, C))
    lp = (logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))).astype(dtype)
    il = rng.integers(T // 2, T + 1, size=N)
    tl = rng.integers(0, 25, size=N)
    targets = rng.integers(1, C, size=(N, 25))
    targets[1, :6] = 3  # repeats need a blank between them
    alignments, scores = forced_align(lucid.tensor(lp), targets, il, tl)
    for n in range(N):
        lp_n = lp[: il[n], n].astype(np.float64)
        check_row(alignments[n], scores[n], lp_n, targets[n, : tl[n]].tolist(), 0,
                  numpy_viterbi(lp_n, targets[n, : tl[n]], 0))
        one, one_scores = forced_align(lucid.tensor(lp[: il[n], n]), targets[n, : tl[n]])
        np.testing.assert_array_equal(one, alignments[n, : il[n]])
        np.testing.assert_array_equal(one_scores, scores[n, : il[n]])
    assert np.isfinite(scores.sum(axis=1)).sum() >= N // 2  # enough feasible samples


def test_best_path_never_beats_the_sum_over_all_paths():
    """exp(score) is one term of the sum that ctc_loss takes the log of: score < -loss here."""
    rng = np.random.default_rng(7)
    T, N, C = 40, 6, 5
    logits = rng.normal(scale=2.0, size=(T, N, C))
    lp = lucid.tensor(logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)))
    targets, il, tl = rng.integers(1, C, size=(N, 12)), [40, 35, 30, 40, 20, 10], [12] * N
    _, scores = forced_align(lp, targets, il, tl)
    totals = scores.sum(axis=1)
    losses = ctc_loss(lp, targets, il, tl, reduction="none").numpy()
    feasible = np.isfinite(losses)
    assert feasible.any() and (np.isfinite(totals) == feasible).all()
    assert (totals[feasible] < -losses[feasible]).all()


def test_thread_count_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    T, N, C = 50, 16, 6
    lp = lucid.tensor(rng.integers(-2, 1, size=(T, N, C)).astype(np.float64))  # ties
    targets, il, tl = rng.integers(1, C, size=(N, 10)), rng.integers(20, T + 1, N), [10] * N
    monkeypatch.setattr(lucid._threads, "_num_threads", None)
    results = []
    for threads in (1, 2, 3):
        lucid.set_num_threads(threads)
        results.append(forced_align(lp, targets, il, tl))
    for alignments, scores in results[1:]:
        np.testing.assert_array_equal(alignments, results[0][0])
        np.testing.assert_array_equal(scores, results[0][1])


# ------------------------------------------------------------------ long inputs, in blocks
def blocked(monkeypatch, block):
    """Make every sample (plain_bytes=None: none) go through the blocked recursion."""
    monkeypatch.setattr(align_module, "_PLAIN_BYTES", 0)
    monkeypatch.setattr(align_module, "_BLOCK", block)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 0])
def test_blocked_is_the_plain_path_on_tied_inputs(block, monkeypatch, n_threads):
    """Integer log-probs (many equal-score paths), all-equal ones (every path ties), -inf, one
    frame per label: the blocked recursion must pick the plain one's path, element for element."""
    rng = np.random.default_rng(10 + block)
    for case in range(60):
        T, N, C = int(rng.integers(1, 30)), int(rng.integers(1, 5)), int(rng.integers(2, 5))
        kind = case % 4
        if kind == 0:
            lp = np.zeros((T, N, C))
        else:
            lp = rng.integers(-2, 1, size=(T, N, C)).astype(np.float64)
        if kind == 2:
            lp[rng.random(lp.shape) < 0.2] = -np.inf
        S = int(rng.integers(0, T + 2)) if kind != 3 else T // 2
        targets = rng.integers(1, C, size=(N, S))
        il = rng.integers(0, T + 1, size=N)
        args = (lucid.tensor(lp), targets, il)
        monkeypatch.setattr(align_module, "_PLAIN_BYTES", 2**40)
        plain = forced_align(*args)
        blocked(monkeypatch, block)
        again = forced_align(*args)
        np.testing.assert_array_equal(again[0], plain[0])
        np.testing.assert_array_equal(again[1], plain[1])


def test_size_decides_between_plain_and_blocked(monkeypatch):
    """With a small limit the long sample of a batch is blocked (at about sqrt(8 frames) per
    block) and the short ones are not; the results are the plain ones either way."""
    rng = np.random.default_rng(11)
    T, N, C = 600, 3, 5
    lp = lucid.tensor(rng.integers(-3, 1, size=(T, N, C)).astype(np.float32))
    targets, il, tl = rng.integers(1, C, size=(N, 150)), [600, 40, 599], [150, 10, 149]
    plain = forced_align(lp, targets, il, tl)
    monkeypatch.setattr(align_module, "_PLAIN_BYTES", 40 * 21)  # sample 1 fits, 0 and 2 do not
    again = forced_align(lp, targets, il, tl)
    np.testing.assert_array_equal(again[0], plain[0])
    np.testing.assert_array_equal(again[1], plain[1])


# The resident high-water mark of the call alone: VmHWM, reset just before it (ru_maxrss would
# not do: a child inherits its parent's, so a large parent hides the child's growth).
MEMORY_PROBE = """
import numpy as np
import lucid
from lucid.ctc import forced_align

def vm(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))

T, S, C = {T}, {S}, 8
rng = np.random.default_rng(0)
x = rng.normal(size=(T, C)).astype(np.float32)
lp = lucid.tensor(x - np.log(np.exp(x).sum(1, keepdims=True)))
target = rng.integers(1, C, size=S)
lucid.set_num_threads(1)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current resident size
before = vm("VmRSS:")
alignment, scores = forced_align(lp, target)
print((vm("VmHWM:") - before) / 1024, float(scores.sum()))
"""


@pytest.fixture
def needs_proc():
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to measure peak memory")


def peak_growth_mb(T, S):
    """Peak resident growth (MiB) of one alignment in a fresh process, and the path's score."""
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE.format(T=T, S=S)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def test_a_long_sample_is_aligned_in_far_less_than_its_back_pointers(needs_proc):
    """20,000 frames against 3,000 labels: 120 MB of back-pointers for the plain recursion,
    about 2 sqrt(8 * 20000) * 6001 = 4.8 MB in blocks (plus the 0.6 MB of outputs)."""
    growth, score = peak_growth_mb(20_000, 3_000)
    assert growth < 15, f"peak memory grew by {growth:.1f} MiB"
    assert np.isfinite(score)


@pytest.mark.slow
def test_an_hour_against_thirty_thousand_labels_fits_in_two_gigabytes(needs_proc):
    """180,000 frames (an hour at 50 frames/s) against 30,000 labels; plain: 10.8 GB."""
    growth, score = peak_growth_mb(180_000, 30_000)
    assert growth < 2048 - 200 and np.isfinite(score)


# ------------------------------------------------------------------------ NaN and -inf rule
def test_nan_is_an_error_where_ctc_loss_is_nan(monkeypatch):
    """Random NaN / +inf / -inf anywhere: an error exactly when ctc_loss gives a sample a NaN
    loss (the same lattice reads the same values); otherwise a row is -inf exactly when the
    loss is +inf, finite otherwise."""
    monkeypatch.setattr(lucid._threads, "_num_threads", None)
    lucid.set_num_threads(1)  # many tiny calls: no thread start-up to wait for on a busy machine
    rng = np.random.default_rng(12)
    seen = set()
    for _ in range(300):
        T, N, C = int(rng.integers(1, 12)), 3, int(rng.integers(2, 5))
        lp = rng.normal(size=(T, N, C))
        if rng.random() < 0.5:
            lp[rng.random(lp.shape) < 0.3] = -np.inf
        for _ in range(int(rng.integers(1, 3))):
            lp[rng.integers(0, T), rng.integers(0, N), rng.integers(0, C)] = rng.choice(
                [np.nan, np.inf])
        S = int(rng.integers(0, T + 1))
        targets, il = rng.integers(1, C, size=(N, S)), rng.integers(0, T + 1, size=N)
        losses = ctc_loss(lucid.tensor(lp), targets, il, [S] * N, reduction="none").numpy()
        if np.isnan(losses).any():
            n = int(np.flatnonzero(np.isnan(losses))[0])
            with pytest.raises(ValueError, match=rf"got log_probs\[{n}, \d+, \d+\] = (nan|inf)"):
                forced_align(lucid.tensor(lp), targets, il)
            seen.add("nan")
            continue
        alignments, scores = forced_align(lucid.tensor(lp), targets, il)
        for n in range(N):
            row = scores[n]
            if losses[n] == np.inf:
                assert (row == -np.inf).all() and (alignments[n] == 0).all()
                seen.add("inf")
            else:
                assert np.isfinite(row).all()
                seen.add("finite")
    assert seen == {"nan", "inf", "finite"}


def test_which_nans_count():
    """Only the emissions the lattice reads count: the target's classes and the blank, at
    frames where a complete path can use them, within the input length."""
    lp = np.log(np.full((4, 1, 4), 0.25))
    target = [[1, 2]]

    def row(where, value=np.nan, il=4, target=target):
        x = lp.copy()
        x[where] = value
        return forced_align(lucid.tensor(x), target, [il])[1][0]

    assert np.isfinite(row((0, 0, 3))).all()  # a class not in the target
    assert np.isfinite(row((0, 0, 2))).all()  # label 2 cannot be reached at frame 0
    assert np.isfinite(row((3, 0, 1), il=3)).all()  # past the input length
    assert (row((0, 0, 1), target=[[1, 1, 1]]) == -np.inf).all()  # no path fits: nothing read
    for where in [(1, 0, 2), (3, 0, 0)]:  # a reachable label, the blank
        with pytest.raises(ValueError, match=rf"log_probs\[0, {where[0]}, {where[2]}\] = nan"):
            row(where)
    with pytest.raises(ValueError, match=r"log_probs\[0, 2, 1\] = inf"):  # +inf as NaN
        row((2, 0, 1), value=np.inf)


# ----------------------------------------------------------------------------- exact cases
def test_repeated_labels_need_a_blank_between():
    lp = one_hot_log_probs([1, 1, 1], C=3)
    alignment, scores = forced_align(lucid.tensor(lp), [1, 1])
    assert alignment.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(scores, lp[[0, 1, 2], [1, 0, 1]])
    alignment, scores = forced_align(lucid.tensor(lp), [1, 1], 2, 2)
    assert (scores == -np.inf).all() and (alignment == 0).all() and scores.shape == (3,)


def test_impossible_emissions_force_the_path():
    """Class 1 can only be emitted at frame 2, class 2 only at frame 4."""
    lp = np.log(np.full((6, 3), 1 / 3))
    lp[[0, 1, 3, 4, 5], 1] = -np.inf
    lp[[0, 1, 2, 3, 5], 2] = -np.inf
    alignment, scores = forced_align(lucid.tensor(lp), [1, 2])
    assert alignment.tolist() == [0, 0, 1, 0, 2, 0]
    np.testing.assert_array_equal(scores, np.full(6, np.log(1 / 3)))
    lp[2, 1] = -np.inf  # now no frame can emit class 1
    alignment, scores = forced_align(lucid.tensor(lp), [1, 2])
    assert (scores == -np.inf).all() and (alignment == 0).all()


def test_empty_inputs_and_targets():
    lp = lucid.tensor(np.log(np.full((4, 2, 3), 1 / 3)))
    alignments, scores = forced_align(lp, np.ones((2, 1), dtype=np.int64), [0, 0], [0, 1])
    assert scores.sum(axis=1).tolist() == [0.0, -np.inf]  # the empty path has probability 1
    assert (alignments == 0).all()
    alignments, scores = forced_align(lp, [[1], [2]], [4, 3], [0, 1])
    assert alignments.tolist() == [[0, 0, 0, 0], [2, 2, 2, 0]]  # ties: end on the label, stay
    np.testing.assert_allclose(scores.sum(axis=1), [4 * np.log(1 / 3), 3 * np.log(1 / 3)])


def test_an_overlong_target_is_impossible_without_a_dp():
    lp = lucid.tensor(np.log(np.full((1000, 2, 5), 0.2)))
    alignments, scores = forced_align(lp, np.ones((2, 10**6), np.int64), [1000, 1000],
                                          [10**6, 3])
    assert (scores[0] == -np.inf).all()
    check_row(alignments[1], scores[1], lp.numpy()[:, 1], [1, 1, 1], 0,
              numpy_viterbi(lp.numpy()[:, 1], [1, 1, 1], 0))


def test_frames_past_the_input_length_are_never_read():
    rng = np.random.default_rng(4)
    lp = rng.normal(size=(6, 2, 4))
    alignments, scores = forced_align(lucid.tensor(lp), [[1, 2], [3, 3]], [6, 4], [2, 2])
    lp[4:, 1] = np.nan
    again, scores_again = forced_align(lucid.tensor(lp), [[1, 2], [3, 3]], [6, 4], [2, 2])
    np.testing.assert_array_equal(again, alignments)
    np.testing.assert_array_equal(scores_again, scores)
    assert np.isfinite(scores).all()


def test_layouts_strides_defaults_and_unbatched_input_agree():
    rng = np.random.default_rng(5)
    lp = rng.normal(size=(3, 10, 5))  # (N, T, C), as torchaudio takes it: transposed below
    padded, tl, il = [[1, 2, 2], [4, 0, 0], [3, 1, 0]], [3, 1, 2], [10, 7, 9]
    view = lucid.tensor(lp).transpose(0, 1)
    before = lp.copy()
    expected = [forced_align(lucid.tensor(lp[n, : il[n]]), padded[n][: tl[n]])
                for n in range(3)]
    for targets in (padded, [1, 2, 2, 4, 3, 1], lucid.tensor(np.array(padded))):
        alignments, scores = forced_align(view, targets, il, tl)
        for n, (alignment, frame_scores) in enumerate(expected):
            np.testing.assert_array_equal(alignments[n, : il[n]], alignment)
            np.testing.assert_array_equal(scores[n, : il[n]], frame_scores)
    full = forced_align(view, [[1, 2, 2], [4, 4, 1], [3, 1, 3]])  # every default
    same = forced_align(view, [[1, 2, 2], [4, 4, 1], [3, 1, 3]], [10] * 3, [3] * 3)
    np.testing.assert_array_equal(full[0], same[0])
    np.testing.assert_array_equal(lp, before)


# ------------------------------------------------------------------------------ merge_tokens
def merge_reference(tokens, scores, blank):
    spans = []
    for t, c in enumerate(tokens):
        if t > 0 and tokens[t - 1] == c:
            spans[-1][2] = t + 1
            spans[-1][3].append(scores[t])
        else:
            spans.append([c, t, t + 1, [scores[t]]])
    return [(c, a, b, np.mean(s)) for c, a, b, s in spans if c != blank]


@pytest.mark.parametrize("seed", range(20))
def test_merge_tokens_matches_a_loop(seed):
    rng = np.random.default_rng(seed)
    T, blank = int(rng.integers(0, 30)), int(rng.integers(0, 3))
    tokens = rng.integers(0, 4, size=T)
    scores = rng.random(T)
    spans = merge_tokens(lucid.tensor(tokens), scores, blank=blank)
    assert all(type(s) is TokenSpan for s in spans)
    got = [(s.token, s.start, s.end, s.score) for s in spans]
    want = merge_reference(tokens.tolist(), scores.tolist(), blank)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    np.testing.assert_allclose([g[3] for g in got], [w[3] for w in want], rtol=1e-14)
    assert [len(s) for s in spans] == [s.end - s.start for s in spans]


def test_spans_of_an_alignment_spell_the_target():
    rng = np.random.default_rng(13)
    lp = np.log(rng.dirichlet(np.ones(5), size=(60, 2)))
    targets = [[1, 1, 2, 3, 3, 3, 4], [2, 4, 0, 0, 0, 0, 0]]
    alignments, scores = forced_align(lucid.tensor(lp), targets, [60, 50], [7, 2])
    for n, length in enumerate([7, 2]):
        spans = merge_tokens(alignments[n], np.exp(scores[n]))
        assert [s.token for s in spans] == targets[n][:length]
        for s in spans:
            assert s.score == pytest.approx(np.exp(lp[s.start:s.end, n, s.token]).mean())
            assert (alignments[n, s.start:s.end] == s.token).all()


def test_merge_tokens_rejects_bad_input():
    for kwargs, kind in [
        (dict(tokens=[[1, 2]], scores=[[0.5, 0.5]]), ValueError),
        (dict(tokens=[1, 2], scores=[0.5]), ValueError),
        (dict(tokens=[1.0, 2.0], scores=[0.5, 0.5]), TypeError),
        (dict(tokens=[1, 2], scores=["a", "b"]), TypeError),
        (dict(tokens=[1, 2], scores=[0.5, 0.5], blank=0.0), TypeError),
    ]:
        with pytest.raises(kind, match="^merge_tokens: "):
            merge_tokens(**kwargs)
    assert merge_tokens([], []) == []


# ------------------------------------------------------------------------------ torchaudio
def test_agrees_with_torchaudio():
    """torchaudio's forced_align (batch of one, (1, T, C)) finds a best path too: the same
    per-frame scores summed, and the same path where no other path is as good."""
    torchaudio = pytest.importorskip("torchaudio")
    if not hasattr(torchaudio.functional, "forced_align"):
        pytest.skip("this torchaudio has no forced_align")
    import torch

    rng = np.random.default_rng(6)
    for _ in range(20):
        T, C, S = 30, 6, int(rng.integers(1, 10))
        logits = rng.normal(scale=2.0, size=(T, C))  # float64: torchaudio sums in the input dtype
        lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        target = rng.integers(1, C, size=S)
        alignment, scores = forced_align(lucid.tensor(lp), target)
        theirs, their_scores = torchaudio.functional.forced_align(
            torch.tensor(lp)[None], torch.tensor(target, dtype=torch.int32)[None])
        assert scores.sum() == pytest.approx(their_scores.sum().item(), rel=1e-12)
        np.testing.assert_array_equal(alignment, theirs[0].numpy())


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("bad", [b for b in BAD_INPUTS if "target_lengths" not in b
                                 or b["target_lengths"] is not None], ids=lambda b: ",".join(b))
def test_rejects_what_ctc_loss_rejects(bad):
    """The same checks, in forced_align's layout: (N, T, C) where ctc_loss takes (T, N, C)."""
    kwargs = {**GOOD, **bad}
    assert error_batch_first(lucid.ctc.forced_align, **kwargs) == error_of(ctc_loss, **kwargs)


def test_default_lengths_need_a_shape_to_come_from():
    lp = lucid.zeros(5, 2, 4)
    with pytest.raises(ValueError, match="^forced_align: target_lengths is required"):
        forced_align(lp, [1, 2, 3])  # concatenated: where does each target end?
    with pytest.raises(TypeError, match="^forced_align: targets is required"):
        forced_align(lp, None)
