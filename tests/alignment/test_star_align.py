"""forced_align with a wildcard (star_penalty) and skips (skip_penalty), and merge_tokens.

The judges: enumeration of every frame-level labelling over the classes and the wildcard on tiny
cases (the best score, and the returned path among its maximisers); an explicit-graph Viterbi
(every skip arc written out) for larger targets, itself checked against enumeration; the
stored outputs of the code before the wildcard and skips existed, for None; the unblocked
recursion for the blocked one, element for element, on inputs full of ties.
"""

import numpy as np
import pytest
from helpers import plain_outputs
from helpers.star_reference import (
    STAR,
    brute_force_best,
    collapse,
    graph_viterbi,
    is_subsequence,
)

import lucid
from lucid.ctc import TokenSpan, forced_align, merge_tokens
from lucid.ctc import align as align_module

pytestmark = pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")
PENALTIES = [(-1.0, None), (None, -1.5), (-0.5, -2.0), (-3.0, -0.25)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request, monkeypatch):
    monkeypatch.setattr(lucid._threads, "_num_threads", None)  # restored after the test
    lucid.set_num_threads(request.param)
    return request.param


def align(lp, target, star=None, skip=None, dtype=np.float64):
    """forced_align of one (T, C) sample, as numpy."""
    labels, scores = forced_align(lucid.tensor(np.asarray(lp, dtype=dtype)),
                                  lucid.tensor(np.asarray(target, dtype=np.int64)),
                                  star_penalty=star, skip_penalty=skip)
    return labels.numpy(), scores.numpy().astype(np.float64)


def path_score(labels, scores, target, skip):
    """The path's score from forced_align's results: its frame scores plus the skips."""
    left_out = len(target) - len(collapse(labels.tolist()))
    return scores.sum() + (skip * left_out if left_out else 0.0)


def tiny_case(rng):
    T, C, S = int(rng.integers(1, 7)), int(rng.integers(2, 5)), int(rng.integers(0, 4))
    while (C + 1) ** T > 8000:
        T -= 1
    lp = rng.normal(scale=2.0, size=(T, C))
    if rng.integers(0, 2):  # normalised half of the time: the wildcard then costs its penalty
        lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    return lp, rng.integers(1, C, size=S)


