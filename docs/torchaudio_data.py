"""Stand-ins for what torchaudio's CTC tutorials download: an acoustic model's emissions and
the decoder's files (tokens, lexicon, language model).

The tutorials run a pretrained wav2vec 2.0 model on a recording. These pages run the same
calls on emissions made here instead: for a known text, each character takes one to three
frames with most of the probability, blanks fill the gaps, and the rest of each frame's
probability is spread at random. ``misspell`` makes some frames favour another character,
with the right one a close second, as a real model's uncertain frames do; that is what a
lexicon and a language model repair. Everything is seeded, so the pages' outputs are fixed.
"""

from __future__ import annotations

import pathlib
import tempfile
import types

import numpy as np

import lucid

# The labels of torchaudio's MMS_FA bundle (``bundle.get_labels(star=None)``): blank first.
MMS_LABELS = ("-", "a", "i", "e", "n", "o", "u", "t", "s", "r", "m", "k", "l", "d", "g", "h",
              "y", "b", "p", "w", "c", "v", "j", "z", "f", "'", "q", "x")
# The labels of torchaudio's WAV2VEC2_ASR_BASE_10M bundle, lower-cased as the decoder
# tutorial does: blank "-", word delimiter "|".
WAV2VEC2_TOKENS = ("-", "|", "e", "t", "a", "o", "n", "i", "h", "s", "r", "d", "l", "u", "m",
                   "w", "c", "f", "g", "y", "p", "b", "v", "k", "'", "x", "j", "q", "z")

DECODER_TRANSCRIPT = ("i really was very much afraid of showing him how much shocked i was at "
                      "some parts of what he said")


def emission_for(text: str, labels, *, sep: str | None = None, misspell=None, seed: int = 0,
                 confidence: float = 0.9) -> lucid.Tensor:
    """(1, T, C) log-probabilities whose frames spell ``text``.

    Characters are looked up in ``labels`` (blank at index 0); a space becomes ``sep`` (a
    word-delimiter label) or, if None, a few blank frames. ``misspell`` maps a position in
    ``text`` to the character its frames favour instead; the true one gets most of the rest.
    """
    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(labels)}
    misspell = misspell or {}
    frames = [0] * int(rng.integers(3, 6))  # leading silence
    favoured = {}
    for position, ch in enumerate(text):
        if ch == " " and sep is None:
            frames += [0] * int(rng.integers(2, 4))
            continue
        label = index[sep if ch == " " else ch]
        start = len(frames)
        frames += [label] * int(rng.integers(1, 3))
        if position in misspell:
            for t in range(start, len(frames)):
                favoured[t] = index[misspell[position]]
        frames += [0] * int(rng.integers(1, 3))
    frames += [0] * int(rng.integers(3, 6))  # trailing silence
    T, C = len(frames), len(labels)
    probs = rng.dirichlet(np.full(C, 0.5), size=T) * (1 - confidence)
    probs[np.arange(T), frames] += confidence
    for t, other in favoured.items():  # the wrong label first, the right one close behind
        probs[t, other] += 0.5 * probs[t, frames[t]]
        probs[t, frames[t]] *= 0.5
    return lucid.tensor(np.log(probs / probs.sum(axis=1, keepdims=True)))[None]


def decoder_emission() -> lucid.Tensor:
    """The decoder tutorial's recording, as a model unsure of "afraid" and "shocked": the
    frames of their r and i favour f and y, those of the e in "shocked" t."""
    text = DECODER_TRANSCRIPT
    afraid, shocked = text.index("afraid"), text.index("shocked")
    misspell = {afraid + 2: "f", afraid + 4: "y", shocked + 5: "t"}
    return emission_for(text, WAV2VEC2_TOKENS, sep="|", misspell=misspell, seed=7)


def download_pretrained_files(name: str = "librispeech-4-gram") -> types.SimpleNamespace:
    """torchaudio's ``download_pretrained_files`` for this page: the paths of a tokens file, a
    lexicon file and an ARPA bigram model, written to a temporary directory. The lexicon holds
    the transcript's words and some that sound alike; the LM prefers the transcript's."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="lucid-ctc-decoder-"))
    words = sorted(set(DECODER_TRANSCRIPT.split()) | {"affray", "shock", "shocks", "part",
                                                      "sad", "ship", "we", "very", "wore"})
    (folder / "tokens.txt").write_text("\n".join(WAV2VEC2_TOKENS) + "\n")
    (folder / "lexicon.txt").write_text("".join(f"{w} {' '.join(w)} |\n" for w in words))
    (folder / "lm.arpa").write_text(_bigram_arpa(DECODER_TRANSCRIPT.split(), words))
    return types.SimpleNamespace(lexicon=str(folder / "lexicon.txt"),
                                 tokens=str(folder / "tokens.txt"), lm=str(folder / "lm.arpa"))


def _bigram_arpa(sentence: list[str], vocabulary: list[str]) -> str:
    """An ARPA bigram model: the sentence's bigrams likely, every word possible on its own."""
    unigrams = ["<s>", "</s>", "<unk>"] + vocabulary
    seen = {w: sentence.count(w) + 1 for w in vocabulary}
    total = sum(seen.values()) + 2
    lines = ["", "\\data\\", f"ngram 1={len(unigrams)}"]
    bigrams = sorted(set(zip(["<s>"] + sentence, sentence + ["</s>"])))
    lines += [f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    for w in unigrams:
        prob = -99.0 if w == "<s>" else np.log10(seen.get(w, 1) / total)
        lines.append(f"{prob:.4f}\t{w}\t-0.5")
    lines += ["", "\\2-grams:"]
    lines += [f"-0.1000\t{a} {b}" for a, b in bigrams]
    return "\n".join(lines + ["", "\\end\\", ""])


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (torchaudio.functional.edit_distance)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]
