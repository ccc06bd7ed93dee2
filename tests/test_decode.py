"""Tests of ctc_greedy_decode and ctc_forced_align (issue 6).

The judges: enumeration of every frame path on tiny cases (the best path's score is the maximum
over all paths that collapse to the target; the greedy path is the most likely path of all), an
independent numpy Viterbi for larger batches (itself checked against enumeration here),
torchaudio's definition of the score (the sum of the per-frame log-probabilities along the
alignment; torchaudio itself when installed), and ctc_loss for input validation.
"""

import itertools

import numpy as np
import pytest
from ctc_reference import collapse

import lucid
from lucid.nn.functional import ctc_forced_align, ctc_greedy_decode, ctc_loss

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request, monkeypatch):
    monkeypatch.setattr(lucid._threads, "_num_threads", None)  # restored after the test
    lucid.set_num_threads(request.param)
    return request.param


# ------------------------------------------------------------------------------ references
def brute_force_best_path(lp, target, blank):
    """max over frame paths pi with B(pi) = target of sum_t lp[t, pi_t], and the maximisers."""
    T, C = lp.shape
    best, argmax = -np.inf, []
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) != list(target):
            continue
        score = lp[np.arange(T), list(path)].sum()
        if score > best:
            best, argmax = score, [list(path)]
        elif score == best and score > -np.inf:
            argmax.append(list(path))
    return best, argmax


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


def random_case(rng, max_paths=5000):
    """Tiny free log-probs and a target, often repeat-heavy and sometimes too long to fit."""
    T, C = int(rng.integers(1, 7)), int(rng.integers(2, 5))
    while C**T > max_paths:
        T -= 1
    blank = int(rng.integers(0, C))
    labels = [c for c in range(C) if c != blank]
    if rng.random() < 0.4:
        labels = labels[:1] if rng.random() < 0.5 else labels[:2]
    target = [int(rng.choice(labels)) for _ in range(int(rng.integers(0, T + 2)))]
    return rng.normal(scale=2.0, size=(T, C)), target, blank


def required_frames(target):
    return len(target) + sum(a == b for a, b in zip(target, target[1:]))


def path_score(lp, alignment):
    return np.asarray(lp, dtype=np.float64)[np.arange(len(alignment)), alignment].sum()


