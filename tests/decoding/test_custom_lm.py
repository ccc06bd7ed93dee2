"""Language models written in Python (torchaudio's CTCDecoderLM interface) and kenlm.Model:
the same n-gram in plain Python gives the native NGramLM path's results, lexicon-free, with a
lexicon and at the char level; misuse is a clear error."""

import math

import numpy as np
import pytest
from helpers.decoding import TOKENS, random_log_probs, write_arpa
from helpers.python_lm import CHARS, WORDS, PythonNGram

import lucid
from lucid.ctc import CTCDecoderLM, CTCDecoderLMState, NGramLM, ctc_decoder

LEXICON = ["cat", "a", "at", "pat", "tap", "ta"]  # "ta" is not in the LM: scored as <unk>


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    return write_arpa(tmp_path_factory.mktemp("lm") / "words.arpa", WORDS)


def same_results(mine, reference, rel=1e-9):
    """Hypotheses with the same tokens, timesteps, words and spans; scores within rel."""
    assert len(mine) == len(reference)
    for a, b in zip(mine, reference):
        assert a.tokens.tolist() == b.tokens.tolist()
        assert a.timesteps.tolist() == b.timesteps.tolist()
        assert a.words == b.words and a.word_spans == b.word_spans
        assert a.score == pytest.approx(b.score, rel=rel, abs=rel)


def emissions(seed, T=30, N=3):
    lp = random_log_probs(np.random.default_rng(seed), T, N, len(TOKENS), peaky=2.5)
    return lucid.tensor(lp.swapaxes(0, 1))  # (N, T, C)


SETUPS = {
    "lexicon-free": dict(lexicon=None, hotwords={"pat": 1.5}, unk_word_score=-3.0),
    "lexicon": dict(lexicon=LEXICON, beam_threshold=8.0),
    "pruned": dict(lexicon=None, token_min_logp=-4.0, beam_size_token=4, sil_score=-0.3),
}


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_python_ngram_gives_the_native_ngram_results(arpa, setup, seed):
    options = dict(SETUPS[setup])
    lexicon = options.pop("lexicon")
    native = NGramLM(arpa)
    # the Python model is told its words: the LM's own (lm_dict), or the lexicon's
    words = native.vocab if lexicon is None else lexicon + ["<unk>"]
    python = PythonNGram(WORDS, words)
    common = dict(beam_size=8, nbest=3, lm_weight=1.3, word_score=0.4, **options)
    x = emissions(seed)
    reference = ctc_decoder(lexicon, TOKENS, lm=native, **common)(x, [30, 22, 9])
    lm_dict = native.vocab if lexicon is None else None
    mine = ctc_decoder(lexicon, TOKENS, lm=python, lm_dict=lm_dict, **common)(x, [30, 22, 9])
    assert python.calls > 0
    for a, b in zip(mine, reference):
        same_results(a, b)


def test_a_python_char_lm_gives_the_native_char_lm_results(tmp_path):
    native = NGramLM(write_arpa(tmp_path / "chars.arpa", CHARS))
    python = PythonNGram(CHARS, TOKENS)  # at the char level a word is a token index
    x = emissions(4)
    # every token is a word of a Python char LM, so none draws unk_word_score: 0 in both
    common = dict(lm_level="char", beam_size=6, nbest=2, lm_weight=0.9, unk_word_score=0.0)
    for a, b in zip(ctc_decoder(None, TOKENS, lm=python, **common)(x),
                    ctc_decoder(None, TOKENS, lm=native, **common)(x)):
        same_results(a, b)


def test_the_tutorials_custom_lm_shape_runs(tmp_path):
    """torchaudio's custom-LM example: states from CTCDecoderLMState.child, scores kept in a
    dict keyed by state; here a unigram, against the same unigram as an ARPA file."""
    log10p = {"cat": -0.5, "pat": -0.9, "a": -0.4, "<unk>": -3.0, "</s>": -0.2}
    words = ["cat", "pat", "a", "<unk>"]

    class CustomLM(CTCDecoderLM):
        def __init__(self):
            self.states = {}

        def start(self, start_with_nothing=False):
            state = CTCDecoderLMState()
            self.states[state] = 0.0
            return state

        def score(self, state, token_index):
            outstate = state.child(token_index)
            if outstate not in self.states:
                self.states[outstate] = log10p[words[token_index]]
            return outstate, self.states[outstate]

        def finish(self, state):
            return state, log10p["</s>"]

    uni = {("<s>",): (-99.0, None), **{(w,): (p, None) for w, p in log10p.items()}}
    native = NGramLM(write_arpa(tmp_path / "uni.arpa", [uni]))
    x = emissions(5)
    for lexicon in (None, ["cat", "pat", "a"]):
        lm_dict = words if lexicon is None else None
        mine = ctc_decoder(lexicon, TOKENS, lm=CustomLM(), lm_dict=lm_dict, beam_size=8)(x)
        reference = ctc_decoder(lexicon, TOKENS, lm=native, beam_size=8)(x)
        for a, b in zip(mine, reference):
            same_results(a, b)


def test_homophones_are_ranked_by_the_python_lm_alone(arpa):
    # "KAT" and "cat" are spelled the same; the model prefers "cat" without context
    lexicon = {"KAT": list("cat"), "cat": list("cat"), "a": ["a"]}
    python = PythonNGram(WORDS, ["KAT", "cat", "a", "<unk>"])
    lp = np.log(0.9 * np.eye(len(TOKENS))[[2, 3, 4]] + 0.1 / len(TOKENS))
    hyp = ctc_decoder(lexicon, TOKENS, lm=python, beam_size=8)(lucid.tensor(lp))[0]
    assert hyp.words == ["cat"]
    assert ctc_decoder(lexicon, TOKENS, beam_size=8)(lucid.tensor(lp))[0].words == ["KAT"]


