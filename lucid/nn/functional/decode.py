"""Reading a CTC model's output: greedy (best-path) decoding and forced alignment.

Both take ``log_probs`` and lengths exactly as :func:`~lucid.nn.functional.ctc_loss` does and
check them with the same code. Decoding is not differentiable: results are plain numpy/Python.
The Viterbi recursion behind the alignment is in lucid/_C/_ctc_align.pyx.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid import _threads
from lucid._C import _ctc_align
from lucid._tensor import Tensor
from lucid.nn.functional._ctc_checks import (
    _check_blank,
    _check_input_lengths_fit,
    _check_lengths,
    _check_log_probs,
    _flatten_targets,
)


def ctc_greedy_decode(
    log_probs: Tensor, input_lengths: Any, blank: int = 0
) -> list[list[int]] | list[int]:
    """Best-path decoding: the most likely class at each frame, repeats merged, blanks dropped.

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (T, N, C) or (T, C)
        Per-frame log-probabilities (or any scores: only their argmax matters).
    input_lengths : Tensor, array, list or tuple of ints, shape (N,)
        Frames of each sample to read, each in [0, T]. An int or 0-d for unbatched input.
    blank : int, default 0
        Index of the blank class.

    Returns
    -------
    list of list of int
        One label sequence per sample; a single list for unbatched input. Ties between
        classes go to the lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> import lucid
    >>> from lucid.nn.functional import ctc_greedy_decode
    >>> frames = [0, 1, 1, 0, 1, 2, 2, 0]  # the argmax class of each frame
    >>> log_probs = lucid.tensor(0.9 * np.eye(3)[frames] + 0.05).log()
    >>> ctc_greedy_decode(log_probs, input_lengths=8)
    [1, 1, 2]
    """
    fn = "ctc_greedy_decode"
    lp, unbatched = _check_log_probs(log_probs, fn)
    T, N, C = lp.shape
    blank = _check_blank(blank, C, fn)
    il = _check_lengths(input_lengths, "input_lengths", N, unbatched, fn)
    _check_input_lengths_fit(il, T, fn)
    best = lp.argmax(axis=2)  # (T, N)
    decoded = []
    for n in range(N):
        path = best[: il[n], n]
        starts_run = np.ones(path.shape, dtype=bool)
        starts_run[1:] = path[1:] != path[:-1]
        decoded.append(path[starts_run & (path != blank)].tolist())
    return decoded[0] if unbatched else decoded


def ctc_forced_align(
    log_probs: Tensor,
    targets: Any,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray | float]:
    """The most likely frame-level alignment of each target, and its log-probability.

    Among all paths that collapse to the target (repeats merged, blanks dropped), the one
    with the largest sum of per-frame log-probabilities, found by the Viterbi recursion over
    the CTC lattice (Graves et al., 2006, with max for sum).

    Parameters
    ----------
    log_probs, targets, input_lengths, target_lengths, blank
        As for :func:`~lucid.nn.functional.ctc_loss`, checked by the same code, so the same
        inputs are accepted and the same errors raised (under this function's name).

    Returns
    -------
    alignments : list of numpy int64 arrays
        For sample n, an array of length ``input_lengths[n]``: the class (a target label or
        ``blank``) the best path emits at each frame. Empty when the sample has no valid path.
        A single array for unbatched input.
    scores : numpy float64 array, shape (N,)
        ``sum_t log_probs[t, n, alignments[n][t]]``, the best path's log-probability (what
        torchaudio's ``forced_align`` returns per frame, summed). ``-inf`` when no path is
        valid: the target needs more frames than there are (one per label, plus one blank
        between equal neighbours) or every path crosses a ``-inf`` emission. A float for
        unbatched input.

    Notes
    -----
    Ties between paths of equal score go to the one that stays longest in each state. The
    recursion runs in double precision on ``lucid.get_num_threads()`` threads; results do not
    depend on the thread count.

    Examples
    --------
    >>> import numpy as np
    >>> import lucid
    >>> from lucid.nn.functional import ctc_forced_align
    >>> frames = [0, 1, 1, 0, 1, 2, 2, 0]  # an emission pattern for the target [1, 1, 2]
    >>> log_probs = lucid.tensor(0.9 * np.eye(3)[frames] + 0.05).log()
    >>> alignment, score = ctc_forced_align(log_probs, [1, 1, 2], 8, 3)
    >>> alignment
    array([0, 1, 1, 0, 1, 2, 2, 0])
    >>> score  # 8 frames of probability 0.95: 8 * log(0.95)
    -0.41034635...
    """
    fn = "ctc_forced_align"
    lp, unbatched = _check_log_probs(log_probs, fn)
    T, N, C = lp.shape
    blank = _check_blank(blank, C, fn)
    il = _check_lengths(input_lengths, "input_lengths", N, unbatched, fn)
    tl = _check_lengths(target_lengths, "target_lengths", N, unbatched, fn)
    _check_input_lengths_fit(il, T, fn)
    labels, offsets = _flatten_targets(targets, tl, N, C, blank, unbatched, fn)

    scores = np.empty(N, dtype=np.float64)
    paths = np.empty((N, T), dtype=np.int64)
    _ctc_align.ctc_viterbi(lp, labels, offsets, il, tl, blank, scores, paths,
                           _threads.get_num_threads())
    alignments = [
        paths[n, : il[n]].copy() if scores[n] > -np.inf else np.zeros(0, dtype=np.int64)
        for n in range(N)
    ]
    return (alignments[0], float(scores[0])) if unbatched else (alignments, scores)
