"""Streaming decoding: any chunking of a stream gives exactly the offline result, the search's
memory stays what the beam needs however long the stream, and misuse is a clear error."""

import collections
import math
import pickle
import warnings

import numpy as np
import pytest
from helpers.decoding import TOKENS, random_log_probs, write_arpa
from helpers.python_lm import CHARS, WORDS, PythonNGram

import lucid
from lucid._C import _ctc_beam
from lucid.ctc import NGramLM, ctc_decoder

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LEXICON = ["cat", "a", "at", "pat", "tap"]
BPE_TOKENS = ["<b>", "\u2581ca", "\u2581c", "at", "a", "t", "\u2581", "\u2581pa", "p"]


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    words = NGramLM(write_arpa(tmp / "words.arpa", WORDS))
    chars = NGramLM(write_arpa(tmp / "chars.arpa", CHARS))
    vocab = [w for (w,) in WORDS[0]]
    priors = np.array([0.4, 0.1, 0.15, 0.15, 0.1, 0.1])
    return {
        "plain": ctc_decoder(None, TOKENS, beam_size=4, nbest=3, beam_threshold=None),
        "lm": ctc_decoder(None, TOKENS, lm=words, beam_size=6, nbest=2),
        "pruned": ctc_decoder(None, TOKENS, lm=words, beam_size=6, nbest=2, token_min_logp=-4.0,
                              beam_threshold=6.0, beam_size_token=4, blank_penalty=0.3,
                              label_priors=priors),
        "lexicon": ctc_decoder(LEXICON, TOKENS, lm=words, beam_size=5, nbest=3,
                               beam_threshold=5.0, token_min_logp=-3.0),
        "lexicon_unpruned": ctc_decoder(LEXICON, TOKENS, beam_size=5, nbest=2,
                                        beam_threshold=None),
        "hotwords": ctc_decoder(None, TOKENS, lm=words, beam_size=5, nbest=2,
                                hotwords={"pat": 2.0, "ta": 1.0}, sil_score=-0.5),
        "char": ctc_decoder(None, TOKENS, lm=chars, lm_level="char", beam_size=5, nbest=2),
        "python_lm": ctc_decoder(None, TOKENS, lm=PythonNGram(WORDS, vocab), lm_dict=vocab,
                                 beam_size=5, nbest=2),
        "python_lexicon": ctc_decoder(LEXICON, TOKENS, lm=PythonNGram(WORDS, LEXICON + ["<unk>"]),
                                      beam_size=5, nbest=2, beam_threshold=4.0),
        "bpe": ctc_decoder(None, BPE_TOKENS, lm=words, blank_token="<b>", sil_token=None,
                           beam_size=6, nbest=2, hotwords=["pat"]),
    }


def stream(decoder, lp, sizes, best_at=()):
    """Decode lp (T, C) in chunks of the given sizes; the best hypothesis is asked for after
    the chunks listed in best_at (it must change nothing)."""
    decoder.decode_begin()
    start = 0
    for k, size in enumerate(sizes):
        decoder.decode_step(lucid.tensor(lp[start: start + size]))
        start += size
        if k in best_at:
            decoder.get_best_hypothesis()
    assert start == len(lp)
    decoder.decode_end()
    return decoder.get_final_hypothesis()


@st.composite
def chunkings(draw, T):
    """Chunk sizes summing to T, often 1, sometimes 0."""
    sizes = []
    left = T
    while left > 0 or (not sizes and draw(st.booleans())):
        size = draw(st.one_of(st.integers(0, 1), st.integers(0, left)))
        sizes.append(min(size, left))
        left -= sizes[-1]
        if len(sizes) > 3 * T + 3:
            sizes.append(left)
            left = 0
    return sizes


CONFIGS = ["plain", "lm", "pruned", "lexicon", "lexicon_unpruned", "hotwords", "char",
           "python_lm", "python_lexicon", "bpe"]