def check_alignment(alignment, score, lp, target, blank, expected_score):
    """The alignment is a valid path for the target whose score is the returned, optimal one."""
    if expected_score == -np.inf:
        assert score == -np.inf and alignment.shape == (0,)
        return
    assert alignment.dtype == np.int64 and alignment.shape == (lp.shape[0],)
    assert collapse(alignment.tolist(), blank) == list(target)
    np.testing.assert_allclose(score, expected_score, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(path_score(lp, alignment), score, rtol=1e-12, atol=1e-12)


def test_numpy_viterbi_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lp, target, blank = random_case(rng)
        best, _ = brute_force_best_path(lp, target, blank)
        assert numpy_viterbi(lp, target, blank) == pytest.approx(best, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------ forced alignment: tiny
@pytest.mark.parametrize("seed", range(150))
def test_forced_align_matches_brute_force(seed):
    lp, target, blank = random_case(np.random.default_rng(seed))
    best, maximisers = brute_force_best_path(lp, target, blank)
    assert (best > -np.inf) == (required_frames(target) <= lp.shape[0])
    alignment, score = ctc_forced_align(lucid.tensor(lp), target, lp.shape[0], len(target),
                                        blank=blank)
    check_alignment(alignment, score, lp, target, blank, best)
    if best > -np.inf:
        assert alignment.tolist() in maximisers


@pytest.mark.parametrize("dtype", DTYPES)
def test_forced_align_batch_matches_brute_force(dtype, n_threads):
    """A padded batch of tiny cases, each sample with its own lengths and frames past them."""
    rng = np.random.default_rng(1)
    cases = []
    while len(cases) < 12:
        lp, target, blank = random_case(rng, max_paths=3000)
        if blank == 1:  # one blank for the whole batch
            cases.append((lp.astype(dtype).astype(np.float64), target))
    T, C = 7, 4
    batch = rng.normal(size=(T, len(cases), C)).astype(dtype)  # junk past each length
    targets = np.zeros((len(cases), 8), dtype=np.int64)
    for n, (lp, target) in enumerate(cases):
        batch[: lp.shape[0], n, : lp.shape[1]] = lp
        batch[: lp.shape[0], n, lp.shape[1]:] = -np.inf  # classes the case does not have
        targets[n, : len(target)] = target
    il = [lp.shape[0] for lp, _ in cases]
    tl = [len(target) for _, target in cases]
    alignments, scores = ctc_forced_align(lucid.tensor(batch), targets, il, tl, blank=1)
    assert scores.dtype == np.float64 and scores.shape == (len(cases),)
    for n, (lp, target) in enumerate(cases):
        best, _ = brute_force_best_path(lp, target, 1)
        check_alignment(alignments[n], scores[n], lp, target, 1, best)


# ----------------------------------------------------------------- forced alignment: larger
@pytest.mark.parametrize("dtype", DTYPES)
def test_forced_align_larger_batch_matches_numpy_viterbi(dtype, n_threads):
    rng = np.random.default_rng(2)
    T, N, C = 80, 9, 7
    logits = rng.normal(scale=3.0, size=(T, N, C))
    lp = (logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))).astype(dtype)
    il = rng.integers(T // 2, T + 1, size=N)
    il[0] = T
    tl = rng.integers(0, 25, size=N)
    targets = rng.integers(1, C, size=(N, 25))
    targets[1, :6] = 3  # repeats need a blank between them
    alignments, scores = ctc_forced_align(lucid.tensor(lp), targets, il, tl)
    for n in range(N):
        lp_n = lp[: il[n], n].astype(np.float64)
        check_alignment(alignments[n], scores[n], lp_n, targets[n, : tl[n]].tolist(), 0,
                        numpy_viterbi(lp_n, targets[n, : tl[n]], 0))
    assert np.isfinite(scores).sum() >= N // 2  # enough feasible samples to mean something


def test_best_path_never_beats_the_sum_over_all_paths():
    """exp(score) is one term of the sum of path probabilities that ctc_loss takes the log of,
    so score <= -loss, strictly so when other paths have probability too (as here)."""
    rng = np.random.default_rng(7)
    T, N, C = 40, 6, 5
    logits = rng.normal(scale=2.0, size=(T, N, C))
    lp = lucid.tensor(logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)))
    targets, il, tl = rng.integers(1, C, size=(N, 12)), [40, 35, 30, 40, 20, 10], [12] * N
    _, scores = ctc_forced_align(lp, targets, il, tl)
    losses = ctc_loss(lp, targets, il, tl, reduction="none").numpy()
    feasible = np.isfinite(losses)
    assert feasible.any() and (np.isfinite(scores) == feasible).all()
    assert (scores[feasible] < -losses[feasible]).all()


def test_thread_count_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    T, N, C = 50, 16, 6
    lp = lucid.tensor(rng.normal(size=(T, N, C)))
    targets, il, tl = rng.integers(1, C, size=(N, 10)), rng.integers(20, T + 1, N), [10] * N
    monkeypatch.setattr(lucid._threads, "_num_threads", None)
    results = []
    for threads in (1, 2, 3):
        lucid.set_num_threads(threads)
        results.append(ctc_forced_align(lp, targets, il, tl))
    for alignments, scores in results[1:]:
        np.testing.assert_array_equal(scores, results[0][1])
        for a, b in zip(alignments, results[0][0]):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- forced alignment: exact
def one_hot_log_probs(frames, C, p=0.9):
    """log of p on each frame's class and (1 - p) / (C - 1) elsewhere."""
    probs = np.full((len(frames), C), (1 - p) / (C - 1))
    probs[np.arange(len(frames)), frames] = p
    return np.log(probs)


def test_repeated_labels_need_a_blank_between():
    lp = one_hot_log_probs([1, 1, 1], C=3)
    alignment, score = ctc_forced_align(lucid.tensor(lp), [1, 1], 3, 2)
    assert alignment.tolist() == [1, 0, 1]
    assert score == pytest.approx(2 * np.log(0.9) + np.log(0.05), rel=1e-14)
    alignment, score = ctc_forced_align(lucid.tensor(lp[:2]), [1, 1], 2, 2)
    assert score == -np.inf and alignment.shape == (0,)


