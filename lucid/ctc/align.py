"""Forced alignment of CTC output to known targets, and token spans (timestamps) from it.

``forced_align`` is torchaudio's: log_probs batch first (N, T, C), targets as
:func:`~lucid.nn.functional.ctc_loss` takes them (checked by the same code), a label and a
log-probability per frame back, as lucid Tensors. ``merge_tokens`` turns one
alignment into ``TokenSpan`` s as torchaudio's ``merge_tokens`` does. Not differentiable: the
results are not part of an autograd graph. The Viterbi recursion is in lucid/_C/_ctc_align.pyx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lucid import _threads
from lucid._C import _ctc_align
from lucid._tensor import Tensor
from lucid.nn.functional._ctc_checks import (
    bad_value_error,
    batch_first_hint,
    batch_first_lengths,
    check_blank,
    check_lengths,
    check_log_probs,
    check_penalty,
    flatten_targets,
    integer_array,
    reject_torch,
    show_value,
    warn_if_not_log_probs,
)

# A sample whose back-pointers (a byte per frame and state; 4 with a wildcard or skips) would
# take more than this is aligned block by block from checkpoints instead (same path, at most
# twice the arithmetic).
_PLAIN_BYTES = 64 * 2**20
# The label of a frame the wildcard absorbs (star_penalty).
_WILDCARD = -1
# Frames per block for such samples; 0 picks the memory optimum, about sqrt(8 * frames).
_BLOCK = 0


def forced_align(
    log_probs: Tensor,
    targets: Any,
    input_lengths: Any = None,
    target_lengths: Any = None,
    blank: int = 0,
    *,
    star_penalty: float | None = None,
    skip_penalty: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The most likely frame-level alignment of each target, with its per-frame log-probabilities.

    Among all paths that collapse to the target (repeats merged, blanks dropped), the one with
    the largest sum of per-frame log-probabilities, found by the Viterbi recursion over the CTC
    lattice (Graves et al., 2006, with max for sum). torchaudio's ``forced_align``: the same
    arguments, shapes and results, for any batch size (torchaudio's takes one sample).

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (N, T, C) or (T, C)
        Per-frame log-probabilities, batch first as in torchaudio (``ctc_loss`` takes them
        time first, (T, N, C): pass ``x.transpose(0, 1)``, a view, to go from one to the
        other). A NaN or ``+inf`` among the values the lattice reads (the blank and the
        target's labels, at the frames where a complete path can use them: where ``ctc_loss``
        would give the sample a NaN loss) is a ValueError; other values are never read. Scores
        that are clearly not log-probabilities draw a :class:`lucid.LogProbsWarning`.
    targets : Tensor, array or nested list of ints
        Padded (N, S_max) or concatenated (sum(target_lengths),); (S,) when unbatched. Labels
        in [0, C), not ``blank``.
    input_lengths : ints, shape (N,), optional
        Frames of each sample, each in [0, T]; an int when unbatched. Default: T for all.
    target_lengths : ints, shape (N,), optional
        Labels of each target; an int when unbatched. Default: the width of padded targets
        (required for concatenated ones).
    blank : int, default 0
        Index of the blank class.
    star_penalty : float <= 0, optional, keyword only
        Allow a wildcard before the first label, between any two labels and after the last,
        for speech the transcript leaves out. Each frame the wildcard absorbs scores
        ``star_penalty``, as a class of log-probability 0 would (for log-probabilities: the
        penalty plus the frame's total log-probability), so the wildcard takes a frame only
        where the path's label or blank would score below the penalty. Wildcard frames are
        labelled ``-1``. None (the default): no wildcard.
    skip_penalty : float <= 0, optional, keyword only
        Allow labels of the target to be left out (not spoken), at this log-score per label
        left out. None (the default): every label must be aligned.

    Returns
    -------
    labels : Tensor, int64, shape (N, T), or (T,) when unbatched
        The class (a target label or ``blank``) the best path emits at each frame, ``-1`` for
        a wildcard frame; ``blank`` past the sample's input length.
    scores : Tensor of log_probs' dtype, shape (N, T), or (T,) when unbatched
        ``log_probs[n, t, labels[n, t]]`` along the path (``star_penalty`` for a wildcard
        frame), 0 past the input length, so
        ``scores.sum(-1)`` is each path's log-probability (with skips, plus ``skip_penalty``
        times the labels left out, which belong to no frame). A sample without a valid path
        (it needs more frames than it has: one per label plus one blank between equal
        neighbours; or every path crosses a ``-inf`` emission) gets ``-inf`` in every element
        of its row, and all-blank labels. Neither result is part of an autograd graph.

    Notes
    -----
    Ties between paths of equal score are broken as torchaudio's ``forced_align`` breaks them:
    read from the last frame backwards, the path ends on the last label rather than the final
    blank, and stays in each state rather than arriving in it later. The recursion runs in
    double precision over the batch on ``lucid.get_num_threads()`` threads; results do not
    depend on the thread count.

    Memory: a sample of F frames and S labels has 2S + 1 lattice states. When F (2S + 1) bytes
    (its back-pointers) fit in 64 MiB, they are kept whole; beyond that the sample is aligned in
    blocks of about sqrt(8F) frames from checkpointed rows of the recursion, in about
    2 sqrt(8F) (2S + 1) bytes per thread (144 MB for an hour of 50 frames/s against 30,000
    labels), for up to twice the arithmetic. The path is the same either way, ties included.

    With ``star_penalty`` the lattice has 3S + 2 states (a wildcard state beside each blank);
    with ``skip_penalty`` every label is reachable at every frame, and each label also keeps
    4 bytes a frame for its skip arc. Ties then go to staying in a state, then to the nearer
    arc, then to a skip from a blank or wildcard frame over one from a label, and at the end
    to the last label, the final blank, the final wildcard, then to ending with fewer labels
    left out. See :doc:`alignment` for what the two penalties do and how to choose them.

    Examples
    --------
    >>> import numpy as np
    >>> import lucid
    >>> from lucid.ctc import forced_align, merge_tokens
    >>> frames = [0, 1, 1, 0, 1, 2, 2, 0]  # an emission pattern for the target [1, 1, 2]
    >>> log_probs = lucid.tensor(0.85 * np.eye(3)[frames] + 0.05).log()  # 0.9 on the class
    >>> labels, scores = forced_align(log_probs[None], lucid.tensor([[1, 1, 2]]))
    >>> labels
    Tensor([[0, 1, 1, 0, 1, 2, 2, 0]], dtype=lucid.int64)
    >>> scores.sum().item()  # 8 frames of probability 0.9: 8 * log(0.9)
    -0.84288412...
    >>> merge_tokens(labels[0], scores[0].exp())[0]
    TokenSpan(token=1, start=1, end=3, score=0.9...)
    """
    fn = "forced_align"
    star = check_penalty(star_penalty, "star_penalty", fn)
    skip = check_penalty(skip_penalty, "skip_penalty", fn)
    lp, unbatched = check_log_probs(log_probs, fn, batch_first=True)
    T, N, C = lp.shape
    blank = check_blank(blank, C, fn)
    il = batch_first_lengths(lp, unbatched, input_lengths, fn)
    with batch_first_hint(fn, lp, unbatched, "targets", targets, batch_first=True):
        if target_lengths is None:
            target_lengths = _default_target_lengths(targets, N, unbatched, fn)
        tl = check_lengths(target_lengths, "target_lengths", N, unbatched, fn)
        labels, offsets = flatten_targets(targets, tl, N, C, blank, unbatched, fn)
    warn_if_not_log_probs(lp, il, fn)

    alignments = np.empty((N, T), dtype=np.int64)
    scores = np.empty((N, T), dtype=lp.dtype)
    totals = np.empty(N, dtype=np.float64)
    _ctc_align.ctc_viterbi(lp, labels, offsets, il, tl, blank, alignments, scores, totals,
                           np.nan if star is None else star, -np.inf if skip is None else skip,
                           _PLAIN_BYTES, _BLOCK, _threads.get_num_threads())
    # The lattice reads a few classes of each frame: the kernel tells (a NaN total) when one
    # of them was NaN or +inf, which is free, where a look at every value could cost more
    # than the alignment.
    read_bad = np.flatnonzero(np.isnan(totals))
    if read_bad.size:
        n = int(read_bad[0])
        classes = np.unique(np.r_[blank, labels[offsets[n]: offsets[n] + tl[n]]])
        t, k = np.argwhere(~(lp[: il[n], n][:, classes] < np.inf))[0]
        raise bad_value_error(lp, int(t), n, int(classes[k]), unbatched, fn, batch_first=True)
    if unbatched:
        alignments, scores = alignments[0], scores[0]
    return Tensor(alignments), Tensor(scores)