def test_a_python_lm_in_a_batch_on_several_threads(arpa):
    python = PythonNGram(WORDS, NGramLM(arpa).vocab)
    decoder = ctc_decoder(None, TOKENS, lm=python, lm_dict=python.words, beam_size=6)
    x = emissions(6, N=4)
    old = lucid.get_num_threads()
    lucid.set_num_threads(2)
    try:
        batch = decoder(x)
    finally:
        lucid.set_num_threads(old)
    assert batch == [decoder(x[n]) for n in range(4)]


# --------------------------------------------------------------------------------- kenlm
def test_a_kenlm_model_gives_the_native_ngram_results(arpa):
    kenlm = pytest.importorskip("kenlm")
    model = kenlm.Model(str(arpa))
    native = NGramLM(arpa)
    x = emissions(7)
    common = dict(beam_size=8, nbest=2, lm_weight=1.3, word_score=0.4)
    # KenLM keeps float32 weights: scores agree to float32 precision
    for lexicon, lm_dict in ((None, native.vocab), (LEXICON, None)):
        mine = ctc_decoder(lexicon, TOKENS, lm=model, lm_dict=lm_dict, **common)(x)
        reference = ctc_decoder(lexicon, TOKENS, lm=native, **common)(x)
        for a, b in zip(mine, reference):
            same_results(a, b, rel=1e-5)


def test_a_kenlm_model_as_a_char_lm(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    arpa = write_arpa(tmp_path / "chars.arpa", CHARS)
    x = emissions(8)
    common = dict(lm_level="char", beam_size=6, nbest=2, lm_weight=0.9, unk_word_score=0.0)
    for a, b in zip(ctc_decoder(None, TOKENS, lm=kenlm.Model(str(arpa)), **common)(x),
                    ctc_decoder(None, TOKENS, lm=PythonNGram(CHARS, TOKENS), **common)(x)):
        same_results(a, b, rel=1e-5)


# ------------------------------------------------------------------------------- misuse
class Returns(CTCDecoderLM):
    def __init__(self, result):
        self.result = result

    def start(self, start_with_nothing):
        return CTCDecoderLMState()

    def score(self, state, idx):
        return self.result

    def finish(self, state):
        return state, 0.0


@pytest.mark.parametrize("result, error, message", [
    (0.5, TypeError, "score() must return a tuple (state, score), got float 0.5"),
    ((None, "x"), ValueError, "could not convert string to float"),
    ((None, math.nan), ValueError, "must return a score that is a number or -inf, got nan"),
])
def test_a_python_lm_returning_nonsense_is_a_clear_error(result, error, message):
    decoder = ctc_decoder(["cat"], TOKENS, lm=Returns(result), beam_size=4)
    lp = np.log(0.9 * np.eye(len(TOKENS))[[2, 3, 4, 1]] + 0.1 / len(TOKENS))
    with pytest.raises(error) as info:
        decoder(lucid.tensor(lp))
    assert message in str(info.value)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lm=object()), TypeError, "lm must be an NGramLM, a path to an ARPA file, a kenlm.Model"),
    (dict(lm=PythonNGram(WORDS, [])), ValueError,
     "a language model written in Python needs its words: pass lm_dict"),
    (dict(lm=PythonNGram(WORDS, []), lm_dict=["a", "b", "a"]), ValueError,
     "lm_dict lists 'a' twice"),
    (dict(lm=PythonNGram(WORDS, []), lm_dict=3), TypeError,
     "lm_dict must be a file path or a sequence of str"),
    (dict(lm=PythonNGram(WORDS, []), lm_dict=["a"], unk_word=""), TypeError,
     "unk_word must be a non-empty str"),
])
def test_bad_language_models_are_clear_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        ctc_decoder(None, TOKENS, **kwargs)
    assert str(info.value).startswith("ctc_decoder: ") and message in str(info.value)


def test_lm_dict_is_for_python_models_only(arpa):
    with pytest.raises(ValueError, match="lm_dict must be None with an n-gram LM"):
        ctc_decoder(None, TOKENS, lm=NGramLM(arpa), lm_dict=["a"])


def test_lm_dict_from_a_file_and_unk_word_appended(tmp_path):
    path = tmp_path / "lm_dict.txt"
    path.write_text("cat\n\npat\na\n")
    seen = []

    class Recording(PythonNGram):
        def score(self, state, usr_token_idx):
            seen.append(usr_token_idx)
            return super().score(state, usr_token_idx)

    python = Recording(WORDS, ["cat", "pat", "a", "<oov>"])
    decoder = ctc_decoder(None, TOKENS, lm=python, lm_dict=path, unk_word="<oov>", beam_size=4,
                          unk_word_score=0.0)
    lp = np.log(0.9 * np.eye(len(TOKENS))[[2, 3, 4, 1, 4, 3]] + 0.1 / len(TOKENS))  # cat|ta
    assert decoder(lucid.tensor(lp))[0].words == ["cat", "ta"]
    assert 0 in seen and 3 in seen  # "cat" is line 1, "ta" the appended <oov>
    assert set(seen) <= {0, 1, 2, 3}
