"""Back-off n-gram language models read from ARPA files, in tables the beam search can use.

The ARPA format (as written by KenLM, SRILM, ...)::

    \\data\\
    ngram 1=5
    ngram 2=3
    \\1-grams:
    -1.2041   <s>     -0.3010
    ...
    \\2-grams:
    -0.3010   <s> the
    ...
    \\end\\

Each n-gram line holds log10 P(w_n | w_1..w_{n-1}), the words, and (below the highest order)
the log10 back-off weight of w_1..w_n as a context. A word sequence is scored with Katz
backoff: P(w | h) is the longest listed n-gram ending in w, times the back-off weights of the
contexts skipped to reach it. Everything is stored in natural logs.

The tables (see lucid/_C/_ctc_beam.pyx, design note D.): every n-gram of order below the
highest is a *state* (0 is the empty context), and a hash maps (state, word) to the n-gram's
entry: its ln-probability and the state that follows it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import numpy as np

from lucid._C import _ctc_beam

LN10 = math.log(10.0)
_UNK_LOG10 = -100.0  # KenLM's probability for <unk> when a file does not list it
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # must match hash_find in _ctc_beam.pyx
_HASH_SHIFT = np.uint64(17)


class NGramLM:
    """A back-off n-gram language model read from an ARPA file.

    Parameters
    ----------
    path : str or os.PathLike
        An ARPA file (plain text, as KenLM's ``lmplz`` writes). Malformed files raise
        ValueError naming the file and the line.

    Attributes
    ----------
    order : int
        The highest n-gram order.
    vocab : list of str
        The words, in the order of the 1-gram section. ``<unk>`` is added, with log10
        probability -100 as KenLM does, when the file does not list it.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from lucid.decoder import NGramLM
    >>> arpa = '''\\\\data\\\\
    ... ngram 1=4
    ... ngram 2=2
    ...
    ... \\\\1-grams:
    ... -1.0 <s> -0.5
    ... -0.5 </s>
    ... -0.5 hi -0.2
    ... -2.0 <unk>
    ...
    ... \\\\2-grams:
    ... -0.1 <s> hi
    ... -0.2 hi </s>
    ...
    ... \\\\end\\\\
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.arpa"
    >>> _ = path.write_text(arpa)
    >>> lm = NGramLM(path)
    >>> lm.order, lm.vocab
    (2, ['<s>', '</s>', 'hi', '<unk>'])
    >>> round(lm.log10_prob("hi"), 6)  # P(hi | <s>) P(</s> | hi): -0.1 - 0.2
    -0.3
    >>> round(lm.log10_prob("hi hi"), 6)  # P(hi | hi) backs off: -0.2 + -0.5
    -1.0
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        ngrams = _read_arpa(self.path)
        self.order = len(ngrams)
        self.vocab = [words[0] for words in ngrams[0]]
        if ("<unk>",) not in ngrams[0]:
            ngrams[0][("<unk>",)] = (_UNK_LOG10, 0.0)
            self.vocab.append("<unk>")
        self.word_index = {w: i for i, w in enumerate(self.vocab)}
        self.tables = _build_tables(ngrams, self.word_index)

    def __repr__(self) -> str:
        return f"NGramLM({self.path!r}, order={self.order}, words={len(self.vocab)})"

    def word_ids(self, words: Iterable[str]) -> np.ndarray:
        """The vocabulary index of each word; -1 for a word the model does not know."""
        return np.array([self.word_index.get(w, -1) for w in words], dtype=np.int64)

    def log_prob(self, sentence: str | Iterable[str], bos: bool = True, eos: bool = True
                 ) -> float:
        """ln P(sentence), the words scored in turn from ``<s>`` (if bos) and ending with
        ``</s>`` (if eos). A str is split on whitespace. Unknown words score as ``<unk>``."""
        words = sentence.split() if isinstance(sentence, str) else list(sentence)
        return _ctc_beam.lm_sentence_score(self.tables, self.word_ids(words), bool(bos),
                                           bool(eos))

    def log10_prob(self, sentence: str | Iterable[str], bos: bool = True, eos: bool = True
                   ) -> float:
        """:meth:`log_prob` in log10, what KenLM's ``Model.score`` returns."""
        return self.log_prob(sentence, bos, eos) / LN10


def _read_arpa(path: str) -> list[dict[tuple[str, ...], tuple[float, float]]]:
    """Per order, {words: (log10 prob, log10 backoff)}; ValueError with file:line if malformed."""
    counts: list[int] = []
    ngrams: list[dict[tuple[str, ...], tuple[float, float]]] = []
    section = "start"  # start -> data -> k-grams ... -> end
    order = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()

            def fail(message: str, lineno=lineno, line=line) -> ValueError:
                return ValueError(f"{path}:{lineno}: {message}, got {line[:80]!r}")

            if not line:
                continue
            if section == "start":
                if line != "\\data\\":
                    raise fail("an ARPA file must begin with \\data\\")
                section = "data"
            elif line.startswith("\\") and line.endswith("-grams:"):
                expected = len(ngrams) + 1
                if section == "data" and not counts:
                    raise fail("expected 'ngram N=count' lines after \\data\\")
                if line != f"\\{expected}-grams:":
                    raise fail(f"expected the section \\{expected}-grams:")
                if expected > len(counts):
                    raise fail(f"the \\data\\ header lists orders up to {len(counts)}")
                _check_count(ngrams, counts, path, lineno)
                ngrams.append({})
                section, order = "grams", expected
            elif line == "\\end\\":
                if section != "grams":
                    raise fail("\\end\\ before any n-gram section")
                _check_count(ngrams, counts, path, lineno)
                if len(ngrams) != len(counts):
                    raise fail(f"the \\data\\ header lists {len(counts)} orders but the file "
                               f"has {len(ngrams)} sections")
                section = "end"
                break
            elif section == "data":
                key, _, value = line.partition("=")
                if key.split() != ["ngram", str(len(counts) + 1)] or not value.strip().isdigit():
                    raise fail(f"expected 'ngram {len(counts) + 1}=count'")
                counts.append(int(value))
            elif section == "grams":
                parts = line.split()
                if len(parts) not in (order + 1, order + 2):
                    raise fail(f"a {order}-gram line holds a log10 probability, {order} "
                               f"word(s) and, optionally, a back-off weight")
                if len(parts) == order + 2 and order == len(counts):
                    raise fail(f"a back-off weight on a {order}-gram, the highest order")
                try:
                    prob = float(parts[0])
                    backoff = float(parts[order + 1]) if len(parts) == order + 2 else 0.0
                except ValueError:
                    raise fail("the log10 probability and back-off weight must be "
                               "numbers") from None
                if not (math.isfinite(backoff) and prob <= 0 and prob > -math.inf):
                    raise fail("a log10 probability must be finite and <= 0, a back-off "
                               "weight finite")
                words = tuple(parts[1: order + 1])
                if order > 1:
                    unlisted = [w for w in words if (w,) not in ngrams[0]]
                    if unlisted:
                        raise fail(f"the word {unlisted[0]!r} is not listed among the 1-grams")
                if words in ngrams[-1]:
                    raise fail(f"the {order}-gram {' '.join(words)!r} is listed twice")
                ngrams[-1][words] = (prob, backoff)
            else:
                raise fail("unexpected line")
    if section != "end":
        raise ValueError(f"{path}: the file ends before \\end\\ (truncated?)")
    return ngrams


def _check_count(ngrams, counts, path, lineno):
    if ngrams and len(ngrams[-1]) != counts[len(ngrams) - 1]:
        k = len(ngrams)
        raise ValueError(f"{path}:{lineno}: the \\data\\ header promises {counts[k - 1]} "
                         f"{k}-grams, but the \\{k}-grams: section has {len(ngrams[-1])}")


def _build_tables(ngrams, word_index) -> dict:
    """The hashed tables of the module docstring, as contiguous numpy arrays."""
    top = len(ngrams)
    states: dict[tuple[int, ...], int] = {(): 0}
    backoff = [0.0]
    coded = [{tuple(word_index[w] for w in words): value for words, value in table.items()}
             for table in ngrams]
    for table in coded[:-1]:
        for ids, (_, bo) in table.items():
            states[ids] = len(backoff)
            backoff.append(bo * LN10)
    for table in coded[1:]:  # a context not listed as an n-gram itself: a state, no backoff
        for ids in table:
            if ids[:-1] not in states:
                states[ids[:-1]] = len(backoff)
                backoff.append(0.0)

    def longest_state_suffix(ids):
        while ids not in states:
            ids = ids[1:]
        return states[ids]

    backoff_state = np.zeros(len(backoff), dtype=np.int64)
    for ids, s in states.items():
        if ids:
            backoff_state[s] = longest_state_suffix(ids[1:])
    n_words = len(word_index)
    keys, prob, next_state = [], [], []
    for order, table in enumerate(coded, 1):
        for ids, (p, _) in table.items():
            keys.append(states[ids[:-1]] * n_words + ids[-1])
            prob.append(p * LN10)
            next_state.append(states[ids] if order < top else longest_state_suffix(ids[1:]))
    keys_arr = np.array(keys, dtype=np.int64)
    table_keys, table_vals = _hash_table(keys_arr)
    bos = word_index.get("<s>")
    return {
        "keys": table_keys, "vals": table_vals, "n_words": n_words,
        "prob": np.array(prob, dtype=np.float64),
        "next_state": np.array(next_state, dtype=np.int64),
        "backoff": np.array(backoff, dtype=np.float64), "backoff_state": backoff_state,
        "unk": word_index["<unk>"],
        "bos_state": states.get((bos,), 0) if bos is not None else 0,
        "eos": word_index.get("</s>", word_index["<unk>"]),
    }


def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Open addressing with linear probing, filled in vectorised rounds: every key still
    unplaced tries its current slot; of those wanting a free slot the first takes it, the
    rest move on by one."""
    size = 2
    while size < 2 * len(keys):
        size *= 2
    mask = np.uint64(size - 1)
    table_keys = np.full(size, -1, dtype=np.int64)
    table_vals = np.full(size, -1, dtype=np.int64)
    with np.errstate(over="ignore"):
        slot = (((keys.astype(np.uint64) * _HASH_MULTIPLIER) >> _HASH_SHIFT) & mask)
    slot = slot.astype(np.int64)
    pending = np.arange(len(keys))
    while len(pending):
        free = table_keys[slot[pending]] == -1
        wants = pending[free]
        _, first = np.unique(slot[wants], return_index=True)
        placed = wants[first]
        table_keys[slot[placed]] = keys[placed]
        table_vals[slot[placed]] = placed
        pending = np.setdiff1d(pending, placed, assume_unique=True)
        slot[pending] = (slot[pending] + 1) & (size - 1)
    return table_keys, table_vals
