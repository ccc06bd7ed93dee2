"""lucid's ctc_decoder against flashlight-text's LexiconDecoder, the search behind torchaudio's
ctc_decoder, built from the same files as torchaudio builds it (a KenLM model of the same ARPA
file, a trie of the lexicon's spellings smeared with the LM's unigram scores).

On clear utterances with a few doubtful characters both must write the same words. The
scores differ on purpose: flashlight's hypotheses start and end with a silence token (here
paid for on frames the model gave to the blank), and without log_add it scores the best path,
not the labelling; so lucid's best score must be at least flashlight's."""

import itertools

import numpy as np
import pytest
from helpers.examples import DOCS

from lucid.ctc import ctc_decoder

fl_decoder = pytest.importorskip("flashlight.lib.text.decoder")
fl_dictionary = pytest.importorskip("flashlight.lib.text.dictionary")
fl_kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")


@pytest.fixture(scope="module")
def data(monkeypatch_module):
    monkeypatch_module.syspath_prepend(str(DOCS))
    import torchaudio_data

    return torchaudio_data


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def flashlight(files, blank_token="-", sil_token="|", **options):
    """torchaudio's ctc_decoder(lexicon, tokens, lm, ...), as its source builds it."""
    tokens = fl_dictionary.Dictionary(files.tokens)
    lexicon = fl_dictionary.load_words(files.lexicon)
    words = fl_dictionary.create_word_dict(lexicon)
    lm = fl_kenlm.KenLM(files.lm, words)
    sil, blank = tokens.get_index(sil_token), tokens.get_index(blank_token)
    trie = fl_decoder.Trie(tokens.index_size(), sil)
    start = lm.start(False)
    for word, spellings in lexicon.items():
        index = words.get_index(word)
        _, score = lm.score(start, index)
        for spelling in spellings:
            trie.insert([tokens.get_index(t) for t in spelling], index, score)
    trie.smear(fl_decoder.SmearingMode.MAX)
    settings = fl_decoder.LexiconDecoderOptions(
        beam_size=options["beam_size"], beam_size_token=tokens.index_size(),
        beam_threshold=50.0, lm_weight=options["lm_weight"], word_score=options["word_score"],
        unk_score=float("-inf"), sil_score=0.0, log_add=options["log_add"],
        criterion_type=fl_decoder.CriterionType.CTC)
    decoder = fl_decoder.LexiconDecoder(settings, trie, lm, sil, blank,
                                        words.get_index("<unk>"), [], False)

    def decode(emission):
        frames = np.ascontiguousarray(emission, dtype=np.float32)
        best = decoder.decode(frames.ctypes.data, *frames.shape)[0]
        labels = [k for k, _ in itertools.groupby(best.tokens) if k != blank]
        return [words.get_entry(w) for w in best.words if w >= 0], best.score, labels
    return decode


def strip(labels, sil=1):
    """A labelling without its leading and trailing silence tokens (index 1, "|")."""
    while labels and labels[0] == sil:
        labels = labels[1:]
    while labels and labels[-1] == sil:
        labels = labels[:-1]
    return labels


@pytest.mark.parametrize("log_add", [False, True])
def test_same_words_as_torchaudios_decoder(data, log_add):
    files = data.download_pretrained_files()
    vocabulary = sorted(set(data.DECODER_TRANSCRIPT.split()))
    options = dict(beam_size=64, lm_weight=3.23, word_score=-0.26)
    theirs = flashlight(files, log_add=log_add, **options)
    ours = ctc_decoder(files.lexicon, files.tokens, files.lm, log_add=log_add, **options)
    rng = np.random.default_rng(0)
    for seed in range(12):
        text = " ".join(rng.choice(vocabulary, size=int(rng.integers(3, 9))))
        doubtful = {int(p): data.WAV2VEC2_TOKENS[int(rng.integers(2, 29))]
                    for p in rng.choice(len(text), size=3) if text[p] != " "}
        emission = data.emission_for(text, data.WAV2VEC2_TOKENS, sep="|", misspell=doubtful,
                                     seed=seed)
        (best,), = ours(emission)[:1]
        words, score, labels = theirs(emission.numpy()[0])
        assert best.words == words, (seed, text)
        assert strip(best.tokens.tolist()) == strip(labels)  # theirs between silences
        assert best.score >= score - 1e-4