def _default_target_lengths(targets: Any, N: int, unbatched: bool, fn: str) -> np.ndarray:
    """Every target's full length: its width if padded, its size if unbatched."""
    if targets is None:
        raise TypeError(f"{fn}: targets is required, got None")
    arr = integer_array(targets, "targets", fn)
    if unbatched and arr.ndim == 1:
        return np.int64(arr.shape[0])
    if not unbatched and arr.ndim == 2:
        return np.full(N, arr.shape[1])
    raise ValueError(f"{fn}: target_lengths is required unless targets are padded (N, S_max) "
                     f"or unbatched (S,), got targets of shape {arr.shape}")


@dataclass(frozen=True)
class TokenSpan:
    """One token of an alignment and the frames it occupies, as torchaudio's ``TokenSpan``.

    Attributes
    ----------
    token : int
        The class.
    start : int
        First frame (inclusive).
    end : int
        One past the last frame (exclusive); ``len(span)`` is the number of frames.
    score : float
        The mean of the scores given to :func:`merge_tokens` over the span's frames.
    """

    token: int
    start: int
    end: int
    score: float

    def __len__(self) -> int:
        return self.end - self.start


def merge_tokens(tokens: Any, scores: Any, blank: int = 0) -> list[TokenSpan]:
    """The token spans of one alignment: runs of a class other than ``blank``, as torchaudio.

    Parameters
    ----------
    tokens : Tensor, array or list of ints, shape (T,)
        One frame-level alignment, e.g. a row of :func:`forced_align`'s labels.
    scores : Tensor, array or list of floats, shape (T,)
        A score per frame; each span's score is their mean over its frames. Pass the
        probabilities ``scores.exp()`` of :func:`forced_align` for the mean probability
        of each span (what torchaudio's tutorials do), or the log-probabilities themselves for
        the mean log-probability.
    blank : int, default 0
        The class that separates tokens and belongs to none.

    Returns
    -------
    list of TokenSpan
        In frame order. A run ends where the class changes, so ``[1, 1, 0, 1]`` gives two spans
        of token 1 and ``[1, 2]`` two spans; a repeated token without a blank between its
        copies (which a CTC alignment of a target cannot contain) is one span. Wildcard frames
        (``-1``, from :func:`forced_align` with ``star_penalty``) belong to no span, like
        blanks, and separate the tokens around them.

    Examples
    --------
    >>> from lucid.ctc import merge_tokens
    >>> merge_tokens([0, 3, 3, 0, 0, 5, 0], [0.9, 0.8, 0.6, 0.9, 0.9, 0.5, 0.9])
    [TokenSpan(token=3, start=1, end=3, score=0.7), TokenSpan(token=5, start=5, end=6, score=0.5)]
    """
    fn = "merge_tokens"
    toks = integer_array(tokens, "tokens", fn)
    if toks.ndim != 1:
        raise ValueError(f"{fn}: tokens must be 1-D (T,), one alignment, got shape {toks.shape}")
    reject_torch(scores, "scores", fn)
    vals = scores.numpy() if isinstance(scores, Tensor) else np.asarray(scores)
    if vals.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: scores must be real numbers, got dtype {vals.dtype}")
    if vals.shape != toks.shape:
        raise ValueError(f"{fn}: scores must have the shape of tokens {toks.shape}, got shape "
                         f"{vals.shape}")
    if isinstance(blank, (bool, np.bool_)) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"{fn}: blank must be an int, got {show_value(blank)}")
    if toks.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, toks[1:] != toks[:-1]])
    ends = np.r_[starts[1:], toks.size]
    means = np.add.reduceat(vals.astype(np.float64), starts) / (ends - starts)
    return [TokenSpan(int(toks[a]), int(a), int(b), float(m))
            for a, b, m in zip(starts, ends, means) if toks[a] != blank and toks[a] != _WILDCARD]
