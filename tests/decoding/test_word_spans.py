"""Word spans of ctc_decoder's hypotheses: exact frames and confidences on emissions with
known spikes, and one span per word, in order, over random decodes."""

import math

import numpy as np
import pytest
from helpers.decoding import TOKENS, random_log_probs, time_first, time_first_decoder, write_arpa

import lucid
from lucid import ctc
from lucid.ctc import NGramLM, WordSpan

# the tests build log-probs time first, as for ctc_loss; results with lists (helpers.decoding)
beam_search_decode = time_first(ctc.beam_search_decode)
ctc_decoder = time_first_decoder(ctc.ctc_decoder)

BLANK, SIL, C, A, T_, P = range(6)


def spikes(frames, T):
    """(T, C) log-probabilities: at each frame of ``frames`` (frame -> (class, probability))
    that class has that probability, elsewhere the blank has 0.9; the rest is shared evenly."""
    rows = []
    for t in range(T):
        k, p = frames.get(t, (BLANK, 0.9))
        row = np.full(len(TOKENS), (1 - p) / (len(TOKENS) - 1))
        row[k] = p
        rows.append(np.log(row))
    return np.array(rows)


# "cat" at frames 1, 3, 4; the delimiter at 6; "pa" at 8 and 10
CAT_PA = {1: (C, 0.8), 3: (A, 0.6), 4: (T_, 0.7), 6: (SIL, 0.95), 8: (P, 0.85), 10: (A, 0.75)}
EXPECTED = [("cat", 1, 5, 0.6), ("pa", 8, 11, 0.75)]


def as_tuples(spans):
    return [(s.word, s.start, s.end, s.confidence) for s in spans]


def assert_spans(spans, expected, rel=1e-12):
    assert [(s.word, s.start, s.end) for s in spans] == [e[:3] for e in expected]
    assert [s.confidence for s in spans] == pytest.approx([e[3] for e in expected], rel=rel)


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_spikes_give_each_words_frames_and_lowest_token_posterior(dtype, rel):
    lp = spikes(CAT_PA, 12).astype(dtype)
    hyp = ctc_decoder(None, TOKENS, beam_size=16)(lucid.tensor(lp), 12)[0]
    assert hyp.words == ["cat", "pa"]
    assert_spans(hyp.word_spans, EXPECTED, rel)
    assert all(isinstance(s, WordSpan) for s in hyp.word_spans)


def test_spans_with_an_lm_a_lexicon_and_hotwords(tmp_path):
    uni = {("<s>",): (-99.0, None), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
           ("cat",): (-0.8, None), ("pa",): (-0.6, None)}
    lm = NGramLM(write_arpa(tmp_path / "lm.arpa", [uni]))
    lp = lucid.tensor(spikes(CAT_PA, 12))
    for decoder in (ctc_decoder(None, TOKENS, lm=lm, beam_size=16),
                    ctc_decoder(["cat", "pa", "cap"], TOKENS, lm=lm, beam_size=16),
                    ctc_decoder(None, TOKENS, hotwords={"pa": 2.0}, beam_size=16)):
        assert_spans(decoder(lp, 12)[0].word_spans, EXPECTED)


def test_lexicon_spans_carry_the_lexicons_word_and_the_homophone_chosen():
    lexicon = {"KAT": list("cat"), "cat": list("cat"), "Pa": list("pa")}
    hyp = ctc_decoder(lexicon, TOKENS, beam_size=16)(lucid.tensor(spikes(CAT_PA, 12)),
                                                              12)[0]
    assert hyp.words == ["KAT", "Pa"]  # the first listed of the homophones
    assert_spans(hyp.word_spans, [("KAT", 1, 5, 0.6), ("Pa", 8, 11, 0.75)])


def test_confidence_reads_the_callers_values_not_the_priors_or_blank_penalty():
    lp = lucid.tensor(spikes(CAT_PA, 12))
    priors = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    for decoder in (ctc_decoder(None, TOKENS, beam_size=16, blank_penalty=1.0),
                    ctc_decoder(None, TOKENS, beam_size=16, label_priors=priors)):
        assert_spans(decoder(lp, 12)[0].word_spans, EXPECTED)


def test_a_word_with_a_repeated_token_and_a_leading_delimiter():
    # "|c-ca|" : the delimiter first, then "cca" across a blank, and the delimiter again
    frames = {0: (SIL, 0.9), 2: (C, 0.7), 3: (BLANK, 0.9), 4: (C, 0.55), 5: (A, 0.65),
              7: (SIL, 0.9)}
    hyp = ctc_decoder(None, TOKENS, beam_size=16)(lucid.tensor(spikes(frames, 9)), 9)[0]
    assert hyp.tokens == [SIL, C, C, A, SIL]
    assert_spans(hyp.word_spans, [("cca", 2, 6, 0.55)])


