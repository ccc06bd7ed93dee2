"""Tests of ctc_greedy_decode (forced alignment: test_align.py, which shares these helpers).

The judges: enumeration of every frame path on tiny cases (the greedy path is the most likely
path of all) and ctc_loss for input validation.
"""

import itertools

import numpy as np
import pytest
from ctc_reference import collapse

import lucid
from lucid.nn.functional import ctc_greedy_decode, ctc_loss


# ------------------------------------------------------------------------------ references
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


def one_hot_log_probs(frames, C, p=0.9):
    """log of p on each frame's class and (1 - p) / (C - 1) elsewhere."""
    probs = np.full((len(frames), C), (1 - p) / (C - 1))
    probs[np.arange(len(frames)), frames] = p
    return np.log(probs)


# ------------------------------------------------------------------------------ greedy
def test_greedy_decode_collapses_repeats_and_drops_blanks():
    frames = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = lucid.tensor(one_hot_log_probs(frames, C=4))
    assert ctc_greedy_decode(lp, len(frames)) == [1, 1, 2, 3]
    assert ctc_greedy_decode(lp, 6) == [1, 1, 2]  # only the first 6 frames
    assert ctc_greedy_decode(lp, 0) == []
    assert ctc_greedy_decode(lp, len(frames), blank=1) == [0, 0, 2, 0, 3]


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free scores, on purpose
def test_greedy_decode_batch_and_ties():
    frames = np.array([[2, 1], [2, 1], [0, 1], [2, 2]])  # (T, N)
    lp = np.stack([one_hot_log_probs(frames[:, n], C=3) for n in range(2)], axis=1)
    assert ctc_greedy_decode(lucid.tensor(lp), [4, 3]) == [[2, 2], [1]]
    uniform = lucid.zeros(5, 2, 3)  # every class ties: the lowest index, the blank, wins
    assert ctc_greedy_decode(uniform, [5, 5]) == [[], []]
    assert ctc_greedy_decode(uniform, [5, 5], blank=2) == [[0], [0]]


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free scores, on purpose
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


@pytest.mark.parametrize("bad", [b for b in BAD_INPUTS if "targets" not in b
                                 and "target_lengths" not in b], ids=lambda b: ",".join(b))
def test_greedy_decode_rejects_what_ctc_loss_rejects(bad):
    kwargs = {**GOOD, **bad}
    greedy_kwargs = {k: kwargs[k] for k in ("log_probs", "input_lengths") if k in kwargs}
    if "blank" in kwargs:
        greedy_kwargs["blank"] = kwargs["blank"]
    assert error_of(ctc_greedy_decode, **greedy_kwargs) == error_of(ctc_loss, **kwargs)
