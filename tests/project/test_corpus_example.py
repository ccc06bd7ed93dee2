"""Decoders, language models and alignments survive pickling (what worker processes need), and
the corpus example (examples/decode_corpus.py) gives the same results on a Dask LocalCluster of
worker processes as in its serial loop."""

import pickle

import numpy as np
import pytest
from helpers.examples import load_example

import lucid
from lucid.ctc import NGramLM, ctc_decoder, forced_align, merge_tokens

TOKENS = ["-", "|", "a", "b", "c"]
ARPA = """\\data\\
ngram 1=6
ngram 2=3

\\1-grams:
-1.0 <s> -0.5
-0.6 </s>
-0.5 ab -0.2
-0.7 ba -0.3
-0.9 cab -0.1
-2.0 <unk>

\\2-grams:
-0.1 <s> ab
-0.2 ab </s>
-0.3 ab ba

\\end\\
"""


@pytest.fixture(scope="module")
def example():
    return load_example("decode_corpus")


@pytest.fixture
def lm(tmp_path):
    path = tmp_path / "tiny.arpa"
    path.write_text(ARPA)
    return NGramLM(path)


def emissions(seed, T=30, N=3):
    """(N, T, C) log-probabilities, batch first as lucid.ctc takes them."""
    rng = np.random.default_rng(seed)
    return lucid.tensor(np.log(rng.dirichlet(np.full(len(TOKENS), 0.3), size=(N, T))))


def test_ngram_lm_pickles_without_its_file(lm, tmp_path):
    blob = pickle.dumps(lm)
    (tmp_path / "tiny.arpa").unlink()  # a worker elsewhere has no copy of the file
    copy = pickle.loads(blob)
    assert copy.order == lm.order and copy.vocab == lm.vocab
    assert copy.tables.keys() == lm.tables.keys()
    for name, table in lm.tables.items():
        np.testing.assert_array_equal(copy.tables[name], table)
    for sentence in ["ab ba", "cab ab", "ba zz", ""]:
        assert copy.log10_prob(sentence) == lm.log10_prob(sentence)


@pytest.mark.parametrize("options", [
    {},
    {"lm": True},
    {"lm": True, "lexicon": ["ab", "ba", "cab", "c"], "hotwords": ["cab"]},
    {"lm": True, "hotwords": {"bab": 4.0}, "label_priors": [0.4, 0.1, 0.2, 0.2, 0.1]},
    {"lm": True, "lm_level": "char", "sil_token": None},
], ids=["plain", "lm", "lm-lexicon-hotwords", "lm-hotwords-priors", "char-lm"])
def test_decoder_pickles_and_decodes_the_same(lm, options, tmp_path):
    options = dict(options)
    if options.pop("lm", False):
        options["lm"] = lm
    decoder = ctc_decoder(**{"lexicon": None, "tokens": TOKENS, "nbest": 3, "beam_size": 8,
                             **options})
    blob = pickle.dumps(decoder)
    (tmp_path / "tiny.arpa").unlink()
    copy = pickle.loads(blob)
    for seed in range(3):
        log_probs = emissions(seed)
        expected = decoder(log_probs, [30, 21, 9])
        assert copy(log_probs, [30, 21, 9]) == expected
        assert pickle.loads(pickle.dumps(expected)) == expected  # the results travel back too
        assert any(hyp.tokens.tolist() for sample in expected for hyp in sample)


def test_alignment_results_pickle():
    log_probs = emissions(5, T=12, N=1)[0]
    alignment, scores = forced_align(log_probs, [2, 1, 3, 3])
    spans = merge_tokens(alignment, scores.exp())
    assert [s.token for s in spans] == [2, 1, 3, 3]
    alignment_copy, scores_copy = pickle.loads(pickle.dumps((alignment, scores)))
    np.testing.assert_array_equal(alignment_copy, alignment)
    np.testing.assert_array_equal(scores_copy, scores)
    assert pickle.loads(pickle.dumps(spans)) == spans


def test_serial_loop_reads_the_corpus_it_writes(example, tmp_path):
    result = example.main(["--dir", str(tmp_path), "--files", "12", "--no-dask"])
    rows = result["serial"]
    assert result["dask"] is None and len(rows) == 12
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == [row["file"] for row in rows]
    # The synthetic emissions are noisy enough that greedy decoding misspells most sentences,
    # and the LM repairs most of them: a check that the table is not trivially equal.
    assert sum(row["beam"] == row["reference"] for row in rows) >= 9
    assert sum(row["greedy"] == row["reference"] for row in rows) <= 6
    for row in rows:  # the alignment follows the transcript, word by word, in time order
        assert [w for w, _, _ in row["words"]] == row["reference"].split()
        ends = [frame for _, start, end in row["words"] for frame in (start, end)]
        assert ends == sorted(ends) and ends[0] >= 0
    again = example.main(["--dir", str(tmp_path), "--no-dask"])  # the files are reused
    assert again["serial"] == rows


def test_dask_local_cluster_equals_the_serial_loop(example, tmp_path, capsys):
    pytest.importorskip("distributed")
    result = example.main(["--dir", str(tmp_path), "--files", "8", "--workers", "2"])
    assert result["dask"] == result["serial"] and len(result["serial"]) == 8
    assert "the Dask results equal the serial loop's" in capsys.readouterr().out
    # and both equal a loop in this process with a decoder that never was pickled
    decoder = example.build_decoder(tmp_path)
    assert result["serial"] == [example.decode_file(p, decoder)
                                for p in sorted(tmp_path.glob("*.npy"))]
