"""Sentencepiece / BPE vocabularies, whose pieces mark a word start with "▁": word LMs,
lexicons, hotwords and word spans, exact by brute force and on emissions with known spikes."""

import math

import numpy as np
import pytest
from helpers.decoding import brute_force, random_log_probs, write_arpa

import lucid
from lucid.ctc import NGramLM, ctc_decoder

M = "\u2581"
PIECES = ["<b>", M + "ca", M + "c", "at", "a", "t", M, M + "pa", "p"]
BLANK, CA_, C_, AT, A, T, SPACE, PA_, P = range(len(PIECES))
UNI = {("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
       ("cat",): (-0.8, -0.2), ("ca",): (-1.0, -0.1), ("a",): (-0.7, -0.1),
       ("at",): (-0.9, -0.2), ("pat",): (-1.1, -0.2), ("t",): (-1.5, None)}
BI = {("<s>", "cat"): (-0.3, None), ("cat", "pat"): (-0.2, None), ("pat", "</s>"): (-0.1, None),
      ("a", "cat"): (-0.25, None)}


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return NGramLM(write_arpa(tmp_path_factory.mktemp("bpe") / "words.arpa", [UNI, BI]))


def words_of(labelling):
    """The words of a labelling, by the rule: a piece starting with the marker starts a word."""
    words = []
    for k in labelling:
        piece = PIECES[k]
        if piece.startswith(M):
            words.append(piece[len(M):])
        elif words:
            words[-1] += piece
        else:
            words.append(piece)
    return [w for w in words if w]


def spikes(frames, T):
    """(T, C) log-probabilities: frame -> (piece, probability), the blank elsewhere."""
    rows = []
    for t in range(T):
        k, q = frames.get(t, (BLANK, 0.9))
        row = np.full(len(PIECES), (1 - q) / (len(PIECES) - 1))
        row[k] = q
        rows.append(np.log(row))
    return np.array(rows)


def decoder(**kwargs):
    return ctc_decoder(kwargs.pop("lexicon", None), PIECES, blank_token="<b>", sil_token=None,
                       **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unpruned_bpe_decoding_with_a_word_lm_is_exact(lm, seed):
    Tn, C = 4, len(PIECES)
    lp = random_log_probs(np.random.default_rng(seed), Tn, 1, C, peaky=2.0)[:, 0]
    weights = dict(lm_weight=1.1, word_score=0.5, unk_word_score=-1.5)
    hyps = decoder(lm=lm, beam_size=C ** Tn, beam_threshold=None, nbest=5, **weights)(
        lucid.tensor(lp))
    exact = {}
    for labelling, acoustic in brute_force(lp, BLANK).items():
        words = words_of(labelling)
        unknown = sum(w not in lm.word_index for w in words)
        exact[labelling] = (acoustic + weights["lm_weight"] * lm.log_prob(words) / math.log(10)
                            + weights["word_score"] * len(words)
                            + weights["unk_word_score"] * unknown)
    ranked = sorted(exact.items(), key=lambda kv: -kv[1])
    assert tuple(hyps[0].tokens.tolist()) == ranked[0][0]
    assert [h.score for h in hyps] == pytest.approx([s for _, s in ranked[:5]], abs=1e-9)
    for hyp in hyps:
        assert hyp.words == words_of(hyp.tokens.tolist())


# "▁ca t ▁pa t ▁ a": the words "cat", "pat", "a"; the last spelled by a bare "▁" and "a"
SPOKEN = {1: (CA_, 0.8), 3: (T, 0.7), 5: (PA_, 0.85), 6: (T, 0.6), 8: (SPACE, 0.9),
          9: (A, 0.75)}
SPANS = [("cat", 1, 4, 0.7), ("pat", 5, 7, 0.6), ("a", 8, 10, 0.75)]


def spans_of(hyp):
    return [(s.word, s.start, s.end, round(s.confidence, 12)) for s in hyp.word_spans]


@pytest.mark.parametrize("setup", ["no LM", "LM", "lexicon", "hotwords"])
def test_every_word_starts_at_its_first_piece(lm, setup):
    weak = dict(lm=lm, lm_weight=0.5)
    options = {"no LM": {}, "LM": weak, "hotwords": dict(**weak, hotwords={"pat": 1.0}),
               # spelled in other pieces than those spoken: a word is known by its text
               "lexicon": dict(**weak, lexicon={"cat": [M + "c", "at"], "pat": [M + "pa", "t"],
                                                "a": [M, "a"], "ta": [M, "t", "a"]})}[setup]
    hyp = decoder(beam_size=16, **options)(lucid.tensor(spikes(SPOKEN, 11)))[0]
    assert hyp.tokens.tolist() == [CA_, T, PA_, T, SPACE, A]
    assert hyp.words == ["cat", "pat", "a"]
    assert spans_of(hyp) == [(w, s, e, round(c, 12)) for w, s, e, c in SPANS]


def test_word_starts_are_all_found_on_random_emissions(lm):
    x = random_log_probs(np.random.default_rng(9), 60, 4, len(PIECES), peaky=2.5)
    batch = decoder(lm=lm, beam_size=12, nbest=3)(lucid.tensor(x.swapaxes(0, 1)))
    checked = 0
    for sample in batch:
        for hyp in sample:
            tokens, steps = hyp.tokens.tolist(), hyp.timesteps.tolist()
            # each word starts at a marker piece (or at the first piece) and ends before the next
            starts = [i for i, k in enumerate(tokens) if PIECES[k].startswith(M) or i == 0]
            expected = []
            for a, b in zip(starts, starts[1:] + [len(tokens)]):
                text = "".join(PIECES[k] for k in tokens[a:b]).removeprefix(M)
                if text:
                    expected.append((text, steps[a], steps[b - 1] + 1))
            assert [(s.word, s.start, s.end) for s in hyp.word_spans] == expected
            checked += len(expected)
    assert checked > 30


def test_the_lexicon_accepts_any_pieces_writing_a_word(lm):
    # spoken "▁c at": the lexicon spells "cat" as "▁ca t"
    lp = spikes({0: (C_, 0.9), 2: (AT, 0.9)}, 4)
    hyp = decoder(lexicon={"cat": [M + "ca", "t"]}, beam_size=8)(lucid.tensor(lp))[0]
    assert hyp.words == ["cat"] and hyp.tokens.tolist() == [C_, AT]
    # a bare list of words: each spelled by whatever pieces write it
    assert decoder(lexicon=["cat", "a"], beam_size=8)(lucid.tensor(lp))[0].words == ["cat"]
    assert decoder(lexicon={"pat": [M + "pa", "t"]}, beam_size=8)(lucid.tensor(lp))[0].words \
        == ["pat"]  # the only word allowed, however weakly spoken


def test_hotwords_pull_with_bpe_pieces():
    lp = spikes({0: (CA_, 0.9), 2: (T, 0.5)}, 4)
    lp[2, P] = np.log(0.45)  # "▁ca t" or "▁ca p"
    assert decoder(beam_size=8)(lucid.tensor(lp))[0].words == ["cat"]
    assert decoder(beam_size=8, hotwords={"cap": 1.0})(lucid.tensor(lp))[0].words == ["cap"]


def test_a_lexicon_piece_that_starts_a_word_inside_is_refused():
    with pytest.raises(ValueError, match="'cat' is spelled with a piece that starts a word"):
        decoder(lexicon={"cat": [M + "c", M, "at"]})


def test_word_marker_none_and_a_delimiter_alongside():
    lp = lucid.tensor(spikes(SPOKEN, 11))
    assert decoder(word_marker=None, beam_size=8)(lp)[0].words == []
    # with a delimiter too, both end words: "▁ca | t ▁pa t ▁ a"
    pieces = PIECES + ["|"]
    x = np.hstack([spikes(SPOKEN, 11), np.full((11, 1), np.log(0.001))])
    x[2] = np.log(np.r_[np.full(len(PIECES), 0.1 / len(PIECES)), 0.9])
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    hyp = ctc_decoder(None, pieces, blank_token="<b>", sil_token="|", beam_size=8)(
        lucid.tensor(x))[0]
    assert hyp.words == ["ca", "t", "pat", "a"]
