"""NGramLM: ARPA reading and scoring, against KenLM's full-sentence scores and by hand."""

import itertools
import math

import numpy as np
import pytest
from helpers.decoding import write_arpa

from lucid.ctc import NGramLM


def random_trigram_arpa(path, rng, vocab=("a", "b", "c", "d", "e"), n3=25, n2=15):
    """A back-off trigram model with random weights whose n-gram sets are closed under
    prefixes and suffixes, as lmplz writes them (KenLM requires it)."""
    words = ["<s>", "</s>", "<unk>", *vocab]
    tri = {tuple(rng.choice(words[3:] + ["</s>"], 2).tolist()) for _ in range(n3)}
    tri = {("<s>" if rng.random() < 0.3 else rng.choice(vocab),) + t for t in tri}
    bi = {tuple(rng.choice(words[3:] + ["</s>"], 2).tolist()) for _ in range(n2)}
    bi |= {t[:2] for t in tri} | {t[1:] for t in tri} | {("<s>", vocab[0])}
    bi = {b for b in bi if b[0] != "</s>"}
    tri = {t for t in tri if t[:2] in bi and t[1:] in bi and "</s>" not in t[:2]}

    def weight():
        return float(-rng.uniform(0.05, 2.0))

    uni = {(w,): (weight() if w != "<s>" else -99.0, weight() if w != "</s>" else None)
           for w in words}
    bis = {b: (weight(), weight() if b[1] != "</s>" else None) for b in sorted(bi)}
    tris = {t: (weight(), None) for t in sorted(tri)}
    return write_arpa(path, [uni, bis, tris])


@pytest.fixture
def kenlm():
    return pytest.importorskip("kenlm")


