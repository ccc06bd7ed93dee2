"""ctc_decoder: exact fused scores by brute force, pyctcdecode on real LibriSpeech posteriors,
and hotwords / lexicon / priors / blank penalty moving the result the documented way."""

import logging
import math

import numpy as np
import pytest
from helpers.decoding import (
    TOKENS,
    brute_force,
    cat_or_cap,
    libri,
    pyctcdecode_log_probs,
    random_log_probs,
    spelled,
    time_first_decoder,
    write_arpa,
)

import lucid
from lucid import ctc
from lucid.ctc import NGramLM
from lucid.nn.functional import ctc_loss

# the tests build log-probs time first, as for ctc_loss; results with lists (helpers.decoding)
ctc_decoder = time_first_decoder(ctc.ctc_decoder)


def text(decoder, hyp):
    return " ".join(hyp.words)


# ------------------------------------------------------------------ exact when nothing is pruned
@pytest.fixture
def word_lm(tmp_path):
    uni = {("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
           ("ca",): (-0.8, -0.2), ("at",): (-0.6, -0.25), ("a",): (-0.7, -0.1)}
    bi = {("<s>", "ca"): (-0.3, None), ("ca", "at"): (-0.2, None), ("at", "</s>"): (-0.1, None),
          ("a", "</s>"): (-0.5, None)}
    return NGramLM(write_arpa(tmp_path / "words.arpa", [uni, bi]))


def fused_score(lm, tokens, acoustic, lm_weight, word_score, unk_word_score, hot=None):
    words = "".join(TOKENS[i] for i in tokens).split("|")
    words = [w for w in words if w]
    unknown = sum(w not in lm.word_index for w in words) if lm is not None else 0
    lm_part = lm.log_prob(words) if lm is not None else 0.0
    boost = sum((hot or {}).get(w, 0.0) for w in words)
    lm_part /= math.log(10)  # lm_weight weighs log10 probabilities, as in torchaudio
    return acoustic + lm_weight * lm_part + word_score * len(words) + unk_word_score * unknown \
        + boost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unpruned_word_lm_decoding_is_exact(word_lm, seed):
    rng = np.random.default_rng(seed)
    T, C = 5, len(TOKENS)
    lp = random_log_probs(rng, T, 1, C, peaky=2.5)[:, 0]
    weights = {"lm_weight": 0.7, "word_score": 0.4, "unk_word_score": -1.5}
    decoder = ctc_decoder(None, TOKENS, lm=word_lm, beam_size=C ** T, nbest=5, **weights)
    hyps = decoder(lucid.tensor(lp), T)
    exact = {k: fused_score(word_lm, k, v, **weights) for k, v in brute_force(lp, 0).items()}
    ranked = sorted(exact.items(), key=lambda kv: -kv[1])
    assert [tuple(h.tokens) for h in hyps[:1]] == [ranked[0][0]]
    for hyp in hyps:
        assert hyp.score == pytest.approx(exact[tuple(hyp.tokens)], abs=1e-9)
        acoustic = -ctc_loss(lucid.tensor(lp), hyp.tokens, T, len(hyp.tokens)).item()
        assert hyp.score == pytest.approx(
            fused_score(word_lm, hyp.tokens, acoustic, **weights), abs=1e-9)
    assert [h.score for h in hyps] == pytest.approx([s for _, s in ranked[:5]], abs=1e-9)


def test_unpruned_char_lm_decoding_is_exact(tmp_path):
    rng = np.random.default_rng(5)
    chars = TOKENS[1:]
    uni = {("<s>",): (-99.0, -0.2), ("</s>",): (-1.0, None), ("<unk>",): (-3.0, None)}
    uni.update({(c,): (-float(rng.uniform(0.3, 1.5)), -0.1) for c in chars[:-1]})
    bi = {("<s>", "c"): (-0.1, None), ("c", "a"): (-0.2, None), ("a", "t"): (-0.3, None),
          ("t", "</s>"): (-0.2, None)}
    lm = NGramLM(write_arpa(tmp_path / "chars.arpa", [uni, bi]))
    T = 5
    lp = random_log_probs(rng, T, 1, len(TOKENS), peaky=2.5)[:, 0]
    decoder = ctc_decoder(None, TOKENS, lm=lm, lm_level="char", beam_size=6 ** T, nbest=4,
                          lm_weight=0.8, word_score=0.3, unk_word_score=-2.0)
    hyps = decoder(lucid.tensor(lp), T)

    def score(tokens, acoustic):
        text = [TOKENS[i] for i in tokens]
        unknown = sum(t not in lm.word_index for t in text)
        return acoustic + 0.8 * lm.log_prob(text) / math.log(10) + 0.3 * len(text) - 2.0 * unknown

    exact = {k: score(k, v) for k, v in brute_force(lp, 0).items()}
    ranked = sorted(exact.items(), key=lambda kv: -kv[1])
    assert tuple(hyps[0].tokens) == ranked[0][0]
    assert [h.score for h in hyps] == pytest.approx([s for _, s in ranked[:4]], abs=1e-9)


# --------------------------------------------------------------------- the documented directions
def test_hotwords_pull_towards_the_hotword():
    lp = cat_or_cap()
    assert ctc_decoder(None, TOKENS, beam_size=16)(lp, 6)[0].words == ["cat"]
    hyp = ctc_decoder(None, TOKENS, beam_size=16, hotwords=["cap"], hotword_weight=1.0)(lp, 6)[0]
    assert hyp.words == ["cap"]
    weak = ctc_decoder(None, TOKENS, beam_size=16, hotwords={"cap": 0.1})(lp, 6)[0]
    assert weak.words == ["cat"]  # log(0.5 / 0.4) > 0.1: too weak to change it


def test_lexicon_allows_only_its_words(tmp_path):
    lp = cat_or_cap()
    hyp = ctc_decoder(["cap", "a"], TOKENS, beam_size=16)(lp, 6)[0]
    assert hyp.words == ["cap"]
    path = tmp_path / "lexicon.txt"
    path.write_text("cap c a p |\ncop c a p\n")
    assert ctc_decoder(path, TOKENS, beam_size=16)(lp, 6)[0].words == ["cap"]


def test_priors_discount_frequent_labels():
    lp = cat_or_cap()
    priors = np.full(len(TOKENS), 0.1)
    priors[4] = 0.4  # "t" is predicted often a priori: its evidence is worth less
    assert ctc_decoder(None, TOKENS, label_priors=priors)(lp, 6)[0].words == ["cap"]
    weak = ctc_decoder(None, TOKENS, label_priors=priors, prior_weight=0.1)
    assert weak(lp, 6)[0].words == ["cat"]


def test_blank_penalty_favours_tokens():
    lp = lucid.tensor(spelled([2, 0, 3, 0, 0, 0], strength=0.6))
    lp.numpy()[4, 4] = math.log(0.35)  # a weak "t" behind a blank of probability 0.6
    plain = ctc_decoder(None, TOKENS)(lp, 6)[0]
    assert plain.words == ["ca"]
    assert ctc_decoder(None, TOKENS, blank_penalty=1.0)(lp, 6)[0].words == ["cat"]
    assert ctc_decoder(None, TOKENS, blank_penalty=-1.0)(lp, 6)[0].words == ["ca"]


def test_word_lm_and_unknown_word_penalty(word_lm):
    lp = cat_or_cap(p_t=0.45, p_p=0.45)
    # "cat" and "cap": equally likely acoustically, both unknown to the LM, so they tie (an LM
    # weight of 1.15 on log10, 0.5 on natural logs)
    hyps = ctc_decoder(None, TOKENS, lm=word_lm, beam_size=32, nbest=2, unk_word_score=0.0,
                       lm_weight=1.15)(lp, 6)
    assert {h.words[0] for h in hyps} == {"cat", "cap"}
    assert hyps[0].score == pytest.approx(hyps[1].score, abs=1e-9)
    # a penalty on unknown words: "ca", which the LM knows, overtakes them
    harsh = ctc_decoder(None, TOKENS, lm=word_lm, beam_size=32, unk_word_score=-3.0,
                        lm_weight=1.15)(lp, 6)[0]
    assert harsh.words == ["ca"]
    # a stronger LM alone also trades the unknown words for known ones
    strong = ctc_decoder(None, TOKENS, lm=word_lm, lm_weight=7.0, unk_word_score=0.0)(lp, 6)[0]
    assert strong.words and all(w in word_lm.word_index for w in strong.words)


def test_caller_tensor_is_not_modified():
    lp = cat_or_cap()
    before = lp.numpy().copy()
    ctc_decoder(None, TOKENS, blank_penalty=2.0, label_priors=np.full(6, 1 / 6))(lp, 6)
    np.testing.assert_array_equal(lp.numpy(), before)


# -------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, error, match", [
    ({"blank_token": "_"}, ValueError, "blank_token '_' is not one of the tokens"),
    ({"sil_token": " "}, ValueError, "sil_token ' ' is not one of the tokens"),
    ({"lm_level": "phone"}, ValueError, "lm_level must be 'word' or 'char', got 'phone'"),
    ({"lexicon": ["cab"]}, ValueError, r"lexicon word 'cab' is spelled with unknown token"),
    ({"lexicon": {"cat": ["c", "A", "t"]}}, ValueError, r"unknown token\(s\) \['A'\]"),
    ({"lexicon": ["cat"], "hotwords": ["dog"]}, ValueError, "hotwords must be words of the"),
    ({"label_priors": [0.5, 0.5]}, ValueError, r"label_priors must have shape \(6,\)"),
    ({"label_priors": [0, 1, 1, 1, 1, 1]}, ValueError, "positive"),
    ({"lm_weight": float("nan")}, ValueError, "lm_weight must be a finite number, got nan"),
    ({"lm_weight": "0.5"}, TypeError, "lm_weight must be a finite number, got str '0.5'"),
    ({"beam_size": 0}, ValueError, "ctc_decoder: beam_size must be at least 1, got 0"),
    ({"nbest": 3, "beam_size": 2}, ValueError, "nbest must be at most beam_size = 2, got 3"),
    ({"token_min_logp": 0.5}, ValueError, "token_min_logp must be <= 0"),
    ({"sil_token": None, "hotwords": ["cat"]}, ValueError, "need a word delimiter"),
])
def test_bad_decoder_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ctc_decoder(**{"lexicon": None, "tokens": TOKENS, **kwargs})


