"""sil_score: a score per word delimiter in the labelling, checked against every labelling's
exact score (brute force over all paths) on searches that prune nothing."""

import math

import numpy as np
import pytest
from helpers.decoding import TOKENS, brute_force, random_log_probs, write_arpa

import lucid
from lucid.ctc import NGramLM, ctc_decoder

SIL = TOKENS.index("|")
UNI = {("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
       ("ca",): (-0.8, -0.2), ("at",): (-0.6, -0.25), ("a",): (-0.7, -0.1)}
BI = {("<s>", "ca"): (-0.3, None), ("ca", "at"): (-0.2, None), ("at", "</s>"): (-0.1, None)}


def rescored(lp, sil_score, lm=None, lm_weight=0.0, word_score=0.0, unk_word_score=0.0,
             lexicon=None):
    """Every labelling's exact decoder score: -ctc_loss by brute force, sil_score per
    delimiter it contains, and the word LM's terms; labellings a lexicon forbids left out."""
    scores = {}
    for labelling, acoustic in brute_force(lp, 0).items():
        words = [w for w in "".join(TOKENS[i] for i in labelling).split("|") if w]
        if lexicon is not None and any(w not in lexicon for w in words):
            continue
        score = acoustic + sil_score * labelling.count(SIL)
        if lm is not None:
            unknown = sum(w not in lm.word_index for w in words)
            score += lm_weight * lm.log_prob(words) / math.log(10) + unk_word_score * unknown
        scores[labelling] = score + word_score * len(words)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def check_exhaustive(decoder, lp, ranked, nbest):
    hyps = decoder(lucid.tensor(lp))
    assert tuple(hyps[0].tokens.tolist()) == ranked[0][0]
    exact = dict(ranked)
    for hyp in hyps:
        assert hyp.score == pytest.approx(exact[tuple(hyp.tokens.tolist())], abs=1e-9)
    assert [h.score for h in hyps] == pytest.approx([s for _, s in ranked[:nbest]], abs=1e-9)


@pytest.mark.parametrize("sil_score", [-1.7, 0.9])
@pytest.mark.parametrize("seed", [0, 1])
def test_sil_score_without_an_lm_is_exact(sil_score, seed):
    T, C = 5, len(TOKENS)
    lp = random_log_probs(np.random.default_rng(seed), T, 1, C, peaky=1.5)[:, 0]
    lp[:, SIL] += 1.0  # delimiters often, some labellings with two or three
    lp -= np.log(np.exp(lp).sum(axis=1, keepdims=True))
    decoder = ctc_decoder(None, TOKENS, beam_size=C ** T, beam_threshold=None, nbest=6,
                          sil_score=sil_score)
    ranked = rescored(lp, sil_score)
    assert any(SIL in labelling for labelling, _ in ranked[:6])
    check_exhaustive(decoder, lp, ranked, 6)


@pytest.mark.parametrize("seed", [2, 3])
def test_sil_score_with_a_word_lm_and_a_lexicon_is_exact(tmp_path, seed):
    lm = NGramLM(write_arpa(tmp_path / "w.arpa", [UNI, BI]))
    T, C = 5, len(TOKENS)
    lp = random_log_probs(np.random.default_rng(seed), T, 1, C, peaky=2.0)[:, 0]
    weights = {"lm_weight": 0.8, "word_score": 0.3, "unk_word_score": -1.2}
    common = dict(beam_size=C ** T, beam_threshold=None, nbest=5, sil_score=-0.6)
    decoder = ctc_decoder(None, TOKENS, lm=lm, **common, **weights)
    check_exhaustive(decoder, lp, rescored(lp, -0.6, lm, **weights), 5)
    lexicon = ["ca", "at", "a", "t"]
    decoder = ctc_decoder(lexicon, TOKENS, lm=lm, **common, lm_weight=0.8, word_score=0.3)
    ranked = rescored(lp, -0.6, lm, lm_weight=0.8, word_score=0.3, lexicon=lexicon)
    check_exhaustive(decoder, lp, ranked, 5)


def test_sil_score_is_per_delimiter_emitted_not_per_frame():
    # "a|" with the delimiter held for three frames, and "a|-|": one delimiter, then two
    held = np.log(0.97 * np.eye(len(TOKENS))[[3, 1, 1, 1]] + 0.005)
    plain = ctc_decoder(None, TOKENS, beam_size=32)(lucid.tensor(held))[0]
    scored = ctc_decoder(None, TOKENS, beam_size=32, sil_score=-0.5)(lucid.tensor(held))[0]
    assert scored.tokens.tolist() == plain.tokens.tolist() == [3, 1]
    assert scored.score == pytest.approx(plain.score - 0.5, abs=1e-12)
    # a strong enough penalty removes the delimiter, a bonus adds more
    assert SIL not in ctc_decoder(None, TOKENS, beam_size=32, sil_score=-20.0)(
        lucid.tensor(held))[0].tokens.tolist()
    assert ctc_decoder(None, TOKENS, beam_size=32, sil_score=20.0)(
        lucid.tensor(held))[0].tokens.tolist().count(SIL) >= 2


@pytest.mark.parametrize("bad, error", [(math.inf, ValueError), (math.nan, ValueError),
                                        ("1", TypeError)])
def test_sil_score_must_be_a_finite_number(bad, error):
    with pytest.raises(error, match="sil_score must be a finite number"):
        ctc_decoder(None, TOKENS, sil_score=bad)
