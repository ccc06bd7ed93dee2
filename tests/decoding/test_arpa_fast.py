"""NGramLM's compiled reader against a plain-Python one (tests/helpers/arpa_reference.py) on
random ARPA texts, well formed and damaged; against KenLM's scores on random models and
sentences; and its binary form (NGramLM.save), which loads back the same model or refuses a
damaged file."""

import math
import random
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import arpa_reference as reference
from helpers.decoding import write_arpa
from hypothesis import given, settings
from hypothesis import strategies as st

import lucid
from lucid.ctc import NGramLM, arpa, ctc_decoder

# words with what an ARPA reader could get wrong: non-ASCII letters, Unicode spaces (part of
# a word to KenLM), VT (blank only on a line of its own), the special words
PIECES = ["a", "b", "cd", "\u00e9", "\u65e5\u672c", "x\u00a0y", "q\u3000r", "w\x1fz", "v\x0bu",
          "e\x85f", "0", "-1"]
SPECIAL = ["<s>", "</s>", "<unk>"]
NUMBERS = ["{:.6f}", "{:.3e}", "{!r}", "{:.2E}", "{:.20f}", "{:.1f}"]


def number(rng, value):
    """value written in one of the ways ARPA writers write numbers, or an odd one."""
    if rng.random() < 0.1:
        return rng.choice(["-0", "+0", "-99", "-.5", "-5.", "-0.0e0", "-1e-320",
                           "-123456789012345678901234", "-0.30102999566398119521373889472",
                           "-3.4e38", "-9007199254740993", "-1.5e-22", "-1e23"])
    text = rng.choice(NUMBERS).format(value)
    return text if text[0] in "+-" or rng.random() < 0.5 else "+" + text


def random_arpa(rng):
    """An ARPA text: a random model whose n-gram sets are closed under prefixes, written with
    mixed separators, blank lines, CRs and number formats."""
    order = rng.randint(1, 4)
    vocab = sorted({"".join(rng.choices(PIECES, k=rng.randint(1, 2)))
                    for _ in range(rng.randint(1, 8))})
    vocab += [w for w in SPECIAL if rng.random() < 0.7]
    rng.shuffle(vocab)
    grams = [{(w,) for w in vocab}]
    for _ in range(2, order + 1):
        grams.append({g + (rng.choice(vocab),) for g in grams[-1] for _ in range(2)
                      if rng.random() < 0.5})
    lines = ["\\data\\"] + [f"ngram {n}={len(g)}" for n, g in enumerate(grams, 1)]
    for n, section in enumerate(grams, 1):
        lines += [rng.choice(["", " \v", "\t\r"]), f"\\{n}-grams:"]
        for g in sorted(section):
            fields = [number(rng, -rng.uniform(0, 3)), *g]
            if n < order and rng.random() < 0.7:
                fields.append(number(rng, rng.uniform(-2, 1)))
            line = fields[0]
            for field in fields[1:]:
                line += rng.choice([" ", "\t", "  ", " \t "]) + field
            lines.append(line + rng.choice(["", "", "\r", " "]))
            if rng.random() < 0.05:
                lines.append(rng.choice(["", "  ", "\f"]))
    lines += ["", "\\end\\", ""]
    return lines


JUNK = ["nan", "inf", "-inf", "1e", "--1", "1.2.3", "0x1p-3", "-1_0", "-\u0663", "", "+", "e5",
        ".", "-\u00a01", "zzz", "1e+", "-.e1", "+-1"]
OUT_OF_RANGE = ["-1e400", "-1e39", "0.5", "1e39", "3.5e38", "1e-30"]