def test_lexicon_file_errors_name_the_line(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text("cat c a t |\ncab c a b |\n")
    with pytest.raises(ValueError, match=r"lexicon.txt:2: word 'cab' is spelled with unknown "
                                         r"token\(s\) \['b'\]"):
        ctc_decoder(path, TOKENS)


def test_bad_call_arguments():
    decoder = ctc_decoder(None, TOKENS, beam_size=4)
    with pytest.raises(ValueError, match="C = 6 classes"):
        decoder(lucid.tensor(np.zeros((3, 5))), 3)
    with pytest.raises(ValueError, match="input_lengths"):
        decoder(cat_or_cap(), 7)
    with pytest.raises(ValueError, match="log_probs must not contain NaN or"):
        decoder(lucid.tensor(np.full((3, 6), np.nan)), 3)






@pytest.mark.parametrize("beam", [16, 64])
@pytest.mark.parametrize("with_lm", [False, True])
def test_librispeech_matches_pyctcdecode(beam, with_lm):
    logits, labels, arpa = libri()
    pytest.importorskip("kenlm")
    from pyctcdecode import build_ctcdecoder

    alpha, beta, unk_offset = 0.5, 1.5, -10.0  # pyctcdecode's defaults
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    theirs = build_ctcdecoder(labels, kenlm_model_path=str(arpa) if with_lm else None,
                              alpha=alpha, beta=beta, unk_score_offset=unk_offset)
    text, _, _, acoustic, combined = theirs.decode_beams(logits, beam_width=beam)[0]
    # pyctcdecode adds its unknown-word offset to the log10 LM score, before alpha
    ours = ctc_decoder(None, labels + [""], lm=arpa if with_lm else None, blank_token="",
                       sil_token=" ", beam_size=beam, lm_weight=alpha * math.log(10),
                       word_score=beta,
                       unk_word_score=alpha * unk_offset * math.log(10), token_min_logp=-5.0,
                       beam_threshold=10.0)
    hyp = ours(lucid.tensor(pyctcdecode_log_probs(logits)), len(logits))[0]
    assert ours.text(hyp.tokens) == text
    assert hyp.score == pytest.approx(combined if with_lm else acoustic, abs=1e-6)
    if not with_lm:
        assert text.startswith("i have a good deal of will you remember")


def test_librispeech_hotword_and_lexicon():
    logits, labels, _ = libri()
    lp = lucid.tensor(pyctcdecode_log_probs(logits))
    base = ctc_decoder(None, labels + [""], blank_token="", sil_token=" ", beam_size=16)
    words = base(lp, len(logits))[0].words
    assert "will" in words
    lexicon = sorted(set(words) - {"will"} | {"well"})
    constrain = ctc_decoder(lexicon, labels + [""], blank_token="", sil_token=" ", beam_size=64)
    constrained = constrain(lp, len(logits))[0]
    assert "will" not in constrained.words and set(constrained.words) <= set(lexicon)


def test_pruning_keeps_the_best_labelling_on_libri():
    logits, labels, _ = libri()
    lp = lucid.tensor(pyctcdecode_log_probs(logits))
    decoder = ctc_decoder(None, labels + [""], blank_token="", sil_token=" ", beam_size=16, nbest=3)
    wide = decoder(lp, len(logits))
    pruned = ctc_decoder(None, labels + [""], blank_token="", sil_token=" ", beam_size=16,
                         nbest=3, token_min_logp=-5.0, beam_threshold=10.0)(lp, len(logits))
    assert wide[0].tokens == pruned[0].tokens
    assert wide[0].score >= pruned[0].score - 1e-9
    loss = ctc_loss(lp, wide[0].tokens, len(logits), len(wide[0].tokens), blank=28).item()
    # a pruned beam misses some paths of the labelling, never adds any
    assert -loss - 1e-3 < wide[0].score <= -loss + 1e-12