@pytest.mark.parametrize("name", CONFIGS)
@settings(max_examples=80, deadline=None, database=None)
@given(data=st.data())
def test_any_chunking_gives_the_offline_result(decoders, name, data):
    decoder = decoders[name]
    seed = data.draw(st.integers(0, 2**32 - 1))
    T = data.draw(st.integers(1, 24))
    rng = np.random.default_rng(seed)
    C = len(decoder.tokens)
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    lp = random_log_probs(rng, T, 1, C, peaky=float(rng.uniform(0.5, 4.0)))[:, 0].astype(dtype)
    sizes = data.draw(chunkings(T))
    best_at = data.draw(st.sets(st.integers(0, len(sizes))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no hypothesis: both warn
        offline = decoder(lucid.tensor(lp))
        streamed = stream(decoder, lp, sizes, best_at)
    assert streamed == offline  # tokens, timesteps, score, words, word spans: all equal


@pytest.mark.parametrize("name", ["lexicon", "lexicon_unpruned", "python_lexicon"])
def test_a_stream_cut_inside_a_word_falls_back_as_offline(decoders, name):
    # "cat|" then only "p": nothing after frame 3 can finish a word of the lexicon
    frames = [2, 3, 4, 1, 5, 5]
    lp = np.log(0.9 * np.eye(len(TOKENS))[frames] + 0.1 / len(TOKENS))
    lp[4:, :5] = -np.inf
    decoder = decoders[name]
    offline = decoder(lucid.tensor(lp))
    assert offline and offline[0].words == ["cat"]  # the fallback, not an empty result
    for sizes in ([6], [1] * 6, [0, 3, 0, 3], [5, 1]):
        assert stream(decoder, lp, sizes) == offline


def test_the_best_hypothesis_so_far_is_the_offline_result_of_the_frames_so_far():
    # without an LM the search ranks the beam as the end of the input does
    rng = np.random.default_rng(3)
    lp = random_log_probs(rng, 30, 1, len(TOKENS), peaky=2.0)[:, 0]
    decoder = ctc_decoder(None, TOKENS, beam_size=6)
    decoder.decode_begin()
    assert decoder.get_best_hypothesis().tokens.tolist() == []
    assert decoder.get_best_hypothesis().score == 0.0  # the empty prefix, probability 1
    for t in range(30):
        decoder.decode_step(lucid.tensor(lp[t: t + 1]))
        assert decoder.get_best_hypothesis() == decoder(lucid.tensor(lp[: t + 1]))[0]


def test_the_best_hypothesis_includes_the_word_being_spelled(tmp_path):
    lm = NGramLM(write_arpa(tmp_path / "w.arpa", WORDS))
    decoder = ctc_decoder(None, TOKENS, lm=lm, beam_size=8)
    lp = np.log(0.9 * np.eye(len(TOKENS))[[2, 3, 4, 1, 5, 3]] + 0.1 / len(TOKENS))  # cat|pa
    decoder.decode_begin()
    decoder.decode_step(lucid.tensor(lp))
    best = decoder.get_best_hypothesis()
    assert best.words == ["cat", "pa"] and [s.start for s in best.word_spans] == [0, 4]


def test_live_captions_go_on_when_pruning_empties_a_lexicon_decoders_beam():
    """A frame whose only class above token_min_logp leaves the lexicon ("t" after "ca",
    lexicon ["cap"]) empties the pruned beam; the caption is then the unpruned search's, as
    the final result is, not an empty hypothesis of score -inf."""
    frames = [2, 3, 4, 0, 2]  # c a t - c
    lp = np.log(np.full((5, len(TOKENS)), 1e-4))
    lp[np.arange(5), frames] = np.log(1 - 1e-4 * (len(TOKENS) - 1))
    decoder = ctc_decoder(["cap"], TOKENS, beam_size=8, token_min_logp=-5.0)
    decoder.decode_begin()
    decoder.decode_step(lucid.tensor(lp[:3]))
    best = decoder.get_best_hypothesis()
    assert best.score > -math.inf and best.tokens.tolist() == [2, 3]  # "ca", still in the trie
    decoder.decode_step(lucid.tensor(lp[3:]))
    decoder.decode_end()
    assert decoder.get_final_hypothesis() == decoder(lucid.tensor(lp))


def test_an_empty_stream_is_an_input_of_no_frames(decoders):
    decoder = decoders["lm"]
    one = lucid.tensor(np.log(np.full((1, len(TOKENS)), 1 / len(TOKENS))))
    assert stream(decoder, np.zeros((0, len(TOKENS))), []) == decoder(one, 0)


def test_a_batch_equals_its_samples_streamed(decoders):
    rng = np.random.default_rng(7)
    lp = random_log_probs(rng, 20, 3, len(TOKENS), peaky=2.0).swapaxes(0, 1)  # (N, T, C)
    for name in ("lm", "lexicon", "python_lm"):
        batch = decoders[name](lucid.tensor(lp), [20, 13, 5])
        for n, length in enumerate([20, 13, 5]):
            assert stream(decoders[name], lp[n, :length], [length // 2, length - length // 2]) \
                == batch[n]


# ------------------------------------------------------------------------------ memory
def beam_tree(decoder):
    """The live prefixes of the stream's search, counted from its beam alone: every beam
    hypothesis and its prefixes (the records), and the prefixes the search must keep as
    nodes (design note B. of _ctc_beam.pyx): the root, the beam, and where it branches."""
    beam = decoder._stream.main.rank(decoder.beam_size, _ctc_beam.SEARCH_PARTIAL)
    child = {}  # (prefix id, token) -> prefix id; the root is 0
    ends = set()
    for tokens, *_ in beam:
        p = 0
        for token in tokens.tolist():
            p = child.setdefault((p, token), len(child) + 1)
        ends.add(p)
    fanout = collections.Counter(parent for parent, _ in child)
    branching = {p for p, n in fanout.items() if p and n >= 2 and p not in ends}
    return len(child), 1 + len(ends - {0}) + len(branching)


@pytest.mark.parametrize("lm_kind", ["none", "ngram", "python"])
def test_a_long_streams_search_holds_only_what_its_beam_needs(tmp_path, lm_kind):
    vocab = [w for (w,) in WORDS[0]]
    lm = {"none": None, "ngram": NGramLM(write_arpa(tmp_path / "w.arpa", WORDS)),
          "python": PythonNGram(WORDS, vocab)}[lm_kind]
    B = 8
    decoder = ctc_decoder(None, TOKENS, lm=lm, lm_dict=vocab if lm_kind == "python" else None,
                          beam_size=B, beam_threshold=None)
    rng = np.random.default_rng(11)
    decoder.decode_begin()
    most = {"nodes": 0, "lm_states": 0}
    for _ in range(150):  # 6,000 frames
        decoder.decode_step(lucid.tensor(random_log_probs(rng, 40, 1, len(TOKENS), 3.0)[:, 0]))
        sizes = decoder._stream_sizes()
        records, nodes = beam_tree(decoder)
        assert (sizes["records"], sizes["nodes"]) == (records, nodes)
        most = {k: max(v, sizes[k]) for k, v in most.items()}
    assert sizes["frames"] == 6000
    assert most["nodes"] <= 2 * B + 1
    # a Python LM's states: those of live nodes (3 B + 1 at most), a frame's new ones, and
    # the slack before the list is rebuilt (design note D.)
    assert most["lm_states"] <= 4 * (3 * B + 1) + 64 + B * len(TOKENS)
    decoder.decode_end()
    (final,) = decoder.get_final_hypothesis()
    assert sizes["records"] >= len(final.tokens)  # what the stream keeps is its text


def test_silence_keeps_nothing():
    # a stream of blanks: however long, the search holds the empty prefix and a few others
    decoder = ctc_decoder(None, TOKENS, beam_size=4)
    lp = np.log(np.array([0.999] + [0.001 / 5] * 5))[None].repeat(500, axis=0)
    decoder.decode_begin()
    for _ in range(20):
        decoder.decode_step(lucid.tensor(lp))
        assert decoder._stream_sizes()["records"] <= 4 and decoder._stream_sizes()["nodes"] <= 5


# ------------------------------------------------------------------------------ misuse
def test_calls_out_of_order_are_runtime_errors():
    decoder = ctc_decoder(None, TOKENS)
    chunk = lucid.tensor(np.log(np.full((2, len(TOKENS)), 1 / len(TOKENS))))
    for call in (lambda: decoder.decode_step(chunk), decoder.decode_end,
                 decoder.get_final_hypothesis, decoder.get_best_hypothesis):
        with pytest.raises(RuntimeError, match="decode_begin"):
            call()
    decoder.decode_begin()
    decoder.decode_step(chunk)
    with pytest.raises(RuntimeError, match="decode_end"):
        decoder.get_final_hypothesis()
    decoder.decode_end()
    with pytest.raises(RuntimeError, match="has ended"):
        decoder.decode_step(chunk)
    assert decoder.get_final_hypothesis() == decoder(chunk)
    decoder.decode_begin()  # a new stream
    assert decoder.get_best_hypothesis().tokens.tolist() == []


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((2, 6)), TypeError, "must be a lucid Tensor (wrap it with lucid.tensor)"),
    (lucid.zeros(2, 6, dtype=lucid.int64), TypeError, "float32 or float64, got int64"),
    (lucid.zeros(2, 1, 6), ValueError, "shape (T_chunk, C): one chunk of one stream, got shape "
                                       "(2, 1, 6)"),
    (lucid.zeros(6), ValueError, "shape (T_chunk, C)"),
    (lucid.zeros(2, 5), ValueError, "must have C = 6 classes, one per token, got shape (2, 5)"),
    (lucid.tensor([[0.0] * 6, [0.0, math.nan, 0, 0, 0, 0]]), ValueError,
     "emissions[1, 1] = nan (frame 4 of the stream)"),
    (lucid.tensor([[0.0, math.inf, 0, 0, 0, 0]]), ValueError, "NaN or +inf"),
])
def test_bad_chunks_are_clear_errors(bad, error, message):
    decoder = ctc_decoder(None, TOKENS)
    decoder.decode_begin()
    decoder.decode_step(lucid.tensor(np.log(np.full((3, 6), 1 / 6))))
    with pytest.raises(error) as info:
        decoder.decode_step(bad)
    assert str(info.value).startswith("CTCDecoder.decode_step: emissions must")
    assert message in str(info.value)
    decoder.decode_step(lucid.tensor(np.log(np.full((1, 6), 1 / 6))))  # the stream goes on
    assert decoder._stream_sizes()["frames"] == 4


def test_chunks_are_not_modified_and_raw_scores_warn_once():
    decoder = ctc_decoder(None, TOKENS, label_priors=np.full(6, 1 / 6), blank_penalty=1.0)
    raw = np.random.default_rng(0).normal(size=(5, 6))
    kept = raw.copy()
    decoder.decode_begin()
    with pytest.warns(lucid.LogProbsWarning):
        decoder.decode_step(lucid.tensor(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("error", lucid.LogProbsWarning)
        decoder.decode_step(lucid.tensor(raw))  # looked at once, as offline looks at frame 0
    assert (raw == kept).all()


def test_an_error_in_a_python_lm_reaches_the_caller_and_ends_the_stream():
    class Failing(PythonNGram):
        def score(self, state, idx):
            raise KeyError("no such word")

    vocab = [w for (w,) in WORDS[0]]
    decoder = ctc_decoder(None, TOKENS, lm=Failing(WORDS, vocab), lm_dict=vocab, beam_size=4)
    lp = np.log(0.9 * np.eye(len(TOKENS))[[2, 3, 1, 4]] + 0.1 / len(TOKENS))  # "ca|t"
    decoder.decode_begin()
    with pytest.raises(KeyError, match="no such word"):
        decoder.decode_step(lucid.tensor(lp))
    with pytest.raises(RuntimeError, match="stopped on an error"):
        decoder.decode_step(lucid.tensor(lp))
    with pytest.raises(KeyError, match="no such word"):
        decoder(lucid.tensor(lp))


def test_a_decoder_pickles_mid_stream_without_its_stream():
    decoder = ctc_decoder(None, TOKENS, beam_size=4)
    lp = np.log(np.full((3, len(TOKENS)), 1 / len(TOKENS)))
    decoder.decode_begin()
    decoder.decode_step(lucid.tensor(lp))
    copy = pickle.loads(pickle.dumps(decoder))
    with pytest.raises(RuntimeError, match="decode_begin"):
        copy.decode_step(lucid.tensor(lp))
    decoder.decode_step(lucid.tensor(lp))  # the original goes on
    decoder.decode_end()
    assert decoder.get_final_hypothesis() == copy(lucid.tensor(np.vstack([lp, lp])))
