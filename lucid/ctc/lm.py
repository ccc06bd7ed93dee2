"""Language models written in Python, for the CTC decoder: torchaudio's interface.

:func:`~lucid.ctc.ctc_decoder` scores words with an n-gram model of its own
(:class:`~lucid.ctc.NGramLM`, the fast path: the search reads its tables directly), or with
any object that has torchaudio's three methods, ``start``, ``score`` and ``finish``, which the
search calls back with the GIL held (design note D. of lucid/_C/_ctc_beam.pyx). A
``kenlm.Model`` is wrapped into one here, so KenLM's binary files can be used too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from lucid.nn.functional._ctc_checks import show_value

__all__ = ["CTCDecoderLM", "CTCDecoderLMState"]


class CTCDecoderLMState:
    """A state of a language model written in Python (torchaudio's ``CTCDecoderLMState``).

    The states of a model form a tree: :meth:`child` returns the state after one more word,
    made on first use and the same object afterwards, so a model can keep what it computed
    for a context in a dict keyed by the state. The decoder never looks inside a state: any
    object can serve as one.

    Examples
    --------
    >>> from lucid.ctc import CTCDecoderLMState
    >>> root = CTCDecoderLMState()
    >>> root.child(3) is root.child(3), list(root.children)
    (True, [3])
    """

    def __init__(self) -> None:
        self._children: dict[int, CTCDecoderLMState] = {}

    @property
    def children(self) -> dict[int, CTCDecoderLMState]:
        """The states made by :meth:`child` so far, by word index."""
        return self._children

    def child(self, usr_index: int) -> CTCDecoderLMState:
        """The state after word ``usr_index``: made (of this state's class) on the first call,
        the same object on every later one."""
        state = self._children.get(usr_index)
        if state is None:
            state = self._children[usr_index] = type(self)()
        return state

    def compare(self, state: CTCDecoderLMState) -> int:
        """0 if ``state`` is this state, else -1 or +1, a fixed order between the two (by
        identity, as flashlight orders its states)."""
        return (id(self) > id(state)) - (id(self) < id(state))


class CTCDecoderLM:
    """Base class of a language model written in Python (torchaudio's ``CTCDecoderLM``).

    Subclass it (or write any class with these three methods) and pass an instance as
    ``ctc_decoder(..., lm=model)``. Words are passed by index: the line number in
    ``lm_dict`` or, without it, the position of the word in the lexicon (with ``unk_word``
    added last if it is not there); with ``lm_level="char"`` the token index. The decoder
    adds ``lm_weight`` times each score to a hypothesis' score, as torchaudio does: return
    log10 probabilities to weigh them as an :class:`~lucid.ctc.NGramLM` is weighed.

    The search calls the model from one thread with the GIL held; an exception raised in it
    stops the decoding and reaches the caller. The model should be deterministic: a prefix
    that leaves the beam and comes back is scored again.

    Examples
    --------
    A unigram model, the tutorial's shape:

    >>> import math
    >>> from lucid.ctc import CTCDecoderLM, CTCDecoderLMState
    >>> class Unigram(CTCDecoderLM):
    ...     def __init__(self, probs):
    ...         self.probs = probs  # word index -> probability
    ...     def start(self, start_with_nothing):
    ...         return CTCDecoderLMState()
    ...     def score(self, state, usr_token_idx):
    ...         return state.child(usr_token_idx), math.log10(self.probs[usr_token_idx])
    ...     def finish(self, state):
    ...         return state, 0.0
    >>> lm = Unigram({0: 0.5, 1: 0.25, 2: 0.25})
    >>> state, score = lm.score(lm.start(False), 1)
    >>> round(score, 4)
    -0.6021
    """

    def start(self, start_with_nothing: bool) -> Any:
        """The state before the first word: after ``<s>``, or with no context at all if
        ``start_with_nothing`` (the decoder asks for that only to rank words spelled the same
        by their score alone)."""
        raise NotImplementedError

    def score(self, state: Any, usr_token_idx: int) -> tuple[Any, float]:
        """The state after word ``usr_token_idx`` and the word's score in that context (-inf:
        impossible)."""
        raise NotImplementedError

    def finish(self, state: Any) -> tuple[Any, float]:
        """The state and score of the end of the sentence (``</s>``) after ``state``."""
        raise NotImplementedError


class KenLMModel(CTCDecoderLM):
    """A ``kenlm.Model`` seen through :class:`CTCDecoderLM`: what ``ctc_decoder(lm=model)``
    makes of one. Scores are KenLM's log10 probabilities, as in torchaudio; a word KenLM does
    not know scores as its ``<unk>``.

    Parameters
    ----------
    model : kenlm.Model
        The model, from an ARPA or a KenLM binary file.
    words : sequence of str
        The word of each index the decoder passes (KenLM is called by the word's text).
    """

    def __init__(self, model: Any, words: Sequence[str]):
        self.model = model
        self.words = list(words)

    def _new_state(self) -> Any:
        return _kenlm_module(self.model).State()

    def start(self, start_with_nothing: bool) -> Any:
        state = self._new_state()
        if start_with_nothing:
            self.model.NullContextWrite(state)
        else:
            self.model.BeginSentenceWrite(state)
        return state

    def score(self, state: Any, usr_token_idx: int) -> tuple[Any, float]:
        after = self._new_state()
        return after, self.model.BaseScore(state, self.words[usr_token_idx], after)

    def finish(self, state: Any) -> tuple[Any, float]:
        after = self._new_state()
        return after, self.model.BaseScore(state, "</s>", after)


def is_kenlm_model(lm: Any) -> bool:
    """Whether lm is a KenLM model object (told by its type's module: kenlm is not imported)."""
    return type(lm).__module__.split(".")[0] == "kenlm" and hasattr(lm, "BaseScore")


def _kenlm_module(model: Any) -> Any:
    import sys

    return sys.modules[type(model).__module__]


def is_python_lm(lm: Any) -> bool:
    """Whether lm has the three methods of :class:`CTCDecoderLM`."""
    return all(callable(getattr(lm, name, None)) for name in ("start", "score", "finish"))


def read_lm_dict(lm_dict: Any, fn: str) -> list[str]:
    """The words of an ``lm_dict``: a file with one word per line (torchaudio's format; blank
    lines skipped) or a sequence of str, in index order; ValueError for a repeated word."""
    if isinstance(lm_dict, (str, os.PathLike)):
        with open(lm_dict, encoding="utf-8") as f:
            words = [line.strip() for line in f if line.strip()]
    elif isinstance(lm_dict, Sequence) and all(isinstance(w, str) for w in lm_dict):
        words = list(lm_dict)
    else:
        raise TypeError(f"{fn}: lm_dict must be a file path or a sequence of str, got "
                        f"{show_value(lm_dict)}")
    seen: set[str] = set()
    for word in words:
        if word in seen:
            raise ValueError(f"{fn}: lm_dict lists {word!r} twice; each word has one index")
        seen.add(word)
    return words


def alone_score(lm: Any, index: int) -> float:
    """A Python LM's score of one word with no context (start(True)), for ranking words spelled
    the same; -inf if the model gives none."""
    _, value = lm.score(lm.start(True), index)
    value = float(value)
    return value if not math.isnan(value) else -math.inf
