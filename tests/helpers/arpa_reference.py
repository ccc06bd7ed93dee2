"""A plain-Python ARPA reader, line by line with dicts, as the reference for NGramLM's compiled
one (lucid/_C/_arpa.pyx): the same tables, or a fault at the same line.

It reads the file the way the package documents: lines end at LF; a line of space, tab, VT,
FF and CR only is blank; fields split at space, tab and CR; numbers are plain decimals within
float32 range; every n-gram's context is listed; the first line at fault is reported, a
section's size is checked before its lines. States are numbered in file order, order by
order; a state's back-off state and a top n-gram's next state are found by trying every
proper suffix, longest first (the package follows the context's back-off chain instead)."""

import math
import re

LN10 = math.log(10.0)
LARGEST = 3.4028234663852886e38  # float32's largest
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
COUNT = re.compile(r"ngram[ \t]+([0-9]+)[ \t]*=[ \t]*([0-9]+)")
BLANK = " \t\n\v\f\r"
SEPARATORS = re.compile(r"[ \t\r]+")


class Fault(Exception):
    """The reference's verdict on a bad file: the 0-based line and what is wrong there."""

    def __init__(self, line, what):
        super().__init__(f"line {line + 1}: {what}")
        self.line, self.what = line, what


def read(text):
    """(order, vocab, tables) of an ARPA text; tables as NGramLM keeps them, except the hash
    table, given as "entry_keys": the key of each entry (and "seen", their set). Raises
    Fault."""
    lines = text.split("\n")
    i = next_nonblank(lines, 0)
    if i == len(lines) or lines[i].strip(BLANK) != "\\data\\":
        raise Fault(i, "header")
    counts = []
    i = next_nonblank(lines, i + 1)
    while i < len(lines) and not lines[i].startswith("\\"):
        count = COUNT.fullmatch(lines[i].strip(BLANK))
        if count is None or int(count[1]) != len(counts) + 1:
            raise Fault(i, "count")
        counts.append(int(count[2]))
        i = next_nonblank(lines, i + 1)
    if not counts:
        raise Fault(i, "count")
    order = len(counts)
    vocab, index, state = [], {}, {(): 0}
    t = {"entry_keys": [], "prob": [], "next_state": [], "backoff": [0.0], "backoff_state": [0]}
    for k in range(1, order + 1):
        if i == len(lines):
            raise Fault(len(lines), "truncated")
        if lines[i].strip(BLANK) != f"\\{k}-grams:":
            raise Fault(i, "section")
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("\\")),
                   len(lines))
        rows = [j for j in range(i + 1, end) if lines[j].strip(BLANK)]
        if len(rows) != counts[k - 1]:
            raise Fault(end, "size")
        for j in rows:
            words, prob, backoff = parse(lines[j], j, k, order, index)
            if k == 1:
                index[words[0]] = len(vocab)
                vocab.append(words[0])
            place(t, state, tuple(index[w] for w in words), prob, backoff, j, order, len(vocab))
        if k == 1 and "<unk>" not in index:  # added to the vocabulary, not to the 1-grams
            vocab.append("<unk>")
            place(t, state, (len(vocab) - 1,), -100.0, 0.0, None, order, len(vocab))
        i = end
    if i == len(lines):
        raise Fault(len(lines), "truncated")
    if lines[i].strip(BLANK) != "\\end\\":
        raise Fault(i, "end")
    unk = index.get("<unk>", len(vocab) - 1)
    t.update(n_words=len(vocab), unk=unk, eos=index.get("</s>", unk),
             bos_state=state.get((index["<s>"],), 0) if "<s>" in index else 0)
    return order, vocab, t


def parse(line, j, k, order, index):
    """The words, probability and back-off weight of k-gram line j."""
    fields = [f for f in SEPARATORS.split(line) if f]
    if len(fields) not in (k + 1, k + 2):
        raise Fault(j, "fields")
    if len(fields) == k + 2 and k == order:
        raise Fault(j, "top_backoff")
    prob = number(fields[0], j)
    if not -LARGEST <= prob <= 0:
        raise Fault(j, "bad_prob")
    backoff = number(fields[k + 1], j) if len(fields) == k + 2 else 0.0
    if not abs(backoff) <= LARGEST:
        raise Fault(j, "bad_backoff")
    words = fields[1: k + 1]
    if k == 1 and words[0] in index:
        raise Fault(j, "listed_twice")
    if k > 1 and any(w not in index for w in words):
        raise Fault(j, "unknown_word")
    return words, prob, backoff


def place(t, state, words, prob, backoff, line, order, V):
    """Add the n-gram's entry (and state) to the tables t, with V words (a 1-gram's key,
    its word, does not depend on V)."""
    if words[:-1] not in state:
        raise Fault(line, "no_context")
    key = state[words[:-1]] * V + words[-1]
    if key in t.setdefault("seen", set()):
        raise Fault(line, "listed_twice")
    t["seen"].add(key)
    suffix = next((state[words[d:]] for d in range(1, len(words)) if words[d:] in state), 0)
    t["entry_keys"].append(key)
    t["prob"].append(prob * LN10)
    if len(words) < order:
        state[words] = len(state)
        t["next_state"].append(state[words])
        t["backoff"].append(backoff * LN10)
        t["backoff_state"].append(suffix)
    else:
        t["next_state"].append(suffix)


def number(text, line):
    if not DECIMAL.fullmatch(text):
        raise Fault(line, "not_decimal")
    return float(text)


def next_nonblank(lines, i):
    while i < len(lines) and not lines[i].strip(BLANK):
        i += 1
    return i


# What NGramLM's message says for each of the reference's faults.
MESSAGES = {
    "header": "must begin with \\data\\", "count": "'ngram", "truncated": "ends before",
    "section": "expected the section", "size": "header promises",
    "fields": "line holds a log10 probability", "top_backoff": "the highest order",
    "not_decimal": "as a decimal number", "bad_prob": "expected a log10 probability",
    "bad_backoff": "expected a back-off weight", "listed_twice": "is listed twice",
    "unknown_word": "is not listed among the 1-grams", "no_context": "the context of this",
    "end": ("expected \\end\\", "lists orders up to"),
}
