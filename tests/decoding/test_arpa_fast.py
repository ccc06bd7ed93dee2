"""NGramLM's fast paths: a section parsed in bulk gives the tables the line-by-line reader
gives, and the binary form (NGramLM.save) loads back the same model or refuses a damaged file."""

import io
import zipfile

import numpy as np
import pytest
from helpers.decoding import write_arpa

from lucid.ctc import NGramLM, arpa


def random_arpa(path, rng, n_vocab=200, order=4, n_tokens=3000):
    """Every n-gram of a random corpus, with random weights; some lines without a back-off
    weight, some fields separated by tabs, runs of spaces and CRs."""
    words = [f"w{i}" for i in range(n_vocab)]
    sentences = [["<s>", *rng.choice(words, size=int(rng.integers(1, 12))), "</s>"]
                 for _ in range(n_tokens // 6)]
    sections = []
    for n in range(1, order + 1):
        grams = sorted({tuple(s[i: i + n]) for s in sentences for i in range(len(s) - n + 1)})
        if n == 1:
            grams = sorted(set(grams) | {("<unk>",)})
        sections.append({g: (float(-rng.uniform(0.01, 3)) if g != ("<s>",) else -99.0,
                             float(-rng.uniform(0, 1)) if n < order and rng.random() < 0.8
                             else None) for g in grams})
    path = write_arpa(path, sections)
    text = path.read_text().split("\n")
    for i in rng.choice(len(text), size=len(text) // 5):
        if text[i] and not text[i].startswith(("\\", "ngram")):
            text[i] = text[i].replace(" ", rng.choice([" ", "\t", "  ", " \t "])) + "\r"
    path.write_text("\n".join(text))
    return path


def same_tables(a, b):
    assert a.vocab == b.vocab and a.order == b.order
    assert a.tables.keys() == b.tables.keys()
    for name, value in a.tables.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == b.tables[name].dtype and np.array_equal(value, b.tables[name])
        else:
            assert value == b.tables[name], name


def sentences(lm, rng, n=200):
    return [" ".join(rng.choice(lm.vocab + ["zzz"], size=int(rng.integers(1, 15))))
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_bulk_parse_gives_the_line_by_line_tables(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    path = random_arpa(tmp_path / "lm.arpa", rng)
    bulk = NGramLM(path)
    monkeypatch.setattr(arpa, "_parse_section_in_bulk", lambda *args: None)
    by_line = NGramLM(path)
    same_tables(bulk, by_line)
    for sentence in sentences(bulk, rng):
        assert bulk.log_prob(sentence) == by_line.log_prob(sentence)


def test_bulk_parse_is_used(tmp_path, monkeypatch):
    """The equality above means nothing if the bulk parser always gives up."""
    path = random_arpa(tmp_path / "lm.arpa", np.random.default_rng(0))
    results = []
    original = arpa._parse_section_in_bulk
    monkeypatch.setattr(arpa, "_parse_section_in_bulk",
                        lambda *args: results.append(original(*args)) or results[-1])
    NGramLM(path)
    assert len(results) == 4 and all(r is not None for r in results)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    lm = NGramLM(random_arpa(tmp_path / "lm.arpa", rng))
    lm.save(tmp_path / "lm.bin")
    for loaded in (NGramLM.load(tmp_path / "lm.bin"), NGramLM(tmp_path / "lm.bin")):
        same_tables(lm, loaded)
        for sentence in sentences(lm, rng):
            assert loaded.log_prob(sentence) == lm.log_prob(sentence)


def rewrite(path, **changes):
    """The saved file with some members replaced, written as a valid .npz."""
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return arrays


@pytest.fixture
def saved(tmp_path):
    lm = NGramLM(random_arpa(tmp_path / "lm.arpa", np.random.default_rng(1)))
    lm.save(tmp_path / "lm.bin")
    return tmp_path / "lm.bin", lm


def test_flipped_byte_is_refused(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"lm.bin: expected a language model written by "
                                         r"NGramLM.save, but it does not read as one"):
        NGramLM.load(path)


@pytest.mark.parametrize("name, change, why", [
    ("backoff_state", lambda a: np.where(np.arange(len(a)) == len(a) - 1, len(a) - 1, a),
     "back-off state is out of order"),
    ("vals", lambda a: np.where(a >= 0, a + 10**9, a), "entry is out of range"),
    ("keys", lambda a: np.where(a == -1, 7, a), "no free slot"),
    ("next_state", lambda a: a.astype(np.int32), "next_state is int32"),
    ("backoff_state", lambda a: a[:-1], "differ in length"),
    ("lucid_ngram_lm", lambda a: np.where(np.arange(len(a)) == 0, 99, a), "format version 99"),
    ("vocab_utf8", lambda a: a[: len(a) // 2], "vocabulary does not match"),
])
def test_tampered_file_is_refused(saved, name, change, why):
    path, _ = saved
    with np.load(path) as npz:
        original = npz[name]
    rewrite(path, **{name: change(original)})
    with pytest.raises(ValueError, match=rf"lm.bin: expected a language model written by "
                                         rf"NGramLM.save, but .*{why}"):
        NGramLM(path)


def test_other_zip_file_is_refused(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(ValueError, match="without lucid's header"):
        NGramLM(path)


def probe(table_keys, table_vals, key):
    """hash_find of lucid/_C/_ctc_beam.pyx, in Python."""
    mask = len(table_keys) - 1
    i = int(((key * 0x9E3779B97F4A7C15) % 2**64 >> 17) & mask)
    while table_keys[i] != -1:
        if table_keys[i] == key:
            return int(table_vals[i])
        i = (i + 1) & mask
    return -1


@pytest.mark.parametrize("near_end", [False, True])
def test_hash_table_finds_every_key(near_end):
    """With near_end, many keys share the last home slots, so runs wrap round to slot 0."""
    rng = np.random.default_rng(0)
    pool = rng.choice(10**9, size=20000, replace=False).astype(np.int64)
    if near_end:
        homes = np.array([(int(k) * 0x9E3779B97F4A7C15) % 2**64 >> 17 & 1023 for k in pool])
        keys = np.concatenate([pool[homes >= 1020][:40], pool[homes < 1020][:400]])
    else:
        keys = pool[:500]
    table_keys, table_vals = arpa._hash_table(keys)
    assert len(table_keys) == 1024
    assert (table_keys != -1).sum() == len(keys)
    if near_end:
        assert table_keys[0] in keys[:40]  # the wrap-around path ran
    assert [probe(table_keys, table_vals, int(k)) for k in keys] == list(range(len(keys)))
    assert probe(table_keys, table_vals, 10**9 + 7) == -1