def test_impossible_emissions_force_the_path():
    """Class 1 can only be emitted at frame 2, class 2 only at frame 4."""
    lp = np.log(np.full((6, 3), 1 / 3))
    lp[[0, 1, 3, 4, 5], 1] = -np.inf
    lp[[0, 1, 2, 3, 5], 2] = -np.inf
    alignment, score = ctc_forced_align(lucid.tensor(lp), [1, 2], 6, 2)
    assert alignment.tolist() == [0, 0, 1, 0, 2, 0]
    assert score == pytest.approx(6 * np.log(1 / 3), rel=1e-14)
    lp[2, 1] = -np.inf  # now no frame can emit class 1
    alignment, score = ctc_forced_align(lucid.tensor(lp), [1, 2], 6, 2)
    assert score == -np.inf and alignment.shape == (0,)


def test_empty_inputs_and_targets():
    lp = lucid.tensor(np.log(np.full((4, 2, 3), 1 / 3)))
    alignments, scores = ctc_forced_align(lp, np.ones((2, 1), dtype=np.int64), [0, 0], [0, 1])
    assert scores.tolist() == [0.0, -np.inf]  # the empty path has probability 1
    assert [a.shape for a in alignments] == [(0,), (0,)]
    alignments, scores = ctc_forced_align(lp, [[1], [2]], [4, 3], [0, 1])
    assert alignments[0].tolist() == [0, 0, 0, 0]  # an empty target: blanks throughout
    np.testing.assert_allclose(scores, [4 * np.log(1 / 3), 3 * np.log(1 / 3)], rtol=1e-14)


def test_an_overlong_target_is_impossible_without_a_dp():
    # A 10**6-label target cannot fit in 1000 frames: -inf at once, and the workspace is sized
    # from the targets that can fit (it used to run a 1000 x 2,000,001-state DP).
    lp = lucid.tensor(np.log(np.full((1000, 2, 5), 0.2)))
    alignments, scores = ctc_forced_align(lp, np.ones((2, 10**6), np.int64), [1000, 1000],
                                          [10**6, 3])
    assert scores[0] == -np.inf and alignments[0].shape == (0,)
    check_alignment(alignments[1], scores[1], lp.numpy()[:, 1], [1, 1, 1], 0,
                    numpy_viterbi(lp.numpy()[:, 1], [1, 1, 1], 0))


def test_frames_past_the_input_length_are_never_read():
    rng = np.random.default_rng(4)
    lp = rng.normal(size=(6, 2, 4))
    alignments, scores = ctc_forced_align(lucid.tensor(lp), [[1, 2], [3, 3]], [6, 4], [2, 2])
    lp[4:, 1] = np.nan
    again, scores_again = ctc_forced_align(lucid.tensor(lp), [[1, 2], [3, 3]], [6, 4], [2, 2])
    np.testing.assert_array_equal(scores_again, scores)
    np.testing.assert_array_equal(again[1], alignments[1])


def test_target_layouts_strides_and_unbatched_input_agree():
    rng = np.random.default_rng(5)
    lp = rng.normal(size=(3, 10, 5))  # (N, T, C): transposed below into a strided view
    padded, tl, il = [[1, 2, 2], [4, 0, 0], [3, 1, 0]], [3, 1, 2], [10, 7, 9]
    view = lucid.tensor(lp).transpose(0, 1)
    expected = [ctc_forced_align(lucid.tensor(lp[n]), padded[n][: tl[n]], il[n], tl[n])
                for n in range(3)]
    for targets in (padded, [1, 2, 2, 4, 3, 1]):
        alignments, scores = ctc_forced_align(view, targets, il, tl)
        for n, (alignment, score) in enumerate(expected):
            assert isinstance(score, float)
            assert scores[n] == score
            np.testing.assert_array_equal(alignments[n], alignment)
            assert alignment.shape == (il[n],)


# ------------------------------------------------------------------------------ torchaudio
def test_score_is_torchaudios_path_score():
    """torchaudio.functional.forced_align returns the per-frame log-probabilities along its
    alignment; the path's score is their sum. Our score is that sum along our alignment, and the
    two alignments, both optimal, have the same score."""
    torchaudio = pytest.importorskip("torchaudio")
    if not hasattr(torchaudio.functional, "forced_align"):
        pytest.skip("this torchaudio has no forced_align")
    import torch

    rng = np.random.default_rng(6)
    for _ in range(20):
        T, C, S = 30, 6, int(rng.integers(1, 10))
        logits = rng.normal(scale=2.0, size=(T, C)).astype(np.float32)
        lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        target = rng.integers(1, C, size=S)
        alignment, score = ctc_forced_align(lucid.tensor(lp), target, T, S)
        _, frame_scores = torchaudio.functional.forced_align(
            torch.tensor(lp)[None], torch.tensor(target, dtype=torch.int32)[None])
        assert score == pytest.approx(frame_scores.double().sum().item(), rel=1e-5)