# ------------------------------------------------------------------------------ brute force
@pytest.mark.parametrize("star, skip", PENALTIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_best_path_against_enumeration(star, skip, dtype):
    rng = np.random.default_rng([7, int(-10 * (star or 0)), int(-10 * (skip or 0))])
    for _ in range(60):
        lp, target = tiny_case(rng)
        lp = lp.astype(dtype).astype(np.float64)
        best, maximisers = brute_force_best(lp, target, 0, star, skip)
        labels, scores = align(lp, target, star, skip, dtype)
        if best == -np.inf:
            assert (labels == 0).all() and (scores == -np.inf).all()
            continue
        assert labels.tolist() in maximisers
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(path_score(labels, scores, target, skip), best, rtol=tol,
                                   atol=tol)
        for t, k in enumerate(labels):  # each frame's score is what its symbol scores
            want = star if k == STAR else lp[t, k]
            np.testing.assert_allclose(scores[t], want, rtol=tol, atol=tol)


@pytest.mark.parametrize("star, skip", PENALTIES)
def test_explicit_graph_agrees_with_enumeration(star, skip):
    rng = np.random.default_rng(11)
    for _ in range(40):
        lp, target = tiny_case(rng)
        best, _ = brute_force_best(lp, target, 0, star, skip)
        assert graph_viterbi(lp, target, 0, star, skip) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("star, skip", PENALTIES)
def test_longer_targets_against_the_explicit_graph(star, skip, n_threads):
    # skips over several labels, repeats, labels of few classes: every arc of the scan
    rng = np.random.default_rng(5)
    for _ in range(25):
        T, C, S = int(rng.integers(1, 30)), int(rng.integers(2, 6)), int(rng.integers(0, 12))
        lp = rng.normal(scale=3.0, size=(T, C))
        target = rng.integers(1, C, size=S)
        labels, scores = align(lp, target, star, skip)
        want = graph_viterbi(lp, target, 0, star, skip)
        if want == -np.inf:
            assert (scores == -np.inf).all()
            continue
        assert path_score(labels, scores, target, skip) == pytest.approx(want, abs=1e-9)
        kept = collapse(labels.tolist())
        assert kept == target.tolist() if skip is None else is_subsequence(kept, target.tolist())


# ------------------------------------------------------------------------------ None: unchanged
def test_none_is_the_stored_plain_alignment():
    def none_penalties(*args):
        return plain_outputs.plain_forced_align(*args, star_penalty=None, skip_penalty=None)

    for i, args, stored, values in plain_outputs.stored_cases():
        labels, scores = plain_outputs.align_outputs(*args, forced_align=none_penalties)
        digests = plain_outputs.stored_digests(stored, "align")
        if digests is None:  # a build without stored outputs: the path scores, to rounding
            np.testing.assert_allclose(scores.astype(np.float64).sum(-1), values["scores"],
                                       rtol=1e-12)
        else:
            assert plain_outputs.digest(labels, scores) == digests[i], f"case {i}"
    if digests is None:
        pytest.skip(f"no stored outputs of the {plain_outputs.lucid_dispatch()} kernels: "
                    f"compared to rounding only")


# ------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("star, skip", PENALTIES)
def test_blocked_is_the_plain_recursion(star, skip, monkeypatch, n_threads):
    # integer log-probabilities: ties everywhere, so the tie rule must be the same in both
    rng = np.random.default_rng(3)
    N, T, C = 6, 70, 4
    lp = lucid.tensor(rng.integers(-3, 1, size=(N, T, C)).astype(np.float64))
    tl = rng.integers(0, 30, size=N)
    targets = rng.integers(1, 3, size=(N, 30))
    il = rng.integers(0, T + 1, size=N)
    whole = forced_align(lp, targets, il, tl, star_penalty=star, skip_penalty=skip)
    monkeypatch.setattr(align_module, "_PLAIN_BYTES", 0)
    for block in (0, 1, 9):
        monkeypatch.setattr(align_module, "_BLOCK", block)
        blocked = forced_align(lp, targets, il, tl, star_penalty=star, skip_penalty=skip)
        assert blocked[0].tolist() == whole[0].tolist()
        assert blocked[1].tolist() == whole[1].tolist()


@pytest.mark.parametrize("star, skip", PENALTIES)
def test_batch_is_each_sample_alone(star, skip):
    rng = np.random.default_rng(8)
    N, T, C = 5, 25, 5
    lp = lucid.tensor(rng.normal(size=(N, T, C)))
    targets = rng.integers(1, C, size=(N, 8))
    tl = rng.integers(0, 9, size=N)
    labels, scores = forced_align(lp, targets, None, tl, star_penalty=star, skip_penalty=skip)
    for n in range(N):
        one = forced_align(lp[n], targets[n, : tl[n]], star_penalty=star, skip_penalty=skip)
        assert one[0].tolist() == labels[n].tolist() and one[1].tolist() == scores[n].tolist()


def test_very_negative_penalties_give_the_plain_alignment():
    rng = np.random.default_rng(4)
    for _ in range(30):
        T, C = int(rng.integers(5, 40)), int(rng.integers(3, 8))
        lp = rng.normal(scale=2.0, size=(T, C))
        lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
        target = rng.integers(1, C, size=int(rng.integers(1, T // 2 + 1)))
        plain = align(lp, target)
        if not np.isfinite(plain[1].sum()):
            continue
        for star, skip in [(-1e6, None), (None, -1e6), (-1e6, -1e6)]:
            got = align(lp, target, star, skip)
            assert got[0].tolist() == plain[0].tolist()
            assert got[1].tolist() == plain[1].tolist()


def test_the_wildcard_takes_untranscribed_frames():
    # frames say 1 2 3 4 5, the transcript only 1 5: the wildcard takes 2 3 4 and nothing else
    frames = [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0]
    lp = np.log(0.9 * np.eye(6)[frames] + 0.02)
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    labels, scores = align(lp, [1, 5], star=-1.0)
    assert labels.tolist() == [0, 1, 0, -1, 0, -1, 0, -1, 0, 5, 0]
    assert scores[3] == -1.0  # the penalty
    spans = merge_tokens(labels, np.exp(scores))
    assert [(s.token, s.start, s.end) for s in spans] == [(1, 1, 2), (5, 9, 10)]


def test_skips_leave_out_unspoken_labels():
    # frames say 1 3, the transcript 1 2 3: without skips 2 must take a frame somewhere
    frames = [0, 1, 1, 0, 0, 3, 3, 0]
    lp = np.log(0.97 * np.eye(4)[frames] + 0.01)
    labels, scores = align(lp, [1, 2, 3], skip=-2.0)
    assert labels.tolist() == frames
    assert path_score(labels, scores, [1, 2, 3], -2.0) == pytest.approx(
        8 * np.log(0.98) - 2.0)
    plain, _ = align(lp, [1, 2, 3])
    assert 2 in plain.tolist()


def test_skips_make_short_inputs_alignable():
    lp = np.log(np.full((2, 3), 1 / 3))
    assert (align(lp, [1, 2, 1])[1] == -np.inf).all()
    labels, scores = align(lp, [1, 2, 1], skip=-1.0)
    assert path_score(labels, scores, [1, 2, 1], -1.0) == pytest.approx(2 * np.log(1 / 3) - 1)
    # no frames at all: every label left out
    labels, scores = forced_align(lucid.tensor(np.zeros((1, 4, 3))), [[1, 2]], [0], [2],
                                  skip_penalty=-0.5)
    assert scores.tolist() == [[0.0] * 4]


def test_a_wildcard_separates_repeats():
    # "1 * 1" aligns the target [1, 1] without a blank between
    lp = np.log(np.array([[0.05, 0.9, 0.05], [0.05, 0.05, 0.9], [0.05, 0.9, 0.05]]))
    labels, _ = align(lp, [1, 1], star=-0.01)
    assert labels.tolist() == [1, -1, 1]


# ------------------------------------------------------------------------------ input rules
@pytest.mark.parametrize("name", ["star_penalty", "skip_penalty"])
@pytest.mark.parametrize("value, kind", [(0.5, ValueError), (float("nan"), ValueError),
                                         (-float("inf"), ValueError), ("-1", TypeError),
                                         (True, TypeError), ([-1.0], TypeError)])
def test_bad_penalties_are_named(name, value, kind):
    lp = lucid.tensor(np.log(np.full((4, 3), 1 / 3)))
    with pytest.raises(kind, match=f"forced_align: {name} must"):
        forced_align(lp, [1, 2], **{name: value})


def test_penalties_are_keyword_only():
    lp = lucid.tensor(np.log(np.full((4, 3), 1 / 3)))
    with pytest.raises(TypeError):
        forced_align(lp, [1, 2], 4, 2, 0, -1.0)
    # numpy numbers, 0 and 0-d tensors are fine
    for value in (np.float32(-1), 0, lucid.tensor(-2.0)):
        forced_align(lp, [1, 2], star_penalty=value, skip_penalty=value)


def test_the_wildcard_reads_no_class():
    lp = np.log(np.full((4, 4), 0.25))
    lp[2, 3] = np.nan  # a class outside the target: not read, with or without the wildcard
    for star, skip in PENALTIES:
        assert np.isfinite(path_score(*align(lp, [1, 2], star, skip), [1, 2], skip))
    lp[1, 0] = np.nan  # the blank is read
    for star, skip in PENALTIES:
        with pytest.raises(ValueError, match=r"log_probs\[1, 0\] = nan"):
            align(lp, [1, 2], star, skip)
    # unnormalised scores: the wildcard still scores its penalty alone (a tie: end on l_S)
    labels, scores = align(np.full((3, 3), -50.0), [1], star=-2.0)
    assert labels.tolist() == [-1, -1, 1] and scores.tolist() == [-2.0, -2.0, -50.0]


def test_merge_tokens_ignores_wildcard_frames():
    spans = merge_tokens([-1, 3, 3, -1, -1, 3, 0, 5, -1], [0.5] * 9)
    assert spans == [TokenSpan(3, 1, 3, 0.5), TokenSpan(3, 5, 6, 0.5), TokenSpan(5, 7, 8, 0.5)]
