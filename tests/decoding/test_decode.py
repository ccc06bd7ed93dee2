"""Tests of greedy_decode (forced alignment: tests/alignment; the shared cases are in
helpers/decoding.py).

The judges: enumeration of every frame path on tiny cases (the greedy path is the most likely
path of all) and ctc_loss for input validation.
"""

import itertools

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
    time_first,
)

import lucid
from lucid import ctc
from lucid.nn.functional import ctc_loss

# the tests build log-probs time first, as for ctc_loss; results with lists (helpers.decoding)
greedy_decode = time_first(ctc.greedy_decode)


# ------------------------------------------------------------------------------ greedy
def test_greedy_decode_collapses_repeats_and_drops_blanks():
    frames = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = lucid.tensor(one_hot_log_probs(frames, C=4))
    assert greedy_decode(lp, len(frames)) == [1, 1, 2, 3]
    assert greedy_decode(lp, 6) == [1, 1, 2]  # only the first 6 frames
    assert greedy_decode(lp, 0) == []
    assert greedy_decode(lp, len(frames), blank=1) == [0, 0, 2, 0, 3]


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free scores, on purpose
def test_greedy_decode_batch_and_ties():
    frames = np.array([[2, 1], [2, 1], [0, 1], [2, 2]])  # (T, N)
    lp = np.stack([one_hot_log_probs(frames[:, n], C=3) for n in range(2)], axis=1)
    assert greedy_decode(lucid.tensor(lp), [4, 3]) == [[2, 2], [1]]
    uniform = lucid.zeros(5, 2, 3)  # every class ties: the lowest index, the blank, wins
    assert greedy_decode(uniform, [5, 5]) == [[], []]
    assert greedy_decode(uniform, [5, 5], blank=2) == [[0], [0]]


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free scores, on purpose
@pytest.mark.parametrize("seed", range(40))
def test_greedy_decode_is_the_collapsed_most_likely_path(seed):
    lp, _, blank = random_case(np.random.default_rng(seed))
    T, C = lp.shape
    paths = list(itertools.product(range(C), repeat=T))
    scores = [lp[np.arange(T), list(p)].sum() for p in paths]
    best = paths[int(np.argmax(scores))]
    assert greedy_decode(lucid.tensor(lp), T, blank=blank) == collapse(best, blank)






@pytest.mark.parametrize("bad", [b for b in BAD_INPUTS if "targets" not in b
                                 and "target_lengths" not in b], ids=lambda b: ",".join(b))
def test_greedy_decode_rejects_what_ctc_loss_rejects(bad):
    kwargs = {**GOOD, **bad}
    greedy_kwargs = {k: kwargs[k] for k in ("log_probs", "input_lengths") if k in kwargs}
    if "blank" in kwargs:
        greedy_kwargs["blank"] = kwargs["blank"]
    assert error_batch_first(ctc.greedy_decode, **greedy_kwargs) == error_of(ctc_loss, **kwargs)
