"""Streaming decoding: one search kept between chunks of frames, and its checks.

:class:`~lucid.ctc.CTCDecoder`'s ``decode_begin`` / ``decode_step`` / ``decode_end`` /
``get_final_hypothesis`` / ``get_best_hypothesis`` run on a DecodeStream: the kernel's search
state (lucid/_C/_ctc_beam.pyx, design note G.), stepped frame by frame over each chunk, so
that any chunking of the frames does the same arithmetic as the offline call.

A lexicon decoder whose beam cannot end at a word boundary falls back on a search without
``token_min_logp``, ``beam_threshold`` and ``beam_size_token`` (see ``CTCDecoder.__call__``).
Offline, that search is run again over the sample when needed; a stream has no frames to run
it over afterwards, so a second, unpruned search runs alongside from the start (a "shadow")
whenever those options are set with a lexicon.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from lucid._C import _ctc_beam
from lucid._tensor import Tensor
from lucid.nn.functional._ctc_checks import reject_torch, warn_if_not_log_probs

# one hypothesis as the kernel gives it: tokens, frames, token log-probabilities, score
Found = tuple[np.ndarray, np.ndarray, np.ndarray, float]
_INT32_MAX = 2**31 - 1


def check_chunk(emissions: Any, C: int, fn: str, offset: int) -> np.ndarray:
    """The (T_chunk, C) array behind one chunk of a stream (T_chunk may be 0); TypeError or
    ValueError naming what is wrong, frames numbered from the start of the stream (offset)."""
    reject_torch(emissions, "emissions", fn)
    if not isinstance(emissions, Tensor):
        hint = " (wrap it with lucid.tensor)" if isinstance(emissions, np.ndarray) else ""
        raise TypeError(f"{fn}: emissions must be a lucid Tensor{hint}, got "
                        f"{type(emissions).__name__}")
    lp = emissions.numpy()
    if lp.dtype != np.float32 and lp.dtype != np.float64:
        raise TypeError(f"{fn}: emissions must be float32 or float64, got {lp.dtype}")
    if lp.ndim != 2:
        raise ValueError(f"{fn}: emissions must have shape (T_chunk, C): one chunk of one "
                         f"stream, got shape {lp.shape}")
    if lp.shape[1] != C:
        raise ValueError(f"{fn}: emissions must have C = {C} classes, one per token, got shape "
                         f"{lp.shape}")
    top = lp.max() if lp.size else 0.0  # NaN if any is
    if np.isnan(top) or top == np.inf:
        bad = np.argwhere(np.isnan(lp) | (lp == np.inf))[0]
        t, c = int(bad[0]), int(bad[1])
        raise ValueError(f"{fn}: emissions must not contain NaN or +inf (-inf, log 0, is fine), "
                         f"got emissions[{t}, {c}] = {lp[t, c]} (frame {offset + t} of the "
                         f"stream)")
    return lp


class DecodeStream:
    """The searches of one stream: the decoder's, and the shadow of the module docstring.

    ``adjust(lp, by_class)`` maps a chunk to the values searched (the decoder's priors and
    blank penalty, and with ``by_class`` its per-frame class pruning); the records keep the
    caller's values. ``fallback``: the decoder has a lexicon (hypotheses may then be unable
    to end). ``prunes``: the decoder prunes by class in ``adjust``."""

    def __init__(self, C: int, blank: int, beam_size: int, token_min_logp: float | None,
                 beam_threshold: float | None, scoring: dict, adjust: Callable, fallback: bool,
                 prunes: bool, fn: str):
        self.C = C
        self.fn = fn
        self.adjust = adjust
        self.fallback = fallback
        need = _ctc_beam.workspace_bytes(beam_size, C, 0)
        if need > sys.maxsize:
            raise ValueError(f"{fn}: beam_size = {beam_size} needs a workspace of {need} bytes "
                             f"for {C} classes, more than can be addressed ({sys.maxsize})")
        tml = -math.inf if token_min_logp is None else token_min_logp
        threshold = math.inf if beam_threshold is None else beam_threshold
        self.main = _ctc_beam.BeamSearch(C, blank, beam_size, tml, threshold,
                                         _ctc_beam.Scorer(scoring))
        self.shadow = None
        if fallback and (tml > -math.inf or threshold < math.inf or prunes):
            self.shadow = _ctc_beam.BeamSearch(C, blank, beam_size, -math.inf, math.inf,
                                               _ctc_beam.Scorer(scoring))
        self.ended = False
        self.broken = False
        self.looked = False  # whether the first frame was looked at (LogProbsWarning)
        self.final: list[Found] | None = None
        self.main.begin()
        if self.shadow is not None:
            self.shadow.begin()

    @property
    def frames(self) -> int:
        return self.main.frames

    def step(self, emissions: Any) -> None:
        lp = check_chunk(emissions, self.C, self.fn, self.frames)
        if lp.shape[0] == 0:
            return
        if self.frames + lp.shape[0] > _INT32_MAX:  # the kernel's frame numbers
            raise ValueError(f"{self.fn}: a stream holds at most 2**31 - 1 frames, got "
                             f"{self.frames} and {lp.shape[0]} more")
        if not self.looked:  # as offline: the first frame of the input tells
            warn_if_not_log_probs(lp[:1, None, :], np.ones(1, dtype=np.int64), self.fn)
            self.looked = True
        self.broken = True  # until both searches have taken the chunk
        self.main.step(self.adjust(lp, True), lp)
        if self.shadow is not None:
            self.shadow.step(self.adjust(lp, False), lp)
        self.broken = False

    def end(self, nbest: int) -> list[Found]:
        """The final hypotheses: those that can end, or with a lexicon and none that can,
        those ending inside a word (the shadow's, if there is one)."""
        found = self.main.rank(nbest, _ctc_beam.SEARCH_FINAL)
        if not found and self.fallback:
            found = (self.shadow or self.main).rank(nbest, _ctc_beam.SEARCH_FINAL_UNFINISHED)
        self.ended = True
        self.final = found
        return found

    def best(self) -> Found:
        """The best hypothesis of the beam as it stands: the search's own ranking, the
        unfinished word's running score included, no end-of-sentence terms. When pruning has
        emptied the decoder's beam (a lexicon's words could not go on), the shadow's best, as
        the final result would be."""
        found = self.main.rank(1, _ctc_beam.SEARCH_PARTIAL)
        if not found and self.shadow is not None:
            found = self.shadow.rank(1, _ctc_beam.SEARCH_PARTIAL)
        return found[0] if found else _EMPTY

    def sizes(self) -> dict[str, int]:
        """What the stream holds now (design note B. of lucid/_C/_ctc_beam.pyx): frames
        searched, nodes (at most 2 beam_size + 1 between frames), records (the distinct
        tokens of the hypotheses), the records' capacity and the states of a Python LM held,
        summed over the searches."""
        searches = [self.main] + ([self.shadow] if self.shadow is not None else [])
        return {"frames": self.frames,
                "nodes": sum(s.nodes for s in searches),
                "records": sum(s.records for s in searches),
                "record_capacity": sum(s.record_capacity for s in searches),
                "lm_states": sum(s.lm_states for s in searches)}


def search_inside_words(lp: np.ndarray, given: np.ndarray, C: int, blank: int, beam_size: int,
                        nbest: int, scoring: dict) -> list[Found]:
    """The offline fallback of a lexicon decoder: one sample (T, C) searched without
    token_min_logp and beam_threshold (lp already adjusted without class pruning), ranked
    letting hypotheses end inside a word if none can end otherwise; the same search a
    stream's shadow runs."""
    search = _ctc_beam.BeamSearch(C, blank, beam_size, -math.inf, math.inf,
                                  _ctc_beam.Scorer(scoring))
    search.begin()
    search.step(lp, given)
    return search.rank(nbest, _ctc_beam.SEARCH_FINAL_UNFINISHED)


# what best() gives when no labelling has a non-zero probability
_EMPTY: Found = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                 np.zeros(0, dtype=np.float64), -math.inf)
