"""CTC beam-search decoding speed: lucid against pyctcdecode, ctc-beam-decoder and
flashlight-text (torchaudio's decoder), each with KenLM, interleaved.

    python benchmarks/bench_decode.py            # full tables (a few minutes)
    python benchmarks/bench_decode.py --quick    # smoke run: tiny repeats, no claims

The posteriors are pyctcdecode's LibriSpeech sample (371 frames x 29 classes, shipped inside
the pyctcdecode package), once as they are and once tiled ten times (3,710 frames), each
log-softmaxed and clipped at log(1e-15) exactly as pyctcdecode does to its input. Every
decoder gets the same beam width and, with an LM, the same word 3-gram ARPA file (ours read by
lucid's NGramLM, theirs by KenLM) and the same weights: 0.5 on the natural log of the LM
probability (lm_weight 0.5 ln 10 on its log10, for lucid and flashlight), 1.5 per word, and
an unknown word -10 in log10 times 0.5 (pyctcdecode's alpha, beta and unk_score_offset).
Pruning, anchor by anchor:

- pyctcdecode and ctc-beam-decoder (a C++ port of it, same API): their defaults, passed
  explicitly, and lucid the same: classes below log-probability -5 skipped unless a frame's
  best (token_min_logp), hypotheses more than 10 below the best dropped (beam_threshold).
  Lexicon-free: any spelling is a word, unknown ones pay the penalty. The "exact" column is
  lucid without any pruning besides the beam width.
- flashlight-text (torchaudio's decoder): all classes considered at every frame (its
  beam_size_token, torchaudio's default; flashlight has no log-probability threshold like
  token_min_logp), hypotheses more than 10 below the best dropped, and lucid the same. Its
  log_add is on (merging hypotheses add their probabilities, as in a prefix search). Without
  an LM, its lexicon-free decoder (ZeroLM); with the LM, its lexicon decoder as torchaudio
  builds it: the LM's words, each spelled one character per class and closed by the
  delimiter (torchaudio's "word w o r d |"; without it flashlight runs words together), in a
  trie smeared with each word's unigram score, unk_score -inf (only lexicon words). lucid
  gets the same lexicon; there the end of the input also closes a word, so flashlight alone
  must emit a last space. Flashlight's is a token-passing search with merging rules of its
  own, not a prefix search: equal settings do not make the two searches the same.

Times are the median over repeats of the process's CPU time per call over blocks of ten calls
(garbage collector off, as in timeit), anchor and lucid alternating block by block, on one
thread. Each row also gives, for both top answers, the score under lucid's ranking (the
objective every decoder above approximates): the exact ln P_CTC of the text (every path;
the text's words joined by single spaces, with or without a space before and after, the
best of the four), plus 0.5 ln P_LM(<s> words </s>) + 1.5 per word (+ the unknown-word
penalty, lexicon-free). "same" says whether the texts agree.

The 3-gram is estimated here, in a few lines, from English text that ships with Python (the
docstrings and comments of a fixed set of standard-library modules) plus the sample's own
transcript, with absolute discounting (D = 0.7) and unnormalised back-off weights: a
realistic vocabulary and file for timing, not a good model.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import math
import pathlib
import re
import statistics
import sys
import tempfile
import time

import numpy as np

import lucid
import lucid.nn.functional as F
from lucid.ctc import NGramLM, ctc_decoder

LABELS = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
CORPUS_MODULES = ("argparse", "collections", "email.message", "json", "logging", "pathlib",
                  "pickle", "re", "shutil", "subprocess", "tarfile", "threading", "unittest",
                  "urllib.request", "zipfile", "typing", "inspect", "difflib")


def libri_log_probs():
    """pyctcdecode's sample posteriors, normalised as pyctcdecode normalises them."""
    import pyctcdecode

    path = pathlib.Path(pyctcdecode.__file__).parent / "tests" / "sample_data" / \
        "libri_logits.json"
    logits = np.array(json.loads(path.read_text()), dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    lp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logits, np.clip(lp, math.log(1e-15), 0)


def corpus_sentences(transcript):
    """Lower-case word lines from standard-library source text, plus the transcript."""
    import importlib
    import inspect

    sentences = []
    for name in CORPUS_MODULES:
        source = inspect.getsource(importlib.import_module(name))
        for line in source.splitlines():
            words = re.findall(r"[a-z']+", line.lower()) if ("#" in line or '"""' in line or
                                                             line.startswith("    ")) else []
            if len(words) >= 3:
                sentences.append(words)
    sentences += [transcript.split()] * 5
    return sentences


def write_trigram_arpa(sentences, path, discount=0.7):
    """A back-off word 3-gram with absolute discounting, as an ARPA file."""
    counts = [collections.Counter() for _ in range(3)]
    for words in sentences:
        padded = ["<s>", *words, "</s>"]
        for k in range(3):
            for i in range(len(padded) - k):
                counts[k][tuple(padded[i: i + k + 1])] += 1
    context_total = [collections.Counter(), collections.Counter()]
    context_types = [collections.Counter(), collections.Counter()]
    for k in (1, 2):
        for ngram, c in counts[k].items():
            context_total[k - 1][ngram[:-1]] += c
            context_types[k - 1][ngram[:-1]] += 1
    total = sum(c for g, c in counts[0].items() if g != ("<s>",))
    lines = ["\\data\\", f"ngram 1={len(counts[0]) + 1}", f"ngram 2={len(counts[1])}",
             f"ngram 3={len(counts[2])}", "", "\\1-grams:", "-6.0\t<unk>\t0.0"]

    def backoff(ngram, k):
        if k == 2 or ngram not in context_total[k]:
            return ""
        return f"\t{math.log10(discount * context_types[k][ngram] / context_total[k][ngram]):.6f}"

    for (w,), c in sorted(counts[0].items()):
        p = -99.0 if w == "<s>" else math.log10(c / total)
        lines.append(f"{p:.6f}\t{w}{backoff((w,), 0)}")
    for k in (1, 2):
        lines += ["", f"\\{k + 1}-grams:"]
        for ngram, c in sorted(counts[k].items()):
            p = math.log10((c - discount) / context_total[k - 1][ngram[:-1]])
            lines.append(f"{p:.6f}\t{' '.join(ngram)}{backoff(ngram, k)}")
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return len(counts[0]) + 1, len(counts[1]), len(counts[2])


def timed(fn, *args, block=10, **kwargs):
    """CPU seconds per call of this process (every decoder runs on this one thread: on a
    shared, overloaded machine wall time mostly measures the wait for a core), over a block
    of calls in a row, the garbage collector off as in timeit."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(block):
            fn(*args, **kwargs)
        return (time.process_time() - start) / block
    finally:
        gc.enable()


# pyctcdecode's alpha (on natural logs), beta and unk_score_offset (log10, times alpha); lucid's
# and flashlight's lm_weight weigh log10 probabilities, as KenLM's scores are
ALPHA, BETA, UNK = 0.5, 1.5, 0.5 * -10.0 * math.log(10)
WEIGHTS = {"lm_weight": ALPHA * math.log(10), "word_score": BETA, "unk_word_score": UNK}
BLANK = len(LABELS)  # the sample's last class


def words_of(tokens):
    """The words a labelling (class indices, blanks and repeats already merged) spells."""
    return "".join(LABELS[t] for t in tokens if t != BLANK).split()


def collapse(path):
    """The labelling of a frame-level path."""
    return [t for i, t in enumerate(path) if t != BLANK and (i == 0 or t != path[i - 1])]


def our_score(lp, text, lm, lexicon_free):
    """The score lucid ranks hypotheses by, of a text: see the module docstring."""
    words = text.split()
    body = [LABELS.index(ch) for ch in " ".join(words)]
    variants = [lead + body + tail for lead in ([], [0]) for tail in ([], [0])]
    x = lucid.tensor(np.repeat(lp[:, None, :], len(variants), axis=1))
    longest = max(map(len, variants))
    targets = [v + [1] * (longest - len(v)) for v in variants]  # padding, past each length
    nll = F.ctc_loss(x, targets, [len(lp)] * len(variants), [len(v) for v in variants],
                     blank=BLANK, reduction="none").numpy()
    score = float(-nll.min())
    if lm is not None:
        score += ALPHA * lm.log_prob(words) + BETA * len(words)
        if lexicon_free:
            score += UNK * sum(w not in lm.word_index for w in words)
    return score


# lucid's pruning beside each anchor, and none at all
PRUNING = {"pyctcdecode": {"token_min_logp": -5.0, "beam_threshold": 10.0},
           "flashlight": {"beam_size_token": None, "beam_threshold": 10.0},
           "exact": {"beam_threshold": None}}


def lucid_decoder(lm, beam, pruning, lexicon=None):
    """(decode, text): decode(x_t, n) runs lucid's decoder, text(its result) is the top text."""
    decoder = ctc_decoder(lexicon, LABELS + [""], lm=lm, blank_token="", sil_token=" ",
                          beam_size=beam, **PRUNING[pruning], **(WEIGHTS if lm else {}))
    return decoder, lambda hyps: " ".join(words_of(hyps[0].tokens.tolist()))


def pyctcdecode_anchor(arpa):
    from pyctcdecode import build_ctcdecoder

    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    weights = {"alpha": 0.5, "beta": 1.5, "unk_score_offset": -10.0}
    built = {None: build_ctcdecoder(LABELS, **weights),
             arpa: build_ctcdecoder(LABELS, kenlm_model_path=str(arpa), **weights)}
    return lambda lm, beam, logits, lp: (
        lambda: built[lm].decode_beams(logits, beam_width=beam, beam_prune_logp=-10.0,
                                       token_min_logp=-5.0), lambda beams: beams[0][0])


def ctc_beam_decoder_anchor(arpa):
    from ctc_beam_decoder import BeamSearchDecoder

    weights = {"alpha": 0.5, "beta": 1.5, "unk_score_offset": -10.0}
    built = {None: BeamSearchDecoder(LABELS),
             arpa: BeamSearchDecoder(LABELS, kenlm_model_path=str(arpa), **weights)}
    return lambda lm, beam, logits, lp: (
        lambda: built[lm].decode_beams(logits, beam_width=beam, beam_prune_logp=-10.0,
                                       token_min_logp=-5.0), lambda beams: beams[0][0])


def flashlight_anchor(arpa, lexicon):
    from flashlight.lib.text import decoder as fl
    from flashlight.lib.text.dictionary import create_word_dict

    C = len(LABELS) + 1
    spelled = {w: [[*w, " "]] for w in lexicon}  # torchaudio's "word w o r d |"
    word_dict = create_word_dict({**spelled, "<unk>": []})
    kenlm = fl.KenLM(str(arpa), word_dict)
    trie = fl.Trie(C, 0)
    start = kenlm.start(False)
    for word, spellings in spelled.items():
        index = word_dict.get_index(word)
        unigram = kenlm.score(start, index)[1]
        for spelling in spellings:
            trie.insert([LABELS.index(ch) for ch in spelling], index, unigram)
    trie.smear(fl.SmearingMode.MAX)
    free = fl.LexiconFreeDecoderOptions(
        beam_size=1, beam_size_token=C, beam_threshold=10.0, lm_weight=0.0, sil_score=0.0,
        log_add=True, criterion_type=fl.CriterionType.CTC)
    with_lexicon = fl.LexiconDecoderOptions(
        beam_size=1, beam_size_token=C, beam_threshold=10.0,
        lm_weight=WEIGHTS["lm_weight"], word_score=WEIGHTS["word_score"],
        unk_score=-math.inf, sil_score=0.0, log_add=True, criterion_type=fl.CriterionType.CTC)
    unk = word_dict.get_index("<unk>")

    def make(lm, beam, logits, lp):
        options = free if lm is None else with_lexicon
        options.beam_size = beam
        decoder = (fl.LexiconFreeDecoder(options, fl.ZeroLM(), 0, BLANK, []) if lm is None else
                   fl.LexiconDecoder(options, trie, kenlm, 0, BLANK, unk, [], False))
        emissions = np.ascontiguousarray(lp, dtype=np.float32)
        return (lambda: decoder.decode(emissions.ctypes.data, *emissions.shape),
                lambda results: " ".join(words_of(collapse(results[0].tokens))))
    return make


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one repeat")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    try:
        import kenlm  # noqa: F401
        import pyctcdecode  # noqa: F401
    except ImportError:
        print("pyctcdecode (for its sample) and kenlm are needed for this comparison; skipping")
        return

    lucid.set_num_threads(1)
    logits, lp = libri_log_probs()
    transcript = " ".join(words_of(collapse(lp.argmax(axis=1).tolist())))
    tmp = pathlib.Path(tempfile.mkdtemp())
    arpa = tmp / "words3.arpa"
    sizes = write_trigram_arpa(corpus_sentences(transcript), arpa)
    load = time.perf_counter()
    ngram = NGramLM(arpa)
    load = time.perf_counter() - load
    lexicon = [w for w in ngram.vocab if w and all(ch in LABELS[1:] for ch in w)]
    print(f"word 3-gram: {sizes[0]} / {sizes[1]} / {sizes[2]} n-grams of orders 1 / 2 / 3, "
          f"read by lucid's NGramLM in {load:.3f} s")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, one thread, "
          f"median CPU time per call of {repeats}")

    anchors = [("pyctcdecode", lambda: pyctcdecode_anchor(arpa), True),
               ("ctc-beam-decoder", lambda: ctc_beam_decoder_anchor(arpa), True),
               ("flashlight-text", lambda: flashlight_anchor(arpa, lexicon), False)]
    for name, build, lexicon_free in anchors:
        try:
            make = build()
        except ImportError:
            print(f"\n{name}: not installed, skipped (pip install {name})")
            continue
        version = _version(name)
        exact = lexicon_free and name == "pyctcdecode"
        print(f"\n{name} {version} against lucid" + (", lexicon-free" if lexicon_free else
                                                     ", with a lexicon when with the LM"))
        header = (f"{'frames':>6} {'beam':>4} {'LM':>7} | {name[:11]:>11} {'lucid':>9} "
                  f"{'speed-up':>8} | {'same':>4} {'score: them':>12} {'lucid':>9}"
                  + (f" | {'lucid exact':>11}" if exact else ""))
        print(header)
        print("-" * len(header))
        for tile in (1, 10):
            lg, x = np.tile(logits, (tile, 1)), np.tile(lp, (tile, 1))
            x_t = lucid.tensor(x)
            for lm in (None, arpa):
                for beam in (16, 64):
                    ours_lm = ngram if lm is not None else None
                    theirs, their_text = make(lm, beam, lg, x)
                    ours, our_text = lucid_decoder(
                        ours_lm, beam, "pyctcdecode" if lexicon_free else "flashlight",
                        lexicon=None if lexicon_free or lm is None else lexicon)
                    text_theirs, text_ours = their_text(theirs()), our_text(ours(x_t, len(x)))
                    times = {"theirs": [], "ours": [], "exact": []}
                    slowest = lucid_decoder(ours_lm, beam, "exact")[0] if exact else None
                    for _ in range(repeats):
                        times["theirs"].append(timed(theirs))
                        times["ours"].append(timed(ours, x_t, len(x)))
                        if exact:
                            times["exact"].append(timed(slowest, x_t, len(x)))
                    a, b = (statistics.median(times[k]) * 1e3 for k in ("theirs", "ours"))
                    scores = [our_score(x, t, ours_lm, lexicon_free)
                              for t in (text_theirs, text_ours)]
                    row = (f"{len(x):>6} {beam:>4} {'3-gram' if lm else 'none':>7} | "
                           f"{a:>9.2f}ms {b:>7.3f}ms {a / b:>7.0f}x | "
                           f"{'yes' if text_theirs == text_ours else 'no':>4} "
                           f"{scores[0]:>12.2f} {scores[1]:>9.2f}")
                    if exact:
                        row += f" | {statistics.median(times['exact']) * 1e3:>9.2f}ms"
                    print(row)


def _version(distribution):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


if __name__ == "__main__":
    main()