# ------------------------------------------------------------------------------ greedy
def test_greedy_decode_collapses_repeats_and_drops_blanks():
    frames = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = lucid.tensor(one_hot_log_probs(frames, C=4))
    assert ctc_greedy_decode(lp, len(frames)) == [1, 1, 2, 3]
    assert ctc_greedy_decode(lp, 6) == [1, 1, 2]  # only the first 6 frames
    assert ctc_greedy_decode(lp, 0) == []
    assert ctc_greedy_decode(lp, len(frames), blank=1) == [0, 0, 2, 0, 3]


def test_greedy_decode_batch_and_ties():
    frames = np.array([[2, 1], [2, 1], [0, 1], [2, 2]])  # (T, N)
    lp = np.stack([one_hot_log_probs(frames[:, n], C=3) for n in range(2)], axis=1)
    assert ctc_greedy_decode(lucid.tensor(lp), [4, 3]) == [[2, 2], [1]]
    uniform = lucid.zeros(5, 2, 3)  # every class ties: the lowest index, the blank, wins
    assert ctc_greedy_decode(uniform, [5, 5]) == [[], []]
    assert ctc_greedy_decode(uniform, [5, 5], blank=2) == [[0], [0]]


@pytest.mark.parametrize("seed", range(40))
def test_greedy_decode_is_the_collapsed_most_likely_path(seed):
    lp, _, blank = random_case(np.random.default_rng(seed))
    T, C = lp.shape
    paths = list(itertools.product(range(C), repeat=T))
    scores = [lp[np.arange(T), list(p)].sum() for p in paths]
    best = paths[int(np.argmax(scores))]
    assert ctc_greedy_decode(lucid.tensor(lp), T, blank=blank) == collapse(best, blank)


# -------------------------------------------------------------------------- validation
GOOD = dict(log_probs=lucid.zeros(5, 2, 4), targets=[[1, 2], [3, 0]], input_lengths=[5, 4],
            target_lengths=[2, 1])
BAD_INPUTS = [
    dict(log_probs=np.zeros((5, 2, 4))),
    dict(log_probs=lucid.zeros(5, 2, 4, dtype=lucid.int64)),
    dict(log_probs=lucid.zeros(5, 2, 4, 1)),
    dict(log_probs=lucid.zeros(0, 2, 4)),
    dict(blank=4),
    dict(blank=1.0),
    dict(input_lengths=[5, 6]),
    dict(input_lengths=[5]),
    dict(input_lengths=[5.0, 4.0]),
    dict(input_lengths=[5, -1]),
    dict(target_lengths=[3, 1]),
    dict(target_lengths=None),
    dict(targets=[[1, 4], [3, 0]]),
    dict(targets=[[1, 2], [0, 0]]),
    dict(targets=[[1.0, 2.0], [3.0, 0.0]]),
    dict(targets=[1, 2]),
]


def error_of(fn, **kwargs):
    """The exception type and message, after checking the message opens with fn's name."""
    with pytest.raises((ValueError, TypeError)) as info:
        fn(**kwargs)
    name, message = str(info.value).split(": ", 1)
    assert name == fn.__name__
    return info.type, message


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda b: ",".join(b))
def test_forced_align_rejects_what_ctc_loss_rejects(bad):
    kwargs = {**GOOD, **bad}
    assert error_of(ctc_forced_align, **kwargs) == error_of(ctc_loss, **kwargs)


@pytest.mark.parametrize("bad", [b for b in BAD_INPUTS if "targets" not in b
                                 and "target_lengths" not in b], ids=lambda b: ",".join(b))
def test_greedy_decode_rejects_what_ctc_loss_rejects(bad):
    kwargs = {**GOOD, **bad}
    greedy_kwargs = {k: kwargs[k] for k in ("log_probs", "input_lengths") if k in kwargs}
    if "blank" in kwargs:
        greedy_kwargs["blank"] = kwargs["blank"]
    assert error_of(ctc_greedy_decode, **greedy_kwargs) == error_of(ctc_loss, **kwargs)