def damage(rng, lines):
    """The lines with one random fault (or a change that leaves them well formed)."""
    lines = list(lines)
    i = rng.randrange(len(lines))
    kind = rng.randrange(10)
    if kind < 2:  # a field replaced, most often a number
        fields = lines[i].split(" ")
        where = rng.choice([0, -1, rng.randrange(len(fields))])
        fields[where] = rng.choice(JUNK if rng.random() < 0.5 else OUT_OF_RANGE)
        lines[i] = " ".join(fields)
    elif kind == 2:
        del lines[i]
    elif kind == 3:
        lines.insert(i, lines[i])
    elif kind == 4:  # a field more or less
        lines[i] = lines[i] + rng.choice([" -0.5", " a", ""]) if rng.random() < 0.5 else \
            " ".join(lines[i].split()[:-1])
    elif kind == 5:  # a count changed
        lines = [re.sub(r"=(\d+)", lambda m: f"={int(m[1]) + rng.choice([-1, 1])}", line)
                 if line.startswith("ngram") and rng.random() < 0.5 else line for line in lines]
    elif kind == 6:  # the end cut off
        lines = lines[: i]
    elif kind == 7:  # a word swapped for another, maybe unknown
        fields = lines[i].split()
        if len(fields) > 1:
            fields[1] = rng.choice(PIECES + SPECIAL + ["unknown"])
        lines[i] = "\t".join(fields)
    elif kind == 8:
        lines.insert(i, rng.choice(["\\2-grams:", "\\end\\", "\\data\\", "ngram 1=1", " \v "]))
    else:  # two lines swapped: a context may now come after its n-gram's section
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return recount(lines) if kind in (2, 3, 9) and rng.random() < 0.8 else lines


def recount(lines):
    """The lines with the header's counts made those of the sections (where it can)."""
    lines, counts, k = list(lines), {}, None
    for line in lines:
        header = re.fullmatch(r"\\(\d+)-grams:", line)
        if header or line.startswith("\\"):
            k = int(header[1]) if header else None
        elif k is not None and line.strip(" \t\n\v\f\r"):
            counts[k] = counts.get(k, 0) + 1
    return [f"ngram {line[6:].split('=')[0]}={counts.get(int(line[6:].split('=')[0]), 0)}"
            if re.fullmatch(r"ngram \d+=\d+", line) else line for line in lines]