def test_an_unfinished_last_word_has_no_span():
    # "cat|" then "ca", which the lexicon does not finish: only "cat" is a word
    frames = {0: (C, 0.9), 1: (A, 0.8), 2: (T_, 0.7), 3: (SIL, 0.9), 4: (C, 0.9), 5: (A, 0.9)}
    lp = spikes(frames, 6)
    lp[4:, [BLANK, SIL, T_, P]] = -np.inf  # nothing can finish a word after frame 3
    decoder = ctc_decoder(["cat", "cap"], TOKENS, beam_size=64)
    hyp = decoder(lucid.tensor(lp), 6)[0]
    assert hyp.tokens == [C, A, T_, SIL, C, A] and hyp.words == ["cat"]
    assert_spans(hyp.word_spans, [("cat", 0, 3, 0.7)])


def test_batched_spans_equal_unbatched_and_stop_at_each_length():
    lp = spikes(CAT_PA, 12)
    batch = lucid.tensor(np.stack([lp, lp], axis=1))
    decoder = ctc_decoder(None, TOKENS, beam_size=16)
    whole, cut = decoder(batch, [12, 6])
    assert as_tuples(whole[0].word_spans) == as_tuples(decoder(lucid.tensor(lp), 12)[0].word_spans)
    assert_spans(cut[0].word_spans, EXPECTED[:1])


def test_no_spans_without_words():
    lp = lucid.tensor(spikes(CAT_PA, 12))
    assert ctc_decoder(None, TOKENS, sil_token=None, beam_size=16)(lp, 12)[0].word_spans == []
    assert beam_search_decode(lp, 12, beam_width=16)[0].word_spans == []


# ---------------------------------------------------------- one span per word, random decodes
@pytest.fixture
def word_lm(tmp_path):
    uni = {("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
           ("ca",): (-0.8, -0.2), ("at",): (-0.6, -0.25), ("a",): (-0.7, -0.1),
           ("cat",): (-0.9, None)}
    bi = {("<s>", "ca"): (-0.3, None), ("ca", "at"): (-0.2, None), ("at", "</s>"): (-0.1, None)}
    return NGramLM(write_arpa(tmp_path / "words.arpa", [uni, bi]))


LEXICON = {"CA": list("ca"), "ka": list("ca"), "at": list("at"), "a": ["a"], "tap": list("tap"),
           "pat": list("pat"), "cat": list("cat")}


def check_spans(hyp, lp, spelling_of):
    """Each span against the hypothesis: its tokens are those emitted within [start, end),
    a whole piece between delimiters that spells its word, and its confidence is theirs."""
    assert [s.word for s in hyp.word_spans] == hyp.words
    for span in hyp.word_spans:
        ks = [k for k, t in enumerate(hyp.timesteps) if span.start <= t < span.end]
        assert ks and hyp.timesteps[ks[0]] == span.start and hyp.timesteps[ks[-1]] == span.end - 1
        spelled = [hyp.tokens[k] for k in ks]
        assert SIL not in spelled
        assert ks[0] == 0 or hyp.tokens[ks[0] - 1] == SIL
        assert ks[-1] == len(hyp.tokens) - 1 or hyp.tokens[ks[-1] + 1] == SIL
        assert spelled in spelling_of(span.word)
        worst = min(lp[hyp.timesteps[k], hyp.tokens[k]] for k in ks)
        assert span.confidence == pytest.approx(math.exp(worst), rel=1e-12)


@pytest.mark.parametrize("setup", ["free", "lm", "lexicon", "lexicon+lm", "hotwords"])
@pytest.mark.parametrize("seed", range(4))
def test_random_decodes_have_one_span_per_word(word_lm, setup, seed):
    rng = np.random.default_rng(seed)
    T, N = 14, 3
    lp = random_log_probs(rng, T, N, len(TOKENS), peaky=2.0)
    lengths = [T, T - 3, T - 7]
    kwargs = {"beam_size": 12, "nbest": 4}
    if "lm" in setup:
        kwargs.update(lm=word_lm, lm_weight=0.8, word_score=0.5)
    if "lexicon" in setup:
        kwargs["lexicon"] = LEXICON
    if setup == "hotwords":
        kwargs["hotwords"] = {"cat": 3.0, "pa": 1.5}
    decoder = ctc_decoder(**{"lexicon": None, "tokens": TOKENS, **kwargs})

    def spelling_of(word):
        if "lexicon" in setup:
            return [[TOKENS.index(t) for t in LEXICON[word]]]
        return [[TOKENS.index(ch) for ch in word]]

    batched = decoder(lucid.tensor(lp), lengths)
    assert sum(len(h.words) for sample in batched for h in sample) > 0
    for n, sample in enumerate(batched):
        assert len(sample) > 1
        alone = decoder(lucid.tensor(lp[:, n]), lengths[n])
        assert [as_tuples(h.word_spans) for h in alone] == [as_tuples(h.word_spans)
                                                            for h in sample]
        for hyp in sample:
            check_spans(hyp, lp[:, n], spelling_of)
