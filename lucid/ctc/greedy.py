"""Reading a CTC model's output: greedy (best-path) decoding.

It takes ``log_probs`` and lengths exactly as :func:`~lucid.nn.functional.ctc_loss` does and
checks them with the same code. Decoding is not differentiable: results are plain numpy/Python.
Forced alignment to known targets is in align.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._tensor import Tensor
from lucid.nn.functional._ctc_checks import (
    batch_first_lengths,
    check_blank,
    check_log_probs,
    check_no_nan,
    warn_if_not_log_probs,
)


def greedy_decode(
    log_probs: Tensor, input_lengths: Any = None, blank: int = 0
) -> list[list[int]] | list[int]:
    """Best-path decoding: the most likely class at each frame, repeats merged, blanks dropped.

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (N, T, C) or (T, C)
        Per-frame log-probabilities, batch first as everywhere in :mod:`lucid.ctc`. Only
        their argmax matters, but NaN and ``+inf`` within the input lengths are errors, and
        scores that are clearly not log-probabilities draw a :class:`lucid.LogProbsWarning`,
        as in the other decoders.
    input_lengths : Tensor, array, list or tuple of ints, shape (N,), optional
        Frames of each sample to read, each in [0, T]. An int or 0-d for unbatched input.
        Default: T for all.
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
    >>> from lucid.ctc import greedy_decode
    >>> frames = [0, 1, 1, 0, 1, 2, 2, 0]  # the argmax class of each frame
    >>> log_probs = lucid.tensor(0.85 * np.eye(3)[frames] + 0.05).log()  # 0.9 on the class
    >>> greedy_decode(log_probs, input_lengths=8)
    [1, 1, 2]
    """
    fn = "greedy_decode"
    lp, unbatched = check_log_probs(log_probs, fn, batch_first=True)
    T, N, C = lp.shape
    blank = check_blank(blank, C, fn)
    il = batch_first_lengths(lp, unbatched, input_lengths, fn)
    best = lp.argmax(axis=2)  # (T, N)
    # numpy's argmax picks a frame's first NaN (else its first +inf): the values it picked
    # show one, without a second pass over the input
    check_no_nan(lp, il, unbatched, fn, lp[np.arange(T)[:, None], np.arange(N), best],
                 batch_first=True)
    warn_if_not_log_probs(lp, il, fn)
    decoded = []
    for n in range(N):
        path = best[: il[n], n]
        starts_run = np.ones(path.shape, dtype=bool)
        starts_run[1:] = path[1:] != path[:-1]
        decoded.append(path[starts_run & (path != blank)].tolist())
    return decoded[0] if unbatched else decoded
