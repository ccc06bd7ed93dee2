"""CTC prefix beam search: the hypotheses it returns and the checks around the Cython kernel.

The search itself is in lucid/_C/_ctc_beam.pyx; the language-model decoder
(lucid/ctc/decoder.py) calls the same function with an LM attached.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lucid import _threads
from lucid._C import _ctc_beam
from lucid._tensor import Tensor
from lucid.nn.functional._ctc_checks import (
    batch_first_lengths,
    check_blank,
    check_log_probs,
    check_no_nan,
    show_value,
    warn_if_not_log_probs,
)

# The kernel keeps class indices and frame numbers in 32 bits.
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class WordSpan:
    """One word of a hypothesis, its frames and its confidence.

    Attributes
    ----------
    word : str
        The word, as in the hypothesis' ``words``.
    start : int
        The frame of the word's first token (its entry in ``timesteps``).
    end : int
        One past the frame of its last token (exclusive, as ``TokenSpan.end``): a one-token
        word emitted at frame t spans ``[t, t + 1)``. The delimiters around the word and the
        blanks before and after its tokens are not part of it.
    confidence : float
        The lowest frame posterior of its tokens: the minimum, over the word's tokens k, of
        ``exp(log_probs[timesteps[k], tokens[k]])``, read from the log-probabilities the
        decoder was called with (before label priors and the blank penalty). In [0, 1]
        for log-probabilities; a word is as sure as its least sure token. (pyctcdecode's
        ``text_frames`` give each word's frames, without a confidence.)
    """

    word: str
    start: int
    end: int
    confidence: float


@dataclass(eq=False)
class CTCHypothesis:
    """One result of a beam search: torchaudio's ``CTCHypothesis``, plus ``word_spans``.

    Attributes
    ----------
    tokens : Tensor, int64, shape (L,)
        The labelling: class indices, repeats merged and blanks removed.
    words : list of str
        The words, with a word-level decoder; empty otherwise.
    score : float
        Without a language model, the labelling's log-probability: the log of the summed
        probability of every frame-level path that collapses to it (``-ctc_loss``; exact when
        the beam kept every prefix). With one, that plus the language-model terms.
    timesteps : Tensor, int32, shape (L,)
        The frame at which each token was emitted, one per entry of ``tokens``, strictly
        increasing: the frame where the search found the prefix ending in that token most
        likely to be entered. Where that is not before the next token's frame (a prefix can
        be entered again after it was extended), the best such frame found before the next
        token was, or else the frame the prefix first entered the beam.
    word_spans : list of WordSpan
        With a word-level decoder, one per entry of ``words``, in order: each word's first
        and last frame and its confidence. Empty otherwise.

    Lists of ints are accepted for ``tokens`` and ``timesteps`` and stored as Tensors, as
    torchaudio's are. Two hypotheses are equal when all their fields are.
    """

    tokens: Tensor
    score: float
    timesteps: Tensor
    words: list[str] = field(default_factory=list)
    word_spans: list[WordSpan] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens = _int_tensor(self.tokens, np.int64)
        self.timesteps = _int_tensor(self.timesteps, np.int32)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CTCHypothesis):
            return NotImplemented
        return (self.tokens.tolist() == other.tokens.tolist() and self.score == other.score
                and self.timesteps.tolist() == other.timesteps.tolist()
                and self.words == other.words and self.word_spans == other.word_spans)


def _int_tensor(values: Any, dtype: type) -> Tensor:
    """A 1-D integer Tensor of values (a Tensor, an array or a list of ints), not shared with
    the caller."""
    array = values.numpy() if isinstance(values, Tensor) else np.asarray(values)
    return Tensor(array.astype(dtype).reshape(-1))


def check_positive_int(value: Any, name: str, fn: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {show_value(value)}")
    if value < 1:
        raise ValueError(f"{fn}: {name} must be at least 1, got {value}")
    return int(value)


def check_threshold(value: Any, name: str, fn: str, sign: int) -> float:
    """None (no pruning) or a real number of the given sign, as a float."""
    if value is None:
        return -math.inf if sign < 0 else math.inf
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{fn}: {name} must be a number or None, got {show_value(value)}")
    value = float(value)
    if math.isnan(value) or value * sign < 0:
        kind = "<= 0" if sign < 0 else ">= 0"
        raise ValueError(f"{fn}: {name} must be {kind} or None, got {value}")
    return value


def prefix_beam_search(
    log_probs: Tensor,
    input_lengths: Any,
    beam_width: int,
    blank: int,
    top_k: int,
    token_min_logp: float | None,
    beam_threshold: float | None,
    scoring: dict,
    fn: str,
    *,
    names: tuple[str, str, str] = ("beam_width", "top_k", "input_lengths"),
    warn_unnormalised: bool = False,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[list[list[CTCHypothesis]], bool, np.ndarray, list[list[np.ndarray]]]:
    """Check the arguments, run the kernel, build the hypotheses (shared with the LM decoder).

    ``names`` are the caller's names for beam_width, top_k and input_lengths, for error
    messages.
    ``warn_unnormalised``: log_probs come from the user, so warn if they do not look like
    log-probabilities (LogProbsWarning). ``adjust`` maps the checked (T, N, C) array to the
    one searched (the LM decoder's priors and blank penalty), after that look. log_probs are
    (N, T, C) or (T, C), as everywhere in lucid.ctc; input_lengths None means T for all.

    Returns the hypotheses of every sample, whether the input was unbatched, the (T, N, C)
    array searched (so callers can post-process tokens without re-checking), and per
    hypothesis the caller's log-probability of each token at its timestep."""
    width_name, count_name, lengths_name = names
    lp, unbatched = check_log_probs(log_probs, fn, batch_first=True)
    T, N, C = lp.shape
    blank = check_blank(blank, C, fn)
    il = batch_first_lengths(lp, unbatched, input_lengths, fn, lengths_name)
    beam_width = check_positive_int(beam_width, width_name, fn)
    top_k = check_positive_int(top_k, count_name, fn)
    if top_k > beam_width:
        raise ValueError(f"{fn}: {count_name} must be at most {width_name} = {beam_width}, "
                         f"got {top_k}")
    token_min_logp = check_threshold(token_min_logp, "token_min_logp", fn, -1)
    beam_threshold = check_threshold(beam_threshold, "beam_threshold", fn, +1)
    max_T = int(il.max())
    beam_width, top_k = _workspace_checked(beam_width, top_k, C, max_T, N, names[:2], fn)
    check_no_nan(lp, il, unbatched, fn, batch_first=True)
    if warn_unnormalised:
        warn_if_not_log_probs(lp, il, fn)
    given = lp
    if adjust is not None:
        lp = adjust(lp)

    # a hypothesis has at most one token per frame
    tokens = np.empty((N, top_k, max(max_T, 1)), dtype=np.int64)
    frames = np.empty((N, top_k, max(max_T, 1)), dtype=np.int64)
    logps = np.empty((N, top_k, max(max_T, 1)), dtype=np.float64)
    lengths = np.zeros((N, top_k), dtype=np.int64)
    scores = np.empty((N, top_k), dtype=np.float64)
    counts = np.zeros(N, dtype=np.int64)
    _ctc_beam.ctc_prefix_beam_search(lp, given, il, blank, beam_width, top_k, token_min_logp,
                                     beam_threshold, _ctc_beam.Scorer(scoring), tokens, frames,
                                     logps, lengths, scores, counts,
                                     min(_threads.get_num_threads(), N))
    hypotheses = [
        [CTCHypothesis(tokens=tokens[n, k, : lengths[n, k]], score=float(scores[n, k]),
                       timesteps=frames[n, k, : lengths[n, k]])
         for k in range(counts[n])]
        for n in range(N)
    ]
    token_logps = [[logps[n, k, : lengths[n, k]] for k in range(counts[n])] for n in range(N)]
    return hypotheses, unbatched, lp, token_logps


def _workspace_checked(beam_width: int, top_k: int, C: int, max_T: int, N: int,
                       names: tuple[str, str], fn: str) -> tuple[int, int]:
    """The beam width and hypothesis count to run with, once their memory is known to be
    addressable (a ValueError naming the argument otherwise; a MemoryError comes later if it
    is addressable but not there).

    A beam never holds more hypotheses than there are label prefixes of up to max_T labels
    (the candidates of a frame are distinct prefixes), so a wider one is narrowed to that
    count: the search is the same, exact, and its workspace no larger than it needs."""
    if C > _INT32_MAX:
        raise ValueError(f"{fn}: log_probs must have at most 2**31 - 1 classes (C) for beam "
                         f"search, got C = {C}")
    if max_T > _INT32_MAX:
        raise ValueError(f"{fn}: input_lengths must be at most 2**31 - 1 frames for beam "
                         f"search, got {max_T}")
    width = min(beam_width, _prefix_count(C - 1, max_T, beam_width))
    need = _ctc_beam.workspace_bytes(width, C, max_T)
    if need > sys.maxsize:
        raise ValueError(f"{fn}: {names[0]} = {beam_width} needs a workspace of {need} bytes per "
                         f"thread for {C} classes and {max_T} frames, more than can be addressed "
                         f"({sys.maxsize})")
    count = min(top_k, width)
    if 2 * N * count * max(max_T, 1) * 8 > sys.maxsize:  # the tokens and frames returned
        raise ValueError(f"{fn}: {names[1]} = {top_k} hypotheses of up to {max_T} tokens for "
                         f"{N} samples need more memory than can be addressed ({sys.maxsize})")
    return width, count


def _prefix_count(labels: int, length: int, cap: int) -> int:
    """The number of sequences of at most `length` of `labels` labels, or cap if larger."""
    if labels <= 1:
        return min(cap, length + 1 if labels == 1 else 1)
    count = term = 1
    for _ in range(length):  # stops within 64 steps: the count at least doubles each time
        term *= labels
        count += term
        if count >= cap:
            return cap
    return count


def beam_search_decode(
    log_probs: Tensor,
    input_lengths: Any = None,
    beam_width: int = 16,
    blank: int = 0,
    top_k: int = 1,
    token_min_logp: float | None = None,
    beam_threshold: float | None = None,
) -> list[list[CTCHypothesis]] | list[CTCHypothesis]:
    """CTC prefix beam search: the most probable labellings, with their log-probabilities.

    Keeps, frame by frame, the ``beam_width`` most probable label prefixes, each with the
    probability of its paths ending in a blank and of those ending in its last label kept
    apart, so paths that collapse to the same labelling are summed, never double counted
    (Graves, 2008; Hannun et al., 2014). When the beam is wide enough to keep every prefix,
    the search is exact: the first hypothesis is the most probable labelling and every
    score is that labelling's log-probability, ``-ctc_loss``. Greedy decoding
    (:func:`greedy_decode`) instead takes the single most probable path.

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (N, T, C) or (T, C)
        Per-frame log-probabilities, batch first as everywhere in :mod:`lucid.ctc` (the
        time-first output of a model trained with ``ctc_loss``: ``x.transpose(0, 1)``).
        ``-inf`` marks an impossible emission; NaN and ``+inf`` within the input lengths are
        errors. Scores that are clearly not log-probabilities draw a
        :class:`lucid.LogProbsWarning`.
    input_lengths : Tensor, array, list or tuple of ints, shape (N,), optional
        Frames of each sample to read, each in [0, T]. An int or 0-d for unbatched input.
        Default: T for all.
    beam_width : int, default 16
        Prefixes kept after each frame, at least 1. A width above the number of label
        sequences the input could hold is narrowed to that number (the search is exact
        either way); one whose workspace could not even be addressed is a ValueError.
    blank : int, default 0
        Index of the blank class.
    top_k : int, default 1
        Hypotheses returned per sample, at most ``beam_width``.
    token_min_logp : float <= 0 or None, default None
        At each frame, skip classes (the blank too) whose log-probability is below this,
        except the frame's most likely class (pyctcdecode's ``token_min_logp``); None keeps
        all.
    beam_threshold : float >= 0 or None, default None
        Also drop prefixes scoring more than this below the frame's best; None keeps all
        ``beam_width``.

    Returns
    -------
    list of list of CTCHypothesis
        Per sample, up to ``top_k`` hypotheses, best first (fewer only if fewer labellings are
        possible at all). A single list for unbatched input.

    Notes
    -----
    Runs in double precision on ``lucid.get_num_threads()`` threads (one sample per thread at
    a time); ties go to the prefix found first, so results do not depend on the thread count.
    Not differentiable: the results are plain Python.

    Examples
    --------
    >>> import numpy as np
    >>> import lucid
    >>> from lucid.nn.functional import ctc_loss
    >>> from lucid.ctc import beam_search_decode, greedy_decode
    >>> probs = np.array([[0.6, 0.4], [0.6, 0.4]])  # 2 frames, classes blank and "a"
    >>> log_probs = lucid.tensor(np.log(probs))
    >>> greedy_decode(log_probs, 2)  # the best single path is "--": nothing
    []
    >>> best, second = beam_search_decode(log_probs, 2, top_k=2)
    >>> best.tokens.tolist(), second.tokens.tolist()  # "a" sums the paths "aa", "a-", "-a"
    ([1], [])
    >>> print(f"{np.exp(best.score):.2f} {np.exp(second.score):.2f}")
    0.64 0.36
    >>> bool(np.isclose(best.score, -ctc_loss(log_probs, [1], 2, 1).item()))
    True
    """
    fn = "beam_search_decode"
    hypotheses, unbatched, _, _ = prefix_beam_search(
        log_probs, input_lengths, beam_width, blank, top_k, token_min_logp, beam_threshold,
        {"mode": 0}, fn, warn_unnormalised=True)
    return hypotheses[0] if unbatched else hypotheses
