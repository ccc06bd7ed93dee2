"""NGramLM: ARPA reading and scoring, against KenLM's full-sentence scores and by hand."""

import itertools
import math

import numpy as np
import pytest

from lucid.decoder import NGramLM


def write_arpa(path, ngrams):
    """ngrams: per order, {words tuple: (log10 prob, log10 backoff or None)}."""
    lines = ["\\data\\"] + [f"ngram {k}={len(t)}" for k, t in enumerate(ngrams, 1)]
    for k, table in enumerate(ngrams, 1):
        lines += ["", f"\\{k}-grams:"]
        for words, (p, bo) in table.items():
            lines.append(f"{p:.6f}\t{' '.join(words)}" + ("" if bo is None else f"\t{bo:.6f}"))
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


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
    (("-0.5 a", "minus a"), 7, "must be numbers"),
    (("-0.5 a", "0.5 a"), 7, "finite and <= 0"),
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