def outcome(text):
    """NGramLM's and the reference's verdicts on text."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lm.arpa"
        path.write_bytes(text.encode("utf-8"))
        try:
            ours = NGramLM(path)
        except ValueError as e:
            ours = str(e)
    try:
        theirs = reference.read(text)
    except reference.Fault as fault:
        theirs = fault
    return ours, theirs


def probe(keys, vals, key):
    """hash_find of lucid/_C/_ctc_beam.pyx, in Python."""
    mask = len(keys) - 1
    i = int(((key * 0x9E3779B97F4A7C15) % 2**64 >> 17) & mask)
    while keys[i] != -1:
        if keys[i] == key:
            return int(vals[i])
        i = (i + 1) & mask
    return -1


def assert_same_model(ours, theirs):
    order, vocab, t = theirs
    assert ours.order == order and ours.vocab == vocab
    for name in ("prob", "next_state", "backoff", "backoff_state"):
        assert ours.tables[name].tolist() == t[name], name
    for name in ("n_words", "unk", "eos", "bos_state"):
        assert ours.tables[name] == t[name], name
    keys, vals = ours.tables["keys"], ours.tables["vals"]
    assert len(keys) & (len(keys) - 1) == 0 and len(keys) >= 2 * len(t["entry_keys"])
    assert (keys != -1).sum() == len(t["entry_keys"])
    assert [probe(keys, vals, key) for key in t["entry_keys"]] == list(range(len(t["prob"])))


def assert_same_verdict(ours, theirs):
    if isinstance(theirs, reference.Fault):
        assert isinstance(ours, str), f"the reference finds {theirs}, NGramLM reads the file"
        expected = reference.MESSAGES[theirs.what]
        assert any(e in ours for e in ([expected] if isinstance(expected, str) else expected)), \
            (ours, theirs)
        if theirs.what != "truncated":
            assert f"lm.arpa:{theirs.line + 1}: " in ours, (ours, theirs)
    else:
        assert not isinstance(ours, str), f"NGramLM refuses a file the reference reads: {ours}"
        assert_same_model(ours, theirs)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**63), damaged=st.booleans())
def test_compiled_reader_agrees_with_the_reference(seed, damaged):
    rng = random.Random(seed)
    lines = random_arpa(rng)
    if damaged:
        lines = damage(rng, lines)
    assert_same_verdict(*outcome("\n".join(lines)))


def test_the_random_texts_reach_every_verdict():
    """The agreement above means little unless the damaged texts hit every kind of fault."""
    seen = set()
    for seed in range(3000):
        rng = random.Random(seed)
        lines = random_arpa(rng)
        try:
            reference.read("\n".join(damage(rng, lines) if seed % 2 else lines))
            seen.add("read")
        except reference.Fault as fault:
            seen.add(fault.what)
    assert seen == {"read", *reference.MESSAGES}


@pytest.mark.parametrize("text", ["-0.1", "-1e-320", "-2.2250738585072011e-308", "-1e23",
                                  "-9007199254740993", "-0.000000000000000000000000000001",
                                  "-123456789012345678901234567890", "-1.5e-22", "-1.5e22",
                                  "-4.9e-324", "-3.4028234663852886e38", "-0.1e1", "-10e-1",
                                  "-00000000000000000000000000000000.5",
                                  "-0.30102999566398119521373889472449302676818988"])
def test_numbers_are_read_as_float_reads_them(tmp_path, text):
    """The compiled reader's fast path (an exact integer times an exact power of ten) and
    its fall-back to Python's conversion both give float()'s correctly rounded value."""
    path = tmp_path / "lm.arpa"
    path.write_text(f"\\data\\\nngram 1=2\n\n\\1-grams:\n{text} a\n-1 <unk>\n\n\\end\\\n")
    assert NGramLM(path).tables["prob"][0] == float(text) * math.log(10.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**63))
def test_random_models_score_as_kenlm(seed):
    """Models laid out as lmplz writes them (every n-gram of a corpus, so closed under
    prefixes and suffixes, as KenLM needs), with random weights, on random sentences."""
    kenlm = pytest.importorskip("kenlm")
    rng = random.Random(seed)
    order = rng.randint(2, 5)  # KenLM reads no 1-gram model
    vocab = [f"w{i}" for i in range(rng.randint(1, 30))]
    corpus = [["<s>", *rng.choices(vocab, k=rng.randint(0, 12)), "</s>"]
              for _ in range(rng.randint(1, 40))]
    grams = [{} for _ in range(order)]
    for sentence in corpus:
        for n in range(1, order + 1):
            for i in range(len(sentence) - n + 1):
                grams[n - 1][tuple(sentence[i: i + n])] = None
    for w in vocab + (["<unk>"] if rng.random() < 0.5 else []):
        grams[0][(w,)] = None
    for n, table in enumerate(grams, 1):
        for g in table:
            has_backoff = n < order and g[-1] != "</s>" and rng.random() < 0.8
            table[g] = (-99.0 if g == ("<s>",) else -rng.uniform(0.01, 3.0),
                        rng.uniform(-1.5, 0.5) if has_backoff else None)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_arpa(Path(tmp) / "lm.arpa", grams)
        ours, theirs = NGramLM(path), kenlm.Model(str(path))
        for _ in range(20):
            sentence = " ".join(rng.choices(vocab + ["zzz"], k=rng.randint(0, 15)))
            bos, eos = rng.random() < 0.8, rng.random() < 0.8
            assert ours.log10_prob(sentence, bos, eos) == pytest.approx(
                theirs.score(sentence, bos=bos, eos=eos), abs=2e-4), (sentence, bos, eos)


# ------------------------------------------------------------------------------ binary form
@pytest.fixture
def model(tmp_path):
    rng = random.Random(1)
    text = "\n".join(random_arpa(rng))
    while "ngram 3" not in text:
        text = "\n".join(random_arpa(rng))
    (tmp_path / "lm.arpa").write_text(text, encoding="utf-8")
    return NGramLM(tmp_path / "lm.arpa")


def same_tables(a, b):
    assert a.vocab == b.vocab and a.order == b.order and a.word_index == b.word_index
    assert a.tables.keys() == b.tables.keys()
    for name, value in a.tables.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == b.tables[name].dtype and np.array_equal(value, b.tables[name])
        else:
            assert value == b.tables[name], name


def sentences(lm, seed=0, n=100):
    rng = random.Random(seed)
    return [rng.choices(lm.vocab + ["zzz"], k=rng.randint(1, 10)) for _ in range(n)]


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, model, mmap):
    model.save(tmp_path / "lm.bin")
    for loaded in (NGramLM.load(tmp_path / "lm.bin", mmap=mmap),
                   NGramLM(tmp_path / "lm.bin", mmap=mmap)):
        same_tables(model, loaded)
        assert loaded.tables["keys"].flags.writeable is not mmap
        for words in sentences(model):
            assert loaded.log_prob(words) == model.log_prob(words)


def test_a_loaded_model_decodes_as_the_one_saved(tmp_path):
    lm = NGramLM(write_arpa(tmp_path / "lm.arpa", [
        {("<s>",): (-99.0, -0.3), ("</s>",): (-1.0, None), ("ab",): (-0.5, -0.2),
         ("ba",): (-0.6, -0.2), ("<unk>",): (-3.0, None)},
        {("<s>", "ab"): (-0.1, None), ("ab", "ba"): (-0.1, None)}]))
    lm.save(tmp_path / "lm.bin")
    lp = lucid.tensor(np.log(np.random.default_rng(0).dirichlet(np.ones(4), size=12)))
    results = [[(h.tokens.tolist(), h.words, h.score) for h in
                ctc_decoder(None, ["-", "|", "a", "b"], lm=m, beam_size=8, nbest=3)(lp, 12)]
               for m in (lm, tmp_path / "lm.bin", tmp_path / "lm.arpa")]
    assert results[1] == results[0] and results[2] == results[0]


def test_saving_over_a_mapped_file_leaves_the_loaded_model_as_it_was(tmp_path, model):
    model.save(tmp_path / "lm.bin")
    loaded = NGramLM.load(tmp_path / "lm.bin")
    before = [loaded.log_prob(words) for words in sentences(model)]
    other = NGramLM(write_arpa(tmp_path / "other.arpa", [
        {("<s>",): (-99.0, None), ("</s>",): (-0.5, None)}]))
    other.save(tmp_path / "lm.bin")
    assert [loaded.log_prob(words) for words in sentences(model)] == before
    assert NGramLM.load(tmp_path / "lm.bin").vocab == other.vocab


def damaged(path, why):
    return pytest.raises(ValueError, match=rf"{path.name}: expected a language model written "
                                           rf"by NGramLM.save, but .*{why}")


def test_flipped_byte_is_refused(tmp_path, model):
    path = tmp_path / "lm.bin"
    model.save(path)
    data = bytearray(path.read_bytes())
    for where in (len(data) // 2, len(data) - 1, 25):  # 25: in the header, the order
        flipped = bytearray(data)
        flipped[where] ^= 0x04
        path.write_bytes(bytes(flipped))
        with damaged(path, "checksum does not match"):
            NGramLM.load(path)


@pytest.mark.parametrize("cut, why", [(20, "ends inside its header"), (-1, "bytes long")])
def test_truncated_file_is_refused(tmp_path, model, cut, why):
    path = tmp_path / "lm.bin"
    model.save(path)
    path.write_bytes(path.read_bytes()[:cut])
    with damaged(path, why):
        NGramLM(path)


def tampered(tables, name, change):
    tables = dict(tables)
    tables[name] = change(tables[name])
    return tables


@pytest.mark.parametrize("name, change, why", [
    ("backoff_state", lambda a: np.where(np.arange(len(a)) == len(a) - 1, len(a) - 1, a),
     "back-off state is out of order"),
    ("backoff_state", lambda a: np.where(np.arange(len(a)) == 0, 1, a),
     "back-off state is out of order"),
    ("vals", lambda a: np.where(a >= 0, a + 10**9, a), "entry is out of range"),
    ("keys", lambda a: np.where(a == -1, 7, a), "no free slot"),
    ("keys", lambda a: np.where(a == -1, -2, a), "no free slot"),
    ("next_state", lambda a: -a - 1, "next state is out of range"),
    ("keys", lambda a: a[:-1], "not a power of two"),
    ("unk", lambda u: 10**6, "word or state is out of range"),
    ("bos_state", lambda s: -1, "word or state is out of range"),
    ("n_words", lambda n: n + 1, "vocabulary does not match"),
])
def test_tampered_file_is_refused(tmp_path, model, name, change, why):
    """Files with a good checksum whose indices would lead the search astray."""
    path = tmp_path / "lm.bin"
    arpa._write_binary(path, model.order, model.vocab, tampered(model.tables, name, change))
    with damaged(path, why):
        NGramLM.load(path)


def test_repeated_word_or_other_version_is_refused(tmp_path, model, monkeypatch):
    path = tmp_path / "lm.bin"
    arpa._write_binary(path, model.order, model.vocab[:-1] + model.vocab[:1], model.tables)
    with damaged(path, "repeats a word"):
        NGramLM.load(path)
    monkeypatch.setattr(arpa, "_BINARY_VERSION", 99)
    model.save(path)
    monkeypatch.undo()
    with damaged(path, "format version 99, this lucid reads 2"):
        NGramLM.load(path)


def test_zip_file_is_refused(tmp_path):
    path = tmp_path / "old.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(ValueError, match="old.npz: .*got a zip file.*save the model again"):
        NGramLM(path)