@pytest.mark.parametrize("seed, size", [(0, 5), (1, 5), (2, 5), (3, 300)])
def test_sentence_scores_match_kenlm(tmp_path, kenlm, seed, size):
    """Small vocabularies hit every back-off path; 300 words and thousands of n-grams fill
    the hash table enough for long probe chains."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(size)] if size > 5 else ["a", "b", "c", "d", "e"]
    path = random_trigram_arpa(tmp_path / "lm.arpa", rng, vocab=tuple(vocab), n3=15 * size,
                               n2=10 * size)
    ours, theirs = NGramLM(path), kenlm.Model(str(path))
    sentences = [" ".join(rng.choice(vocab[:5] + ["zzz"] if size == 5 else vocab, size=n))
                 for n in (1, 2, 3, 5, 8, 13) for _ in range(6)]
    for sentence, bos, eos in itertools.product(sentences, (True, False), (True, False)):
        expected = theirs.score(sentence, bos=bos, eos=eos)
        assert ours.log10_prob(sentence, bos, eos) == pytest.approx(expected, abs=1e-4), \
            (sentence, bos, eos)
        assert ours.log_prob(sentence, bos, eos) == pytest.approx(expected * math.log(10),
                                                                  abs=1e-4 * math.log(10))


def test_pyctcdecode_sample_model_matches_kenlm(kenlm):
    pyctcdecode = pytest.importorskip("pyctcdecode")
    import pathlib

    path = pathlib.Path(pyctcdecode.__file__).parent / "tests" / "sample_data" / \
        "bugs_bunny_kenlm.arpa"
    if not path.exists():
        pytest.skip("pyctcdecode's sample ARPA file is not installed")
    ours, theirs = NGramLM(path), kenlm.Model(str(path))
    for sentence in ["bugs bunny", "bunny bugs", "bugs", "elmer fudd", "bugs bunny bugs"]:
        assert ours.log10_prob(sentence) == pytest.approx(theirs.score(sentence), abs=1e-4)


def test_scores_by_hand(tmp_path):
    """Katz backoff worked out from the file: P(w|u v) = P(w|v) * bo(u v) when 'u v w' is not
    listed, and so on down to the unigram."""
    uni = {("<s>",): (-99.0, -0.5), ("</s>",): (-1.0, None), ("x",): (-0.7, -0.3),
           ("y",): (-0.4, -0.2), ("<unk>",): (-3.0, None)}
    bi = {("<s>", "x"): (-0.2, -0.1), ("x", "y"): (-0.3, -0.4), ("y", "</s>"): (-0.25, None)}
    tri = {("<s>", "x", "y"): (-0.05, None)}
    lm = NGramLM(write_arpa(tmp_path / "lm.arpa", [uni, bi, tri]))
    assert lm.order == 3
    # <s> x y </s>: P(x|<s>) P(y|<s> x) P(</s>|x y) = -0.2 - 0.05 + (bo(x y) + P(</s>|y))
    assert lm.log10_prob("x y") == pytest.approx(-0.2 - 0.05 + (-0.4 - 0.25))
    # y x without <s>/</s>: P(y) P(x|y) = -0.4 + (bo(y) + P(x))
    assert lm.log10_prob("y x", bos=False, eos=False) == pytest.approx(-0.4 - 0.2 - 0.7)
    # an unknown word scores as <unk>, after backing off from <s>
    assert lm.log10_prob("q", eos=False) == pytest.approx(-0.5 - 3.0)


def test_missing_unk_gets_kenlms_default(tmp_path):
    uni = {("<s>",): (-99.0, None), ("</s>",): (-1.0, None), ("x",): (-0.5, None)}
    lm = NGramLM(write_arpa(tmp_path / "lm.arpa", [uni]))
    assert lm.vocab[-1] == "<unk>"
    assert lm.log10_prob("zzz", bos=False, eos=False) == pytest.approx(-100.0)


GOOD = "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1.0 <s> -0.1\n-0.5 a\n\n" \
       "\\2-grams:\n-0.2 <s> a\n\n\\end\\\n"


@pytest.mark.parametrize("edit, line, match", [
    (("\\data\\", "data"), 1, "must begin with \\\\data\\\\"),
    (("ngram 2=1", "ngram 2=x"), 3, "expected 'ngram 2=count'"),
    (("-0.5 a", "-0.5"), 7, "a 1-gram line holds a log10 probability, 1 word"),
    (("-0.5 a", "minus a"), 7, "expected the log10 probability as a decimal number"),
    (("-0.5 a", "0.5 a"), 7, "expected a log10 probability <= 0"),
    (("-0.2 <s> a", "-0.2 <s> a -0.3"), 10, "back-off weight on a 2-gram, the highest order"),
    (("ngram 1=2", "ngram 1=3"), 9, "promises 3 1-grams, but the \\\\1-grams: section has 2"),
    (("\\2-grams:", "\\3-grams:"), 9, "expected the section \\\\2-grams:"),
    (("-0.5 a", "-0.5 <s>"), 7, "'<s>' is listed twice"),
    (("-0.2 <s> a", "-0.2 <s> b"), 10, "'b' is not listed among the 1-grams"),
])
def test_malformed_files_name_the_line(tmp_path, edit, line, match):
    path = tmp_path / "bad.arpa"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ValueError, match=rf"bad.arpa:{line}: .*{match}"):
        NGramLM(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.arpa"
    path.write_text(GOOD.replace("\\end\\", ""))
    with pytest.raises(ValueError, match="ends before"):
        NGramLM(path)


def test_good_file_reads(tmp_path):
    path = tmp_path / "good.arpa"
    path.write_text(GOOD)
    lm = NGramLM(path)
    assert lm.log10_prob("a", eos=False) == pytest.approx(-0.2)


def test_empty_higher_order_and_missing_context(tmp_path):
    uni = {("<s>",): (-99.0, -0.5), ("</s>",): (-1.0, None), ("x",): (-0.7, -0.3)}
    lm = NGramLM(write_arpa(tmp_path / "empty.arpa", [uni, {}]))
    assert lm.log10_prob("x", eos=False) == pytest.approx(-0.5 - 0.7)
    bi = {("<s>", "x"): (-0.2, None)}
    tri = {("x", "x", "x"): (-0.1, None)}  # "x x" is not a 2-gram
    with pytest.raises(ValueError, match=r"missing.arpa:15: the context of this 3-gram is not"):
        NGramLM(write_arpa(tmp_path / "missing.arpa", [uni, bi, tri]))


# What KenLM reads, read the same way; what it would misread (or we would), refused by line.

@pytest.mark.parametrize("name, compress", [
    ("lm.arpa.gz", "gzip"), ("lm.arpa", "gzip"), ("lm.arpa.bz2", "bz2"), ("lm.arpa.xz", "lzma")])
def test_compressed_files_read_by_their_magic_bytes(tmp_path, name, compress):
    """As KenLM's util/read_compressed: the first bytes decide, not the name."""
    import importlib

    path = tmp_path / name
    path.write_bytes(importlib.import_module(compress).compress(GOOD.encode()))
    lm = NGramLM(path)
    assert lm.vocab == ["<s>", "a", "<unk>"]
    assert lm.log10_prob("a", eos=False) == pytest.approx(-0.2)


