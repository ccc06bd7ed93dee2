"""ctc_decoder's lexicon and hotwords read the way they are written: torchaudio-format lexicon
files, words that are not their spelling, homophones, non-finite boosts, and a result for
every sample even when the input ends inside a word."""

import math
import warnings

import numpy as np
import pytest
from helpers.decoding import (
    TOKENS,
    cat_or_cap,
    libri,
    pyctcdecode_log_probs,
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

C, A, T_, P, SIL = 2, 3, 4, 5, 1  # class indices of TOKENS = ["-", "|", "c", "a", "t", "p"]


def acoustic(lp, tokens):
    """The labelling's exact log-probability (what an unpruned search scores)."""
    lp = lucid.tensor(np.asarray(lp))
    return -ctc_loss(lp, tokens, lp.shape[0], len(tokens)).item()


# ------------------------------------------------------------------ torchaudio lexicon files
def test_torchaudio_lexicon_file_drops_the_trailing_sil(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text("cat c a t |\nca c a |\n")
    lp = lucid.tensor(spelled([C, A, T_, SIL, C, A]))
    hyp = ctc_decoder(path, TOKENS, beam_size=16)(lp, 6)[0]
    assert hyp.words == ["cat", "ca"]
    assert hyp.tokens == [C, A, T_, SIL, C, A]


def test_mapping_lexicon_drops_the_trailing_sil():
    lp = lucid.tensor(spelled([C, A, T_, SIL, C, A]))
    lexicon = {"cat": ["c", "a", "t", "|"], "ca": ("c", "a", "|")}
    assert ctc_decoder(lexicon, TOKENS, beam_size=16)(lp, 6)[0].words == ["cat", "ca"]


@pytest.mark.parametrize("line, what", [
    ("ct c | t |", r"the word delimiter '\|' inside"),
    ("ct c - t", "the blank '-'"),
    ("ct c t -", "the blank '-'"),
])
def test_lexicon_file_with_sil_or_blank_inside_a_word_names_the_line(tmp_path, line, what):
    path = tmp_path / "lexicon.txt"
    path.write_text(f"cat c a t |\n{line}\n")
    with pytest.raises(ValueError, match=rf"lexicon.txt:2: word 'ct' is spelled with {what}"):
        ctc_decoder(path, TOKENS)


@pytest.mark.parametrize("lexicon, match", [
    ({"ct": ["c", "|", "t"]}, r"lexicon word 'ct' is spelled with the word delimiter '\|'"),
    ({"ct": ["c", "-", "t"]}, r"lexicon word 'ct' is spelled with the blank '-'"),
    ({"ct": ["|"]}, r"lexicon word 'ct' is spelled with no tokens"),
    (["c|t"], r"lexicon word 'c\|t' is spelled with the word delimiter '\|'"),
    (["c-t"], r"lexicon word 'c-t' is spelled with the blank '-'"),
])
def test_lexicon_spelling_with_sil_or_blank_inside_names_the_word(lexicon, match):
    with pytest.raises(ValueError, match=match):
        ctc_decoder(lexicon, TOKENS)


def test_lexicon_entries_must_be_strings():
    with pytest.raises(TypeError, match=r"lexicon entries must be a word \(str\) and its tokens"):
        ctc_decoder({"cat": [["c", "a", "t"]]}, TOKENS)


# -------------------------------------------------------------- the lexicon's words come back
def test_a_lexicon_word_comes_back_as_itself_not_its_spelling(tmp_path):
    lp = lucid.tensor(spelled([C, A, T_, SIL, C, A]))
    lexicon = {"kat": ["c", "a", "t"], "KA": ["c", "a"]}
    hyp = ctc_decoder(lexicon, TOKENS, beam_size=16)(lp, 6)[0]
    assert hyp.words == ["kat", "KA"]
    path = tmp_path / "lexicon.txt"
    path.write_text("kat c a t |\nKA c a |\n")
    decoder = ctc_decoder(path, TOKENS, beam_size=16)
    assert decoder(lp, 6)[0].words == ["kat", "KA"]
    assert decoder.text(hyp.tokens) == "kat KA"


@pytest.fixture
def homophone_lm(tmp_path):
    """A bigram LM over "ca" and the homophones "cat" and "kat" (both spelled c a t), which
    likes "kat" better on its own."""
    uni = {("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
           ("ca",): (-0.8, -0.2), ("cat",): (-1.2, -0.1), ("kat",): (-0.6, -0.1)}
    bi = {("<s>", "ca"): (-0.3, None), ("cat", "</s>"): (-0.1, None),
          ("kat", "</s>"): (-0.1, None)}
    return NGramLM(write_arpa(tmp_path / "homophones.arpa", [uni, bi]))


def test_homophones_without_lm_the_first_listed_wins(tmp_path):
    lp = lucid.tensor(spelled([C, A, T_]))
    assert ctc_decoder({"cat": "cat", "kat": "cat"}, TOKENS)(lp, 3)[0].words == ["cat"]
    assert ctc_decoder({"kat": "cat", "cat": "cat"}, TOKENS)(lp, 3)[0].words == ["kat"]
    path = tmp_path / "lexicon.txt"
    path.write_text("cap c a p |\ncop c a p\n")
    assert ctc_decoder(path, TOKENS)(lucid.tensor(spelled([C, A, P])), 3)[0].words == [
        "cap"]


def test_homophones_a_hotword_wins():
    lp = lucid.tensor(spelled([C, A, T_]))
    hyp = ctc_decoder({"cat": "cat", "kat": "cat"}, TOKENS, hotwords={"kat": 0.5})(
        lp, 3)[0]
    assert hyp.words == ["kat"]
    assert hyp.score == pytest.approx(acoustic(lp.numpy(), [C, A, T_]) + 0.5, abs=1e-9)


def test_homophones_the_lm_picks_the_word_and_the_score_is_that_words(homophone_lm):
    lp = spelled([C, A, T_])
    weights = {"lm_weight": 0.7, "word_score": 0.4}
    for order in (["cat", "kat"], ["kat", "cat"]):
        lexicon = {w: ["c", "a", "t"] for w in order} | {"ca": ["c", "a"]}
        hyp = ctc_decoder(lexicon, TOKENS, lm=homophone_lm, beam_size=64, **weights)(
            lucid.tensor(lp), 3)[0]
        assert hyp.words == ["kat"]
        expected = acoustic(lp, [C, A, T_]) + 0.7 * homophone_lm.log10_prob(["kat"]) + 0.4
        assert hyp.score == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------------------------ hotwords
@pytest.mark.parametrize("boost", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_hotword_boost_is_rejected(boost):
    with pytest.raises(ValueError, match=rf"hotwords.*'cap'.*{boost}"):
        ctc_decoder(None, TOKENS, hotwords={"cat": 1.0, "cap": boost})


@pytest.mark.parametrize("boost", ["high", None, True])
def test_hotword_boost_must_be_a_number(boost):
    with pytest.raises(TypeError, match="hotwords.*'cap'"):
        ctc_decoder(None, TOKENS, hotwords={"cap": boost})


@pytest.mark.parametrize("weight", [float("nan"), float("inf")])
def test_non_finite_hotword_weight_is_rejected(weight):
    with pytest.raises(ValueError, match=f"hotword_weight must be a finite number, got {weight}"):
        ctc_decoder(None, TOKENS, hotwords=["cap"], hotword_weight=weight)


def test_a_bare_string_is_one_hotword():
    lp = cat_or_cap()
    as_str = ctc_decoder(None, TOKENS, beam_size=16, hotwords="cap", hotword_weight=1.0)(lp, 6)[0]
    listed = ctc_decoder(None, TOKENS, beam_size=16, hotwords=["cap"], hotword_weight=1.0)
    as_list = listed(lp, 6)[0]
    assert as_str.words == as_list.words == ["cap"]
    assert as_str.score == as_list.score


# ---------------------------------------------------- a result even when no word is finished
def only(frame_probs):
    """A frame's log-probabilities with every class not in frame_probs impossible."""
    row = np.full(len(TOKENS), -np.inf)
    for k, p in frame_probs.items():
        row[k] = math.log(p)
    return row


def test_input_ending_inside_a_word_returns_its_complete_words():
    # "cat|" and then only "c" or "a": every labelling ends inside a word ("c", "ca", ...)
    lp = spelled([C, A, T_, SIL, C, A])
    lp[4], lp[5] = only({C: 0.9, A: 0.1}), only({C: 0.1, A: 0.9})
    decoder = ctc_decoder(["cat", "cap"], TOKENS, beam_size=64, word_score=0.3)
    hyp = decoder(lucid.tensor(lp), 6)[0]
    assert hyp.tokens == [C, A, T_, SIL, C, A]
    assert hyp.words == ["cat"]
    assert hyp.timesteps == [0, 1, 2, 3, 4, 5]
    assert hyp.score == pytest.approx(acoustic(lp, hyp.tokens) + 0.3, abs=1e-9)


def test_input_ending_inside_a_word_with_an_lm(homophone_lm):
    lp = spelled([C, A, SIL, C, C])
    lp[3], lp[4] = only({C: 0.9, A: 0.1}), only({C: 1.0})
    decoder = ctc_decoder({"kat": "cat", "ca": "ca"}, TOKENS, lm=homophone_lm, beam_size=64,
                          lm_weight=0.7, word_score=0.4, nbest=2)
    best = decoder(lucid.tensor(lp), 5)[0]
    assert best.tokens == [C, A, SIL, C] and best.words == ["ca"]
    # the unfinished "c" adds nothing: the LM scores "ca" and the end of the sentence
    expected = acoustic(lp, best.tokens) + 0.7 * homophone_lm.log10_prob(best.words) + 0.4
    assert best.score == pytest.approx(expected, abs=1e-9)


def test_in_a_batch_only_the_sample_cut_inside_a_word_is_searched_again():
    lp = spelled([C, A, T_, SIL, C, A, T_])
    batch = lucid.tensor(np.stack([lp, lp], axis=1))
    decoder = ctc_decoder(["cat"], TOKENS, beam_size=2)
    whole, cut = decoder(batch, [7, 6])
    assert whole[0].words == ["cat", "cat"]
    assert whole[0].score == decoder(lucid.tensor(lp), 7)[0].score
    assert cut[0].tokens == [C, A, T_, SIL, C, A] and cut[0].words == ["cat"]
    impossible = np.full((3, 1, 6), -np.inf)
    impossible[:, :, P] = 0.0
    with pytest.warns(UserWarning, match=r"no hypothesis \(sample 1\)"):
        ok, none = decoder(lucid.tensor(np.concatenate([lp[:3, None], impossible], axis=1)),
                           [3, 3])
    assert ok[0].words == ["cat"] and none == []


def test_a_finished_hypothesis_is_preferred_over_a_better_unfinished_one():
    # "cat|ca" is the likelier labelling, but "cat|" (in the beam) finishes its words
    lp = spelled([C, A, T_, SIL, C, A])
    hyp = ctc_decoder(["cat"], TOKENS, beam_size=64)(lucid.tensor(lp), 6)[0]
    assert hyp.tokens == [C, A, T_, SIL] and hyp.words == ["cat"]


def test_token_min_logp_never_leaves_a_sample_without_hypothesis():
    # "cat" twice with no delimiter between: the "|" never passes the floor
    lp = spelled([C, A, T_, 0, C, A, T_], strength=0.95)
    decoder = ctc_decoder(["cat"], TOKENS, beam_size=16, token_min_logp=-3.0)
    hyps = decoder(lucid.tensor(lp), 7)
    assert hyps and hyps[0].words[:1] == ["cat"]


def test_librispeech_cut_mid_word_and_tiled():
    logits, labels, _ = libri()
    lp = pyctcdecode_log_probs(logits)
    base = ctc_decoder(None, labels + [""], blank_token="", sil_token=" ", beam_size=16)
    lexicon = sorted(set(base(lucid.tensor(lp), len(lp))[0].words))
    for floor in (None, -5.0):
        decoder = ctc_decoder(lexicon, labels + [""], blank_token="", sil_token=" ", beam_size=16,
                              token_min_logp=floor)
        for T in (35, 50, 104):
            (hyp,) = decoder(lucid.tensor(lp[:T]), T)
            assert hyp.words and set(hyp.words) <= set(lexicon)
        tiled = np.concatenate([lp, lp])
        (hyp,) = decoder(lucid.tensor(tiled), len(tiled))
        assert len(hyp.words) > 40 and set(hyp.words) <= set(lexicon)


def test_a_sample_no_lexicon_word_can_explain_warns():
    lp = np.full((4, 6), -np.inf)
    lp[:, P] = 0.0  # only "p", and no word has a "p" where it could start
    decoder = ctc_decoder(["cat"], TOKENS, beam_size=8)
    with pytest.warns(UserWarning, match="no hypothesis"):
        assert decoder(lucid.tensor(lp), 4) == []


def test_the_usual_case_does_not_warn():
    decoder = ctc_decoder(["cat", "cap"], TOKENS, beam_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decoder(cat_or_cap(), 6)[0].words in (["cat"], ["cap"])
    assert math.isfinite(decoder(cat_or_cap(), 6)[0].score)


def test_a_no_break_space_stays_inside_a_lexicon_word_and_a_hotword(tmp_path):
    """Lexicon lines and hotword phrases split at ASCII whitespace, as the ARPA reader and
    KenLM split an LM's words: a word with a no-break space is one word everywhere."""
    tokens = ["-", "|", "a", "b", "\u00a0"]
    path = tmp_path / "lexicon.txt"
    path.write_text("a\u00a0b a \u00a0 b |\n", encoding="utf-8")
    decoder = ctc_decoder(path, tokens, blank_token="-", sil_token="|", hotwords=["a\u00a0b"],
                          beam_size=4)
    frames = np.full((4, len(tokens)), -20.0)
    for t, k in enumerate([2, 4, 3, 1]):  # a, no-break space, b, delimiter
        frames[t, k] = 0.0
    best = decoder(lucid.tensor(frames), 4)[0]
    assert best.words == ["a\u00a0b"]
