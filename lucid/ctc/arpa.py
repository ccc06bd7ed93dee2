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
(other scripts' digits, underscores, nan, inf), is refused with the file and line. This module
reads the header and checks the sections' sizes; lucid/_C/_arpa.pyx reads the n-gram lines
and builds the tables as it goes (its design note says how).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import mmap as _mmap
import os
import re
import struct
import zlib
from collections.abc import Iterable

import numpy as np

from lucid._C import _arpa, _ctc_beam

LN10 = math.log(10.0)

# What KenLM's util/read_compressed recognises by a file's first bytes, whatever its name.
_DECOMPRESS = {b"\x1f\x8b": ("gzip", gzip.decompress), b"BZh": ("bzip2", bz2.decompress),
               b"\xfd7zXZ\x00": ("xz", lzma.decompress)}
_KENLM_BINARY = b"mmap lm http://kheafield.com/code"  # build_binary's magic, lm/binary_format.cc
_ZIP = b"PK\x03\x04"

# KenLM skips lines of C isspace() characters and splits the others into fields at space, tab
# and CR only (kARPASpaces in lm/read_arpa.cc); lucid/_C/_arpa.pyx does the same for the
# n-gram lines, _FIELD for the line an error quotes.
_BLANK = " \t\n\v\f\r"
_FIELD = re.compile(r"[^ \t\r]+")
# KenLM's Model.score splits a sentence at ASCII whitespace (kSpaces in util/spaces.cc).
_SENTENCE_WORD = re.compile(r"[^ \t\n\v\f\r]+")

_COUNT = re.compile(r"ngram[ \t]+([0-9]+)[ \t]*=[ \t]*([0-9]+)")
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
    mmap : bool, default True
        For lucid's binary form: memory-map the file rather than read it (see :meth:`load`).

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

    def __init__(self, path: str | os.PathLike, *, mmap: bool = True):
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            binary = f.read(len(_MAGIC)) == _MAGIC
        if binary:
            self.order, self.vocab, self.word_index, self.tables = _read_binary(self.path, mmap)
        else:
            self.order, self.vocab, self.tables = _read_arpa(self.path)
            self.word_index = dict(zip(self.vocab, range(len(self.vocab))))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> NGramLM:
        """The model written by :meth:`save` (``NGramLM(path)`` reads it as well, by its
        first bytes); ValueError if the file is damaged or was not written by :meth:`save`.

        The file is memory-mapped read-only unless ``mmap=False``: loading costs a checksum
        and a check of every index (nothing is copied), and processes that load the same
        file share its memory. A mapped file must not be changed in place while the model
        is in use; :meth:`save` never does that (it writes a new file and renames it), but
        copying another file over it would. ``mmap=False`` reads the file into memory."""
        return cls(path, mmap=mmap)

    def save(self, path: str | os.PathLike) -> None:
        """Write the model in lucid's own binary form: the tables as the beam search uses
        them and the vocabulary, with a checksum. It loads many times faster than the ARPA
        file parses, without running any code from the file (no pickle); KenLM does not
        read it."""
        _write_binary(path, self.order, self.vocab, self.tables)

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


def _read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed if it is compressed; ValueError for a KenLM binary file,
    a zip file, a damaged compressed file and bytes that are not UTF-8."""
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
    if data.startswith(_ZIP):
        raise ValueError(f"{path}: expected an ARPA file or a language model written by "
                         f"NGramLM.save, got a zip file (such as an .npz), which NGramLM does "
                         f"not read; save the model again from its ARPA file")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            got = " ".join(f"0x{b:02x}" for b in data[e.start: e.end])
            raise ValueError(f"{path}:{line}: expected UTF-8 text, got the byte {got} "
                             f"({e.reason}); convert the file to UTF-8") from None
    return data


class _Text:
    """The file's bytes, walked a line at a time where needed, and errors that quote a line.
    A line is named by its number (0-based) and the offset of its first byte; past the last
    line, the offset is len(data) + 1 and the line is empty."""

    def __init__(self, path: str, data: bytes):
        self.path, self.data = path, data

    def line(self, pos: int) -> str:
        end = self.data.find(b"\n", pos)
        return self.data[pos: end if end >= 0 else len(self.data)].decode("utf-8")

    def next_line(self, pos: int) -> int:
        end = self.data.find(b"\n", pos)
        return end + 1 if end >= 0 else len(self.data) + 1

    def nonblank(self, pos: int, line: int) -> tuple[int, int]:
        """The first line from this one on that holds more than blanks."""
        while pos <= len(self.data) and not self.line(pos).strip(_BLANK):
            pos, line = self.next_line(pos), line + 1
        return pos, line

    def error(self, line: int, pos: int, message: str) -> ValueError:
        return ValueError(f"{self.path}:{line + 1}: {message}, got "
                          f"{self.line(pos).strip(_BLANK)[:80]!r}")


def _read_arpa(path: str) -> tuple[int, list[str], dict]:
    """The order, the vocabulary (the 1-grams' words, in order) and the tables of an ARPA
    file. ValueError naming the file and line if the file is malformed."""
    text = _Text(path, _read_bytes(path))
    data = text.data
    pos, line = text.nonblank(0, 0)
    if text.line(pos).strip(_BLANK) != "\\data\\":
        raise text.error(line, pos, "an ARPA file must begin with \\data\\")
    counts = []
    pos, line = text.nonblank(text.next_line(pos), line + 1)
    while pos <= len(data) and data[pos: pos + 1] != b"\\":
        count = _COUNT.fullmatch(text.line(pos).strip(_BLANK))
        if count is None or int(count[1]) != len(counts) + 1:
            raise text.error(line, pos, f"expected 'ngram {len(counts) + 1}=count' (ASCII "
                                        f"digits)")
        counts.append(int(count[2]))
        pos, line = text.nonblank(text.next_line(pos), line + 1)
    if not counts:
        raise text.error(line, pos, "expected 'ngram N=count' lines after \\data\\")
    # the lines that begin with a backslash: each section's header, then \end\
    marks, offsets, rows, n_lines = _arpa.scan_sections(data, pos)
    marks, n_lines = [line + m for m in marks], line + n_lines
    reader = _arpa.Reader(data, [rows[k] if k < len(rows) else 0 for k in range(len(counts))])
    truncated = ValueError(f"{path}: the file ends before \\end\\ (truncated?)")
    for k in range(1, len(counts) + 1):
        if k > len(marks):
            raise truncated
        if text.line(offsets[k - 1]).strip(_BLANK) != f"\\{k}-grams:":
            raise text.error(marks[k - 1], offsets[k - 1], f"expected the section \\{k}-grams:")
        end_line, end = ((marks[k], offsets[k]) if k < len(marks)
                         else (n_lines, len(data) + 1))
        if rows[k - 1] != counts[k - 1]:
            raise text.error(end_line, end, f"the \\data\\ header promises {counts[k - 1]} "
                                            f"{k}-grams, but the \\{k}-grams: section has "
                                            f"{rows[k - 1]}")
        fault = reader.read_section(k, min(text.next_line(offsets[k - 1]), len(data)),
                                    min(end, len(data)), marks[k - 1] + 1)
        if fault is not None:
            raise _line_error(text, k, *fault)
    if len(counts) == len(marks):
        raise truncated
    last = text.line(offsets[len(counts)]).strip(_BLANK)
    if last != "\\end\\":
        where = marks[len(counts)], offsets[len(counts)]
        if last.endswith("-grams:"):
            raise text.error(*where, f"the \\data\\ header lists orders up to {len(counts)}")
        raise text.error(*where, "expected \\end\\")

    vocab, tables = reader.vocabulary(), reader.tables()
    if tables["n_words"] > len(vocab):
        vocab.append("<unk>")  # with KenLM's log10 probability, -100
    bos, eos, unk = (reader.word_number(w) for w in (b"<s>", b"</s>", b"<unk>"))
    unk = len(vocab) - 1 if unk < 0 else unk
    tables.update(unk=unk, eos=unk if eos < 0 else eos,
                  bos_state=1 + bos if bos >= 0 and len(counts) > 1 else 0)
    return len(counts), vocab, tables


def _line_error(text: _Text, k: int, what: int, line: int, pos: int, field: int
                ) -> ValueError:
    """The error lucid/_C/_arpa.pyx found in a k-gram line, in words."""
    fields = _FIELD.findall(text.line(pos))
    e = _arpa.ERRORS
    if what == e["fields"]:
        message = (f"a {k}-gram line holds a log10 probability, {k} word(s) and, optionally, "
                   f"a back-off weight")
    elif what == e["top_backoff"]:
        message = f"a back-off weight on a {k}-gram, the highest order"
    elif what == e["not_decimal"]:
        name = "log10 probability" if field == 0 else "back-off weight"
        message = (f"expected the {name} as a decimal number such as -1.25 or -2e-05 (ASCII "
                   f"digits, no nan, inf or _; log10 0 is written -99), but it is "
                   f"{fields[field]!r}")
    elif what == e["bad_prob"]:
        message = (f"expected a log10 probability <= 0 and finite, at least {-_LARGEST:.4g} "
                   f"(-99 stands for log10 0)")
    elif what == e["bad_backoff"]:
        message = f"expected a back-off weight finite, of magnitude at most {_LARGEST:.4g}"
    elif what == e["listed_twice"]:
        message = f"the {k}-gram {' '.join(fields[1: k + 1])!r} is listed twice"
    elif what == e["unknown_word"]:
        message = f"the word {fields[field]!r} is not listed among the 1-grams"
    else:
        message = f"the context of this {k}-gram is not listed as a {k - 1}-gram"
    return text.error(line, pos, message)


# lucid's binary form (NGramLM.save): _MAGIC, the _HEADER fields (little-endian int64), then
# the arrays of _ARRAYS (little-endian) and the vocabulary (UTF-8, the words joined by LF,
# which no word holds), each at an offset that is a multiple of _ALIGN, zero bytes between;
# last, after zero bytes to a multiple of 8, the checksum of all that comes before it
# (lucid/_C/_arpa.pyx's checksum), a little-endian uint64.
_MAGIC = b"lucid-NGramLM\r\n\x1a"  # CR LF and ^Z: a transfer in text mode shows
_BINARY_VERSION = 2
_FIELDS = ("version", "order", "n_words", "unk", "bos_state", "eos", "slots", "entries",
           "states", "vocab_bytes")
_HEADER = struct.Struct(f"<{len(_FIELDS)}q")
_CHECKSUM = struct.Struct("<Q")
_SCALARS = ("n_words", "unk", "bos_state", "eos")
_ARRAYS = (("keys", "<i8", "slots"), ("vals", "<i8", "slots"), ("prob", "<f8", "entries"),
           ("next_state", "<i8", "entries"), ("backoff", "<f8", "states"),
           ("backoff_state", "<i8", "states"))
_ALIGN = 64


def _layout(header: dict) -> tuple[dict, int]:
    """Where each array, the vocabulary and the checksum begin, and the file's size."""
    def aligned(n, to=_ALIGN):
        return -(-n // to) * to

    at = aligned(len(_MAGIC) + _HEADER.size)
    offsets = {}
    for name, _, count in _ARRAYS:
        offsets[name] = at
        at = aligned(at + 8 * header[count])
    offsets["vocab"] = at
    offsets["checksum"] = aligned(at + header["vocab_bytes"], 8)
    return offsets, offsets["checksum"] + _CHECKSUM.size


def _write_binary(path: str | os.PathLike, order: int, vocab: list[str], tables: dict) -> None:
    """Write the file to a temporary name beside path, then rename it to path: a model
    memory-mapped from an older file at path keeps reading that one."""
    words = "\n".join(vocab).encode("utf-8")
    header = {"version": _BINARY_VERSION, "order": order,
              **{name: int(tables[name]) for name in _SCALARS},
              "slots": len(tables["keys"]), "entries": len(tables["prob"]),
              "states": len(tables["backoff"]), "vocab_bytes": len(words)}
    offsets, size = _layout(header)
    parts = [np.ascontiguousarray(tables[name], dtype=dtype) for name, dtype, _ in _ARRAYS]
    path = os.fspath(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w+b") as f:
            f.write(_MAGIC + _HEADER.pack(*header.values()))
            starts = [offsets[name] for name, _, _ in _ARRAYS] + [offsets["vocab"]]
            for start, part in zip(starts, [*parts, words]):
                f.write(bytes(start - f.tell()))
                f.write(part)
            f.write(bytes(offsets["checksum"] - f.tell()))
            f.flush()
            with _mmap.mmap(f.fileno(), offsets["checksum"], access=_mmap.ACCESS_READ) as m:
                f.write(_CHECKSUM.pack(_arpa.checksum(m)))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _read_binary(path: str, mmap: bool = True) -> tuple[int, list[str], dict, dict]:
    """The order, vocabulary, word index and tables of a file written by NGramLM.save,
    memory-mapped or read, and checked so that no index in them can lead the beam search
    out of its arrays or into an endless loop."""
    def damaged(why):
        return ValueError(f"{path}: expected a language model written by NGramLM.save, "
                          f"but {why}; save it again from the ARPA file")

    start = len(_MAGIC) + _HEADER.size
    with open(path, "rb") as f:
        head = f.read(start)
        if len(head) < start:
            raise damaged("it ends inside its header")
        header = dict(zip(_FIELDS, _HEADER.unpack_from(head, len(_MAGIC))))
        if header["version"] != _BINARY_VERSION:
            raise damaged(f"it is format version {header['version']}, this lucid reads "
                          f"{_BINARY_VERSION}")
        if min(header[name] for name in ("slots", "entries", "states", "vocab_bytes")) < 0:
            raise damaged("its header gives a negative size")
        offsets, size = _layout(header)
        actual = os.fstat(f.fileno()).st_size
        if actual != size:  # checked before anything is mapped or allocated
            raise damaged(f"it is {actual} bytes long, where its header says {size}")
        body = _map(f, size) if mmap else None
        if body is None:
            body = np.empty(size, dtype=np.uint8)
            f.seek(0)
            if f.readinto(body) != size:
                raise damaged("it changed while it was read")
    end = offsets["checksum"]
    if _arpa.checksum(body[:end]) != _CHECKSUM.unpack(body[end:].tobytes())[0]:
        raise damaged("its checksum does not match its contents (a damaged copy?)")
    tables = {name: body[offsets[name]:][: 8 * header[count]].view(dtype)
              .astype(dtype[1:], copy=False) for name, dtype, count in _ARRAYS}
    tables.update({name: header[name] for name in _SCALARS})
    try:
        vocab = body[offsets["vocab"]:][: header["vocab_bytes"]].tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise damaged("its vocabulary is not UTF-8") from None
    vocab = vocab.split("\n")
    word_index = dict(zip(vocab, range(len(vocab))))
    failed = _check_tables(header["order"], vocab, word_index, tables)
    if failed:
        raise damaged(failed)
    return header["order"], vocab, word_index, tables


def _map(f, size: int) -> np.ndarray | None:
    """The file's bytes, memory-mapped read-only; None where it cannot be mapped."""
    try:
        return np.frombuffer(_mmap.mmap(f.fileno(), size, access=_mmap.ACCESS_READ),
                             dtype=np.uint8)
    except (OSError, ValueError, OverflowError):
        return None


def _check_tables(order: int, vocab: list[str], word_index: dict, tables: dict) -> str | None:
    """Why the tables could lead the beam search astray, or None."""
    n_states = len(tables["backoff"])
    if order < 1:
        return "its order is below 1"
    if tables["n_words"] != len(vocab) or len(word_index) != len(vocab):
        return "its vocabulary does not match its word count or repeats a word"
    if len(tables["keys"]) < 2 or len(tables["keys"]) & (len(tables["keys"]) - 1):
        return "its hash table's size is not a power of two"
    if n_states == 0:
        return "it has no states"
    failed = _arpa.check_tables(tables["keys"], tables["vals"], tables["next_state"],
                                tables["backoff_state"])
    if failed:
        return ("its hash table has no free slot", "an entry is out of range",
                "a next state is out of range", "a back-off state is out of order")[failed - 1]
    if not (0 <= tables["unk"] < len(vocab) and 0 <= tables["eos"] < len(vocab)
            and 0 <= tables["bos_state"] < n_states):
        return "a word or state is out of range"
    return None