def test_corrupt_gzip_names_the_file(tmp_path):
    import gzip

    path = tmp_path / "cut.arpa.gz"
    path.write_bytes(gzip.compress(GOOD.encode())[:30])
    with pytest.raises(ValueError, match=r"cut.arpa.gz: .*gzip"):
        NGramLM(path)


@pytest.mark.parametrize("header", [b"mmap lm http://kheafield.com/code format version 5\n\0",
                                    b"mmap lm http://kheafield.com/code incomplete\n"])
def test_kenlm_binary_is_refused_with_what_to_do(tmp_path, header):
    path = tmp_path / "lm.binary"
    path.write_bytes(header + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"lm.binary: .*KenLM binary.*ARPA file it was built "
                                         r"from"):
        NGramLM(path)


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "latin1.arpa"
    path.write_bytes(GOOD.replace("-0.5 a", "-0.5 caf\xe9").replace("<s> a", "<s> caf\xe9")
                     .encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.arpa:7: expected UTF-8 text, got the byte "
                                         r"0xe9"):
        NGramLM(path)


@pytest.mark.parametrize("edit, line", [
    (("ngram 1=2", "ngram 1=\u00b2"), 2),  # superscript two: str.isdigit() says yes
    (("ngram 1=2", "ngram 1=\u0662"), 2),  # Arabic-Indic two: int() reads it as 2
    (("ngram 1=2", "ngram\u00a01=2"), 2),
    (("ngram 1=2", "ngram 1=2_0"), 2),
    (("ngram 1=2", "ngram \u0661=2"), 2),
])
def test_counts_are_ascii_digits(tmp_path, edit, line):
    path = tmp_path / "bad.arpa"
    path.write_text(GOOD.replace(*edit), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad.arpa:{line}: expected 'ngram 1=count'"):
        NGramLM(path)


@pytest.mark.parametrize("edit, line", [
    (("-0.5 a", "-1e308 a"), 7),  # finite in log10, -inf in ln
    (("-0.5 a", "-1e39 a"), 7),  # beyond float32, where KenLM keeps it: -inf there
    (("-0.1\n", "-1e39\n"), 6),  # KenLM: "Bad backoff"
    (("-0.5 a", "-0_5 a"), 7),  # float() allows underscores
    (("-0.5 a", "-\u0660.\u0665 a"), 7),  # and Arabic-Indic digits
    (("-0.1\n", "-0.1\u00a0\n"), 6),  # and surrounding Unicode whitespace
    (("-0.1\n", "-0.1\u2003\n"), 6),
    (("-0.5 a", "nan a"), 7),
    (("-0.1\n", "nan\n"), 6),
    (("-0.5 a", "-inf a"), 7),
    (("-0.5 a", "-infinity a"), 7),
    (("-0.1\n", "-Infinity\n"), 6),
    (("-0.5 a", "0x1p-3 a"), 7),
])
def test_numbers_are_plain_finite_decimals(tmp_path, edit, line):
    path = tmp_path / "bad.arpa"
    path.write_text(GOOD.replace(*edit), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad.arpa:{line}: "):
        NGramLM(path)


@pytest.mark.parametrize("number", ["-99", "-1.5e-3", "-.5", "-5.", "-0", "+0", "-3E+00",
                                    "-3.4e38"])
def test_decimal_forms_that_are_read(tmp_path, number):
    path = tmp_path / "ok.arpa"
    path.write_text(GOOD.replace("-1.0 <s>", f"{number} <s>"))
    assert NGramLM(path).log10_prob("<s>", bos=False, eos=False) == pytest.approx(
        float(number))


def test_crlf_lines(tmp_path):
    path = tmp_path / "dos.arpa"
    path.write_bytes(GOOD.replace("\n", "\r\n").encode())
    lm = NGramLM(path)
    assert lm.vocab == ["<s>", "a", "<unk>"]
    assert lm.log10_prob("a", eos=False) == pytest.approx(-0.2)


SPACE_LIKE = ["\u00a0", "\u3000", "\u2003", "\x1f", "\x85"]  # whitespace to Python, not to KenLM


def word_arpa(path, word):
    uni = {("<s>",): (-99.0, -0.5), ("</s>",): (-1.0, None), ("a",): (-0.7, -0.3),
           ("b",): (-0.9, -0.3), (word,): (-1.5, -0.2), ("<unk>",): (-3.0, None)}
    bi = {("<s>", word): (-0.1, None), (word, "</s>"): (-0.05, None), ("a", "b"): (-0.4, None)}
    return write_arpa(path, [uni, bi])


@pytest.mark.parametrize("space", SPACE_LIKE)
def test_unicode_space_inside_a_word_is_part_of_it(tmp_path, space):
    """KenLM splits ARPA fields at space, tab and CR only (kARPASpaces in lm/read_arpa.cc), and
    a sentence at ASCII whitespace only (kSpaces): 'a<nbsp>b' is one word, 'a b' two."""
    word = f"a{space}b"
    lm = NGramLM(word_arpa(tmp_path / "lm.arpa", word))
    assert lm.vocab == ["<s>", "</s>", "a", "b", word, "<unk>"]
    assert lm.word_ids([word, "a", "b"]).tolist() == [4, 2, 3]
    assert lm.log10_prob(word) == pytest.approx(-0.1 - 0.05)
    assert lm.log10_prob([word]) == pytest.approx(-0.1 - 0.05)
    assert lm.log10_prob("a b") == pytest.approx(-0.5 - 0.7 - 0.4 + (-1.0 - 0.3))
    assert lm.log10_prob(f"a \t{word}\n", bos=False, eos=False) == pytest.approx(-0.7 - 0.3 - 1.5)


@pytest.mark.parametrize("space", ["\u00a0", "\u3000"])
def test_unicode_space_inside_a_word_matches_kenlm(tmp_path, kenlm, space):
    word = f"a{space}b"
    path = word_arpa(tmp_path / "lm.arpa", word)
    ours, theirs = NGramLM(path), kenlm.Model(str(path))
    for sentence in [word, "a b", f"{word} a b {word}", f"b{space}a", f"a {word}{space}"]:
        for bos, eos in itertools.product((True, False), (True, False)):
            assert ours.log10_prob(sentence, bos, eos) == pytest.approx(
                theirs.score(sentence, bos=bos, eos=eos), abs=1e-4), (sentence, bos, eos)


def test_decoder_finds_a_word_with_a_no_break_space(tmp_path):
    """The word-level decoder looks LM words up by their exact text: a no-break space is a
    token like any other, the word delimiter splits words."""
    import lucid
    from lucid.ctc import ctc_decoder

    word = "a\u00a0b"
    lm = NGramLM(word_arpa(tmp_path / "lm.arpa", word))
    tokens = ["-", "|", "a", "b", "\u00a0"]
    lp = lucid.tensor(np.log([[0.1, 0.1, 0.6, 0.1, 0.1],
                              [0.1, 0.4, 0.1, 0.1, 0.3],  # the delimiter, acoustically
                              [0.1, 0.1, 0.1, 0.6, 0.1]]))
    decoder = ctc_decoder(None, tokens, lm=lm, beam_size=20, lm_weight=2.0, unk_word_score=-5.0)
    hyp = decoder(lp, 3)[0]
    assert hyp.words == [word]


def test_every_other_whitespace_is_part_of_a_word(tmp_path):
    """Every character Python calls whitespace, but space, tab, CR and LF, is part of a word
    in an ARPA file (VT and FF too: only a line of nothing else is blank)."""
    import sys

    others = [c for c in map(chr, range(sys.maxunicode + 1))
              if c.isspace() and c not in " \t\r\n"]
    assert len(others) == 25
    words = [f"a{c}b" for c in others] + [f"{c}" for c in others if c not in "\v\f"]
    uni = {("<s>",): (-99.0, None), ("</s>",): (-1.0, None), ("<unk>",): (-2.0, None),
           **{(w,): (-1.5, None) for w in words}}
    lm = NGramLM(write_arpa(tmp_path / "lm.arpa", [uni]))
    assert lm.vocab == ["<s>", "</s>", "<unk>", *words]
