"""The decoder's word trie and word splitting, built with numpy, against plain Python.

The references below insert spellings one by one into nested dicts, and split a token
sequence token by token: the straightforward way the arrays and words are defined. The
vocabulary is real English: every word of the docstrings and comments of a few standard
library modules (several thousand words, shared prefixes, apostrophes).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re

import numpy as np
import pytest

from lucid.ctc import ctc_decoder
from lucid.ctc.beam import CTCHypothesis, WordSpan
from lucid.ctc.decoder import _flatten, _spell_words, _word_trie

LABELS = ["-", "|", *"abcdefghijklmnopqrstuvwxyz", "'"]


def english_words() -> list[str]:
    words: dict[str, None] = {}
    for name in ("argparse", "collections", "json", "logging", "pathlib", "re", "shutil",
                 "subprocess", "threading", "typing", "inspect", "difflib"):
        text = inspect.getsource(importlib.import_module(name)).lower()
        words.update(dict.fromkeys(re.findall(r"[a-z']+", text)))
    return list(words)


def reference_trie(spellings, word_index, hot):
    """Nested dicts, one spelling at a time: nodes numbered as they are made."""
    children, word_at, bonus, shortest = [{}], [-2], [0.0], [(math.inf, 0.0)]
    for word, spelled_all in spellings.items():
        for spelled in spelled_all:
            node = 0
            for position, symbol in enumerate(spelled, 1):
                if symbol not in children[node]:
                    children[node][symbol] = len(children)
                    children.append({})
                    word_at.append(-2)
                    bonus.append(0.0)
                    shortest.append((math.inf, 0.0))
                node = children[node][symbol]
                if word in hot and len(spelled) < shortest[node][0]:
                    shortest[node] = (len(spelled), hot[word] * position / len(spelled))
            word_at[node] = word_index.get(word, -1)
            bonus[node] = hot.get(word, 0.0)
    pairs = [sorted(c.items()) for c in children]
    return {"trie_start": np.cumsum([0] + [len(c) for c in children]),
            "trie_token": np.array([t for p in pairs for t, _ in p], dtype=np.int64),
            "trie_child": np.array([n for p in pairs for _, n in p], dtype=np.int64),
            "trie_word": np.array(word_at, dtype=np.int64),
            "trie_bonus": np.array(bonus), "trie_lookahead": np.array([b for _, b in shortest])}


def assert_same(got, want):
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == np.asarray(want[key]).dtype or key == "trie_start", key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize("with_hotwords", [False, True])
def test_trie_of_an_english_vocabulary(with_hotwords):
    words = english_words()
    assert len(words) > 2000
    index = {t: i for i, t in enumerate(LABELS)}
    rng = np.random.default_rng(0)
    word_index = {w: i for i, w in enumerate(words) if rng.random() < 0.8}
    hot = {w: float(rng.normal()) for w in rng.choice(words, 50)} if with_hotwords else {}
    spelled = _spell_words(words, index, {0, 1}, by_char=False)
    spellings = {w: [[index[ch] for ch in w]] for w in words}
    assert spelled[0] == words
    assert_same(_word_trie(*spelled, word_index, hot), reference_trie(spellings, word_index, hot))


def test_trie_with_homophones_and_several_spellings():
    rng = np.random.default_rng(1)
    for _ in range(300):
        spellings = {}
        for _ in range(rng.integers(0, 10)):
            word = f"w{rng.integers(6)}"
            spellings.setdefault(word, []).append(
                rng.choice([2, 3, 5, 70000], rng.integers(1, 6)).tolist())
        word_index = {w: i for i, w in enumerate(spellings) if rng.random() < 0.7}
        hot = {w: float(rng.choice([1.0, -2.5, 3.25])) for w in spellings if rng.random() < 0.4}
        assert_same(_word_trie(*_flatten(spellings), word_index, hot),
                    reference_trie(spellings, word_index, hot))


def test_spell_words_keeps_what_tokens_spell():
    index = {t: i for i, t in enumerate(["-", "|", "a", "b", "ab", "é"])}
    words = ["a", "ab", "", "abc", "a|b", "é", "b-", "ba"]
    kept, symbols, lengths = _spell_words(words, index, {0, 1}, by_char=False)
    assert kept == ["a", "ab", "é", "ba"]
    assert symbols.tolist() == [2, 2, 3, 5, 3, 2] and lengths.tolist() == [1, 2, 1, 2]
    kept, symbols, lengths = _spell_words(words, index, {0, 1}, by_char=True)
    assert kept == [w for w in words if w]
    assert symbols.tolist() == [ord(ch) for w in kept for ch in w]


def reference_words_and_spans(decoder, hyp, token_logps):
    """Token by token: pieces cut at the delimiter and before word-starting tokens."""
    tokens, starts = hyp.tokens.tolist(), decoder._word_start
    if decoder.sil is None and starts is None:  # no word boundaries: no words
        return [], []
    pieces = [[]]
    for position, i in enumerate(tokens):
        if i == decoder.sil:
            pieces.append([])
        elif starts is not None and starts[i]:
            pieces.append([position])
        else:
            pieces[-1].append(position)
    words, spans, frames = [], [], hyp.timesteps.tolist()
    for piece in pieces:
        text = "".join(decoder.tokens[tokens[p]][1 if starts is not None and
                                                 starts[tokens[p]] else 0:] for p in piece)
        if decoder._word_of is None:
            word = text or None
        else:
            key = text if starts is not None else tuple(tokens[p] for p in piece)
            word = decoder._word_of.get(key)
        if piece and word is not None:
            words.append(word)
            worst = min(float(token_logps[p]) for p in piece)
            spans.append(WordSpan(word, frames[piece[0]], frames[piece[-1]] + 1,
                                  math.exp(worst)))
    return words, spans


@pytest.mark.parametrize("make", [
    lambda: ctc_decoder(None, ["-", "|", "a", "b", "ab"]),
    lambda: ctc_decoder(None, ["-", "|", "a", "b", ""]),
    lambda: ctc_decoder(["a", "ab", "ba", "b"], ["-", "|", "a", "b", "ab"]),
    lambda: ctc_decoder(None, ["-", "▁a", "b", "▁", "a"], sil_token=None),
    lambda: ctc_decoder(None, ["-", "|", "▁a", "b", "▁", "a"]),
    lambda: ctc_decoder(["a", "ab", "ba", "b"], ["-", "▁a", "b", "▁b", "a"], sil_token=None),
    lambda: ctc_decoder(None, ["-", "a", "b"], sil_token=None),
])
def test_words_and_spans_token_by_token(make):
    decoder = make()
    rng = np.random.default_rng(2)
    for _ in range(500):
        n = int(rng.integers(0, 12))
        hyp = CTCHypothesis(tokens=rng.integers(1, len(decoder.tokens), n), score=0.0,
                            timesteps=np.sort(rng.choice(100, n, replace=False)))
        logps = rng.choice([-np.inf, -0.5, -3.0, -0.125], n)
        want = reference_words_and_spans(decoder, hyp, logps)
        assert decoder._words_and_spans(hyp, logps) == want
        assert decoder.words(hyp.tokens) == want[0]
