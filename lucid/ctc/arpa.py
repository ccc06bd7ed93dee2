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

The file is read as KenLM reads it: gzip, bzip2 and xz files are recognised by their first
bytes, fields are separated by spaces and tabs only (a no-break space is part of a word), and
numbers must be plain ASCII decimals within float32 range, where KenLM keeps them. What KenLM
would read differently, or what Python's int() and float() would quietly accept besides
(other scripts' digits, underscores, nan, inf), is refused with the file and line.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import os
import re
import zipfile
import zlib
from collections.abc import Iterable

import numpy as np

from lucid._C import _ctc_beam

LN10 = math.log(10.0)
_UNK_LOG10 = -100.0  # KenLM's probability for <unk> when a file does not list it
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # must match hash_find in _ctc_beam.pyx
_HASH_SHIFT = np.uint64(17)

# What KenLM's util/read_compressed recognises by a file's first bytes, whatever its name.
_DECOMPRESS = {b"\x1f\x8b": ("gzip", gzip.decompress), b"BZh": ("bzip2", bz2.decompress),
               b"\xfd7zXZ\x00": ("xz", lzma.decompress)}
_KENLM_BINARY = b"mmap lm http://kheafield.com/code"  # build_binary's magic, lm/binary_format.cc

# KenLM splits an ARPA line into fields at space, tab and CR only (kARPASpaces in
# lm/read_arpa.cc), and skips lines of C isspace() characters. str.split() splits at every
# Unicode whitespace (no-break space, U+3000, U+001F, ...), so it serves only for a text that
# holds no whitespace but those (the fast case: a substring test is a memchr, and instant on
# ASCII text); any other text is split by the _FIELD pattern. _OTHER_WHITESPACE is every
# character str.isspace() accepts but space, tab, CR and LF (tests/decoding/test_arpa.py checks it).
_BLANK = " \t\n\v\f\r"
_FIELD = re.compile(r"[^ \t\r]+")
_OTHER_WHITESPACE = ("\v\f\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                     "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# KenLM's Model.score splits a sentence at ASCII whitespace (kSpaces in util/spaces.cc).
_SENTENCE_WORD = re.compile(r"[^ \t\n\v\f\r]+")

_COUNT = re.compile(r"ngram[ \t]+([0-9]+)[ \t]*=[ \t]*([0-9]+)")
# float() also reads other scripts' digits, '_', nan, inf and surrounding Unicode whitespace;
# an ARPA number is a plain decimal. _DECIMAL_CHARS is the fast check for a whole section,
# the _DECIMAL pattern finds the line at fault.
_DECIMAL_CHARS = b"0123456789.eE+-"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# KenLM keeps weights as float32, so a larger magnitude is infinite there (and its ln may
# overflow a double here); log10 0 is written -99 by convention.
_LARGEST = float(np.finfo(np.float32).max)


class NGramLM:
    """A back-off n-gram language model read from an ARPA file.

    Parameters
    ----------
    path : str or os.PathLike
        An ARPA file (UTF-8 text, as KenLM's ``lmplz`` writes), or one compressed with gzip,
        bzip2 or xz (recognised by its first bytes, as KenLM does), or lucid's own binary
        form written by :meth:`save` (recognised by its first bytes too; it loads many times
        faster). KenLM's binary format is not read. Fields are separated by spaces and tabs
        only, as KenLM separates them: a no-break space is part of a word. Malformed files
        raise ValueError naming the file and the line.

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
    >>> from lucid.ctc import NGramLM
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
        with open(self.path, "rb") as f:
            binary = f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
        if binary:
            self.order, vocab, self.tables = _read_binary(self.path)
        else:
            vocab, orders = _read_arpa(self.path)
            self.order = len(orders)
            if "<unk>" not in vocab:
                vocab.append("<unk>")
                words, prob, backoff, lines = orders[0]
                orders[0] = (np.append(words, [[len(vocab) - 1]], axis=0),
                             np.append(prob, _UNK_LOG10), np.append(backoff, 0.0),
                             np.append(lines, 0))
        self.vocab = vocab
        self.word_index = {w: i for i, w in enumerate(vocab)}
        if not binary:
            self.tables = _build_tables(orders, self.word_index, self.path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NGramLM:
        """The model written by :meth:`save` (``NGramLM(path)`` reads it as well, by its
        first bytes); ValueError if the file is damaged or was not written by :meth:`save`."""
        return cls(path)

    def save(self, path: str | os.PathLike) -> None:
        """Write the tables and the vocabulary as an uncompressed .npz (numpy arrays only,
        read back without pickle), which loads many times faster than the ARPA file parses.
        The format is lucid's own: KenLM does not read it."""
        meta = np.array([_BINARY_VERSION, self.order] + [self.tables[name] for name in _SCALARS],
                        dtype=np.int64)
        vocab = np.frombuffer("\n".join(self.vocab).encode("utf-8"), dtype=np.uint8)
        with open(path, "wb") as f:  # a file object, so that numpy adds no .npz to the name
            np.savez(f, lucid_ngram_lm=meta, vocab_utf8=vocab,
                     **{name: self.tables[name] for name in _ARRAYS})

    def __repr__(self) -> str:
        return f"NGramLM({self.path!r}, order={self.order}, words={len(self.vocab)})"

    def word_ids(self, words: Iterable[str]) -> np.ndarray:
        """The vocabulary index of each word; -1 for a word the model does not know."""
        return np.array([self.word_index.get(w, -1) for w in words], dtype=np.int64)

    def log_prob(self, sentence: str | Iterable[str], bos: bool = True, eos: bool = True
                 ) -> float:
        """ln P(sentence), the words scored in turn from ``<s>`` (if bos) and ending with
        ``</s>`` (if eos). A str is split at ASCII whitespace, as KenLM's ``Model.score``
        splits it (a no-break space is part of a word). Unknown words score as ``<unk>``."""
        words = split_words(sentence) if isinstance(sentence, str) else list(sentence)
        return _ctc_beam.lm_sentence_score(self.tables, self.word_ids(words), bool(bos),
                                           bool(eos))

    def log10_prob(self, sentence: str | Iterable[str], bos: bool = True, eos: bool = True
                   ) -> float:
        """:meth:`log_prob` in log10, what KenLM's ``Model.score`` returns."""
        return self.log_prob(sentence, bos, eos) / LN10


def split_words(text: str) -> list[str]:
    """The words of text, split at ASCII whitespace as KenLM's ``Model.score`` splits a
    sentence: a no-break space, or any other Unicode space, is part of a word."""
    return _SENTENCE_WORD.findall(text)


def _read_text(path: str) -> str:
    """The file's text, decompressed if it is compressed; ValueError for a KenLM binary file,
    a damaged compressed file and bytes that are not UTF-8."""
    with open(path, "rb") as f:
        data = f.read()
    for magic, (name, decompress) in _DECOMPRESS.items():
        if data.startswith(magic):
            try:
                data = decompress(data)
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
                raise ValueError(f"{path}: expected a {name} file (it begins as one), but it "
                                 f"does not decompress: {e}") from None
            break
    if data.startswith(_KENLM_BINARY):
        raise ValueError(f"{path}: expected an ARPA file, got a KenLM binary file (made by "
                         f"build_binary), which lucid does not read and KenLM cannot turn back "
                         f"into ARPA; pass the ARPA file it was built from (compressed with "
                         f"gzip, if size matters)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        got = " ".join(f"0x{b:02x}" for b in data[e.start: e.end])
        raise ValueError(f"{path}:{line}: expected UTF-8 text, got the byte {got} ({e.reason});"
                         f" convert the file to UTF-8") from None


class _Lines:
    """The file's lines, and errors that name one of them."""

    def __init__(self, path: str):
        self.path = path
        self.full = _read_text(path)
        self.text = self.full.split("\n")
        # without other whitespace, str.split() splits as KenLM does: sections split in bulk
        self.bulk = not any(c in self.full for c in _OTHER_WHITESPACE)
        self.fields = str.split if self.bulk else _FIELD.findall

    def error(self, i: int, message: str) -> ValueError:
        """ValueError for line i (0-based) of the file."""
        line = self.text[i].strip(_BLANK) if i < len(self.text) else ""
        return ValueError(f"{self.path}:{i + 1}: {message}, got {line[:80]!r}")

    def next_nonblank(self, i: int) -> int:
        while i < len(self.text) and not self.text[i].strip(_BLANK):
            i += 1
        return i


def _read_arpa(path: str) -> tuple[list[str], list[tuple]]:
    """The vocabulary (the 1-grams' words, in order) and, per order k, the n-grams as arrays:
    word indices (M, k), log10 probabilities (M,), log10 back-off weights (M,) and the
    0-based line of each. ValueError naming the file and line if the file is malformed."""
    lines = _Lines(path)
    text = lines.text
    i = lines.next_nonblank(0)
    if i == len(text) or text[i].strip(_BLANK) != "\\data\\":
        raise lines.error(i, "an ARPA file must begin with \\data\\")
    counts = []
    i = lines.next_nonblank(i + 1)
    while i < len(text) and not text[i].startswith("\\"):
        count = _COUNT.fullmatch(text[i].strip(_BLANK))
        if count is None or int(count[1]) != len(counts) + 1:
            raise lines.error(i, f"expected 'ngram {len(counts) + 1}=count' (ASCII digits)")
        counts.append(int(count[2]))
        i = lines.next_nonblank(i + 1)
    if not counts:
        raise lines.error(i, "expected 'ngram N=count' lines after \\data\\")
    vocab: list[str] = []
    index: dict[str, int] = {}
    orders = []
    marks = _lines_beginning_with_backslash(lines)
    for k in range(1, len(counts) + 1):
        if i == len(text):
            raise ValueError(f"{path}: the file ends before \\end\\ (truncated?)")
        if text[i].strip(_BLANK) != f"\\{k}-grams:":
            raise lines.error(i, f"expected the section \\{k}-grams:")
        first = i + 1
        i = next((line for line in marks if line > i), len(text))
        section = lines.bulk and _parse_section_in_bulk(
            lines, first, i, k, k == len(counts), counts[k - 1], vocab, index)
        if not section:  # other whitespace, or an error to find line by line
            rows = [j for j in range(first, i) if text[j].strip(_BLANK)]
            section = _parse_section(lines, rows, k, k == len(counts), counts[k - 1], i,
                                     vocab, index)
        orders.append(section)
    if i == len(text):
        raise ValueError(f"{path}: the file ends before \\end\\ (truncated?)")
    if text[i].strip(_BLANK) != "\\end\\":
        if text[i].strip(_BLANK).endswith("-grams:"):
            raise lines.error(i, f"the \\data\\ header lists orders up to {len(counts)}")
        raise lines.error(i, "expected \\end\\")
    return vocab, orders


def _lines_beginning_with_backslash(lines) -> list[int]:
    """The 0-based numbers of the lines that begin with a backslash (the section headers),
    found with str.find in the whole text rather than line by line."""
    full = lines.full
    starts = [0] if full.startswith("\\") else []
    pos = full.find("\n\\")
    while pos != -1:
        starts.append(pos + 1)
        pos = full.find("\n\\", pos + 1)
    marks, line, counted = [], 0, 0
    for start in starts:
        line += full.count("\n", counted, start)
        counted = start
        marks.append(line)
    return marks


# ASCII space, tab, CR and LF: where KenLM splits fields (and lines) when no other whitespace
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 13, 32]] = True


def _parse_section_in_bulk(lines, first, end, k, top, count, vocab, index):
    """What _parse_section returns for lines first..end-1 of a file that holds no whitespace
    but space, tab, CR and LF, split and converted a section at a time; None wherever the
    section is not well formed, for _parse_section to find the line at fault."""
    chunk = "\n".join(lines.text[first:end])
    fields = chunk.split()
    data = np.frombuffer(chunk.encode("utf-8"), dtype=np.uint8)
    separator = _SEPARATOR[data]
    field_starts = np.flatnonzero(~separator & np.concatenate(([True], separator[:-1])))
    # fields before each line's end, the last line ending where the chunk does
    before = np.searchsorted(field_starts, np.append(np.flatnonzero(data == 10), len(data)))
    per_line = np.diff(before, prepend=0)
    rows = np.flatnonzero(per_line)
    per_line = per_line[rows]
    if len(rows) != count or len(fields) != per_line.sum():
        return None
    if not ((per_line == k + 1) | ((per_line == k + 2) & (not top))).all():
        return None
    fields = np.array(fields, dtype=object)
    start = np.cumsum(per_line) - per_line
    prob_text = fields[start].tolist()
    backoff_text = fields[(start + k + 1)[per_line == k + 2]].tolist()
    if not (_decimal_chars_only(prob_text) and _decimal_chars_only(backoff_text)):
        return None
    try:
        prob = np.array(prob_text, dtype=np.float64)
        backoff = np.zeros(len(rows))
        backoff[per_line == k + 2] = np.array(backoff_text, dtype=np.float64)
    except ValueError:
        return None
    if _bad_prob(prob).any() or _bad_backoff(backoff).any():
        return None
    words = fields[start[:, None] + np.arange(1, k + 1)].ravel().tolist()
    if k == 1:
        if len(set(words)) != len(words) or any(w in index for w in words):
            return None
        index.update(zip(words, range(len(vocab), len(vocab) + len(words))))
        vocab.extend(words)
        ids = np.arange(len(vocab) - len(words), len(vocab), dtype=np.int64)
    else:
        try:
            ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        except KeyError:
            return None
    return ids.reshape(len(rows), k), prob, backoff, first + rows


def _parse_section(lines, rows, k, top, count, end, vocab, index):
    """One \\k-grams: section (its non-blank lines at 0-based indices rows); see _read_arpa."""
    fields = lines.fields
    parts = [fields(lines.text[j]) for j in rows]
    bad = next((r for r, p in enumerate(parts) if len(p) != k + 1 and len(p) != k + 2), None)
    if bad is not None:
        raise lines.error(rows[bad], f"a {k}-gram line holds a log10 probability, {k} word(s) "
                                     f"and, optionally, a back-off weight")
    if top:
        bad = next((r for r, p in enumerate(parts) if len(p) == k + 2), None)
        if bad is not None:
            raise lines.error(rows[bad], f"a back-off weight on a {k}-gram, the highest order")
    if len(parts) != count:
        raise lines.error(end, f"the \\data\\ header promises {count} {k}-grams, but the "
                               f"\\{k}-grams: section has {len(parts)}")
    prob_text = [p[0] for p in parts]
    # a missing back-off weight is log10 1; the highest order has none (refused above)
    backoff_text = [] if top else [p[k + 1] if len(p) == k + 2 else "0" for p in parts]
    if not (_decimal_chars_only(prob_text) and _decimal_chars_only(backoff_text)):
        raise _not_decimal(lines, rows, parts, k)
    try:
        prob = np.array(prob_text, dtype=np.float64)
        backoff = np.zeros(len(parts)) if top else np.array(backoff_text, dtype=np.float64)
    except ValueError:
        raise _not_decimal(lines, rows, parts, k) from None
    bad = _bad_prob(prob)
    if bad.any():
        raise lines.error(rows[int(np.argmax(bad))], f"expected a log10 probability <= 0 and "
                                                     f"finite, at least {-_LARGEST:.4g} (-99 "
                                                     f"stands for log10 0)")
    bad = _bad_backoff(backoff)
    if bad.any():
        raise lines.error(rows[int(np.argmax(bad))], f"expected a back-off weight finite, of "
                                                     f"magnitude at most {_LARGEST:.4g}")
    if k == 1:
        for r, p in enumerate(parts):
            if p[1] in index:
                raise lines.error(rows[r], f"the 1-gram {p[1]!r} is listed twice")
            index[p[1]] = len(vocab)
            vocab.append(p[1])
        words = np.arange(len(vocab), dtype=np.int64)[:, None]
    else:
        try:
            words = np.array([[index[w] for w in p[1: k + 1]] for p in parts], dtype=np.int64)
        except KeyError as missing:
            r = next(r for r, p in enumerate(parts) if missing.args[0] in p[1: k + 1])
            raise lines.error(rows[r], f"the word {missing.args[0]!r} is not listed among the "
                                       f"1-grams") from None
        words = words.reshape(len(parts), k)
    return words, prob, backoff, np.array(rows, dtype=np.int64)


def _bad_prob(prob: np.ndarray) -> np.ndarray:
    """Where a log10 probability is not one KenLM keeps: above 0, beyond float32, or NaN."""
    return ~((prob <= 0) & (prob >= -_LARGEST))


def _bad_backoff(backoff: np.ndarray) -> np.ndarray:
    """Where a log10 back-off weight is beyond float32 (or NaN)."""
    return ~(np.abs(backoff) <= _LARGEST)


def _decimal_chars_only(texts: list[str]) -> bool:
    joined = "".join(texts)
    return joined.isascii() and not joined.encode().translate(None, _DECIMAL_CHARS)


def _not_decimal(lines, rows, parts, k) -> ValueError:
    """ValueError for the first k-gram line whose probability or back-off weight is not a
    decimal number."""
    r, what, number = next((r, what, number) for r, p in enumerate(parts)
                           for what, number in zip(("log10 probability", "back-off weight"),
                                                   p[:1] + p[k + 1:])
                           if not _DECIMAL.fullmatch(number))
    return lines.error(rows[r], f"expected the {what} as a decimal number such as -1.25 or "
                                f"-2e-05 (ASCII digits, no nan, inf or _; log10 0 is written "
                                f"-99), but it is {number!r}")


def _build_tables(orders, word_index, path) -> dict:
    """The hashed tables of the module docstring, as contiguous numpy arrays.

    States are numbered order by order: 0 is the empty context, then every n-gram of order
    below the highest, in file order. An n-gram's key is (state of its first k-1 words) * V +
    its last word; those keys, sorted per order, also serve to find the state of any word
    sequence, one word at a time."""
    V = len(word_index)
    top = len(orders)
    first_state = np.cumsum([1] + [len(o[0]) for o in orders[:-1]])  # of each order's n-grams
    sorted_keys, key_rows = [], []  # per order

    def states_of(words):
        """State of each row of words (M, j): -1 where some prefix is not an n-gram."""
        state = np.zeros(len(words), dtype=np.int64)
        for j in range(words.shape[1]):
            if len(sorted_keys[j]) == 0:
                return np.full(len(words), -1, dtype=np.int64)
            key = state * V + words[:, j]
            pos = np.searchsorted(sorted_keys[j], key).clip(max=len(sorted_keys[j]) - 1)
            found = (sorted_keys[j][pos] == key) & (state >= 0) & (j < top - 1)
            state = np.where(found, first_state[j] + key_rows[j][pos], -1)
        return state

    def longest_suffix_state(words):
        """State of the longest proper suffix of each row that is a state (0 at worst)."""
        state = np.zeros(len(words), dtype=np.int64)
        todo = np.arange(len(words))
        for drop in range(1, words.shape[1]):
            found = states_of(words[todo, drop:])
            state[todo[found >= 0]] = found[found >= 0]
            todo = todo[found < 0]
        return state

    all_keys, probs, next_state, backoff, backoff_state = [], [], [], [np.zeros(1)], [
        np.zeros(1, dtype=np.int64)]
    for k, (words, prob, bo, rows) in enumerate(orders, 1):
        context = states_of(words[:, :-1]) if k > 1 else np.zeros(len(words), dtype=np.int64)
        if (context < 0).any():
            r = int(np.argmax(context < 0))
            raise ValueError(f"{path}:{rows[r] + 1}: the context of this {k}-gram is not "
                             f"listed as a {k - 1}-gram")
        keys = context * V + words[:, -1]
        order = np.argsort(keys, kind="stable")
        dup = np.flatnonzero(keys[order][1:] == keys[order][:-1])
        if len(dup):
            r = int(order[dup[0] + 1])
            raise ValueError(f"{path}:{rows[r] + 1}: the {k}-gram "
                             f"{' '.join(_words(words[r], word_index))!r} is listed twice")
        sorted_keys.append(keys[order])
        key_rows.append(order)
        all_keys.append(keys)
        probs.append(prob * LN10)
        if k < top:
            next_state.append(first_state[k - 1] + np.arange(len(words)))
            backoff.append(bo * LN10)
            backoff_state.append(longest_suffix_state(words))
        else:
            next_state.append(longest_suffix_state(words))
    keys = np.concatenate(all_keys)
    table_keys, table_vals = _hash_table(keys)
    bos, eos, unk = word_index.get("<s>"), word_index.get("</s>"), word_index["<unk>"]
    bos_state = 0
    if bos is not None and top > 1:
        bos_state = int(states_of(np.array([[bos]], dtype=np.int64))[0])
    return {
        "keys": table_keys, "vals": table_vals, "n_words": V,
        "prob": np.concatenate(probs), "next_state": np.concatenate(next_state),
        "backoff": np.concatenate(backoff), "backoff_state": np.concatenate(backoff_state),
        "unk": unk, "bos_state": max(bos_state, 0), "eos": unk if eos is None else eos,
    }


# The binary form (NGramLM.save): an .npz, a zip file, whose member lucid_ngram_lm holds the
# format version, the order and the tables' scalars; vocab_utf8 the words joined by newlines
# (a word never holds one: lines end there).
_ZIP_MAGIC = b"PK\x03\x04"
_BINARY_VERSION = 1
_SCALARS = ("n_words", "unk", "bos_state", "eos")
_ARRAYS = {"keys": np.int64, "vals": np.int64, "prob": np.float64, "next_state": np.int64,
           "backoff": np.float64, "backoff_state": np.int64}


def _read_binary(path: str) -> tuple[int, list[str], dict]:
    """The order, vocabulary and tables of a file written by NGramLM.save, checked so that
    no index in them can lead the beam search out of its arrays or into an endless loop."""
    def damaged(why):
        return ValueError(f"{path}: expected a language model written by NGramLM.save, "
                          f"but {why}; save it again from the ARPA file")

    try:
        with np.load(path, allow_pickle=False) as npz:
            if "lucid_ngram_lm" not in npz.files:
                raise damaged("it is a zip file without lucid's header")
            arrays = {name: npz[name] for name in ("lucid_ngram_lm", "vocab_utf8", *_ARRAYS)}
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise damaged(f"it does not read as one ({type(e).__name__}: {e})") from None
    except ValueError as e:
        raise damaged(f"it does not read as one ({e})") from None
    meta = arrays.pop("lucid_ngram_lm")
    if meta.dtype != np.int64 or meta.shape != (2 + len(_SCALARS),):
        raise damaged(f"its header is {meta.dtype} of shape {meta.shape}")
    if meta[0] != _BINARY_VERSION:
        raise damaged(f"it is format version {meta[0]}, this lucid reads {_BINARY_VERSION}")
    for name, dtype in _ARRAYS.items():
        if arrays[name].dtype != dtype or arrays[name].ndim != 1:
            raise damaged(f"{name} is {arrays[name].dtype} of {arrays[name].ndim} dimension(s)")
    if arrays["vocab_utf8"].dtype != np.uint8:
        raise damaged(f"vocab_utf8 is {arrays['vocab_utf8'].dtype}")
    try:
        vocab = arrays.pop("vocab_utf8").tobytes().decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise damaged("its vocabulary is not UTF-8") from None
    order = int(meta[1])
    tables = dict(arrays, **{name: int(v) for name, v in zip(_SCALARS, meta[2:])})
    keys, vals, prob = tables["keys"], tables["vals"], tables["prob"]
    n_states = len(tables["backoff"])
    used = keys != -1
    checks = [  # in turn: each may rely on the ones before
        (lambda: order >= 1, "its order is below 1"),
        (lambda: tables["n_words"] == len(vocab) and len(set(vocab)) == len(vocab),
         "its vocabulary does not match its word count or repeats a word"),
        (lambda: len(keys) >= 2 and len(keys) & (len(keys) - 1) == 0 and len(vals) == len(keys),
         "its hash table's size is not a power of two"),
        (lambda: not used.all() and (keys >= -1).all(), "its hash table has no free slot"),
        (lambda: ((vals[used] >= 0) & (vals[used] < len(prob))).all(), "an entry is out of range"),
        (lambda: len(tables["next_state"]) == len(prob) and n_states >= 1
         and len(tables["backoff_state"]) == n_states, "its tables differ in length"),
        (lambda: ((tables["next_state"] >= 0) & (tables["next_state"] < n_states)).all(),
         "a next state is out of range"),
        # a context backs off to a shorter one, numbered lower: the chain ends at state 0
        (lambda: tables["backoff_state"][0] == 0
         and ((tables["backoff_state"][1:] >= 0)
              & (tables["backoff_state"][1:] < np.arange(1, n_states))).all(),
         "a back-off state is out of order"),
        (lambda: 0 <= tables["unk"] < len(vocab) and 0 <= tables["eos"] < len(vocab)
         and 0 <= tables["bos_state"] < n_states, "a word or state is out of range"),
    ]
    for ok, why in checks:
        if not ok():
            raise damaged(why)
    return order, vocab, tables


def _words(ids, word_index):
    names = {i: w for w, i in word_index.items()}
    return [names[i] for i in ids]


def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Open addressing with linear probing, filled at once: with the keys in order of their
    home slot, each goes to its home slot or just past the one before it, whichever is later
    (a running maximum); the few pushed past the end wrap round to the first free slots."""
    size = 2
    while size < 2 * len(keys):
        size *= 2
    mask = np.uint64(size - 1)
    table_keys = np.full(size, -1, dtype=np.int64)
    table_vals = np.full(size, -1, dtype=np.int64)
    with np.errstate(over="ignore"):
        home = (((keys.astype(np.uint64) * _HASH_MULTIPLIER) >> _HASH_SHIFT) & mask)
    by_home = np.argsort(home.astype(np.int64), kind="stable")
    step = np.arange(len(keys))
    slot = np.maximum.accumulate(home[by_home].astype(np.int64) - step) + step
    inside = slot < size
    table_keys[slot[inside]] = keys[by_home[inside]]
    table_vals[slot[inside]] = by_home[inside]
    free = 0
    for entry in by_home[~inside].tolist():  # all slots from its home to the end are taken
        while table_keys[free] != -1:
            free += 1
        table_keys[free], table_vals[free] = keys[entry], entry
    return table_keys, table_vals
