"""CTC beam-search decoding speed: lucid against pyctcdecode (+ KenLM), interleaved.

    python benchmarks/bench_decode.py            # full table (a minute or two)
    python benchmarks/bench_decode.py --quick    # smoke run: tiny repeats, no claims

The posteriors are pyctcdecode's LibriSpeech sample (371 frames x 29 classes, shipped inside
the pyctcdecode package), once as they are and once tiled ten times (3,710 frames), each
log-softmaxed and clipped at log(1e-15) exactly as pyctcdecode does to its input. Both
decoders get the same pruning (pyctcdecode's defaults: classes below log-probability -5
skipped unless a frame's best, beams more than 10 below the best dropped), the same beam
width, and with an LM the same word 3-gram ARPA file (ours read by lucid's NGramLM, theirs by
KenLM) and the same weights (alpha 0.5, beta 1.5, unknown-word offset -10). Every
configuration first checks that both return the same text. Times are the median over
repeats of the process's CPU time per call over blocks of ten calls (garbage collector off,
as in timeit), alternating the two decoders block by block, on one thread. The "exact" column is
lucid with no pruning at all besides the beam width.

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
    """CPU seconds per call of this process (both decoders run on this one thread: on a
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repeats")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    try:
        import kenlm  # noqa: F401
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        print("pyctcdecode and kenlm are needed for this comparison; skipping")
        return

    lucid.set_num_threads(1)
    logits, lp = libri_log_probs()
    transcript = ctc_decoder(None, LABELS + [""], blank_token="", sil_token=" ").text(
        lucid.ctc.greedy_decode(lucid.tensor(lp), len(lp), blank=28))
    tmp = pathlib.Path(tempfile.mkdtemp())
    arpa = tmp / "words3.arpa"
    sizes = write_trigram_arpa(corpus_sentences(transcript), arpa)
    print(f"word 3-gram: {sizes[0]} / {sizes[1]} / {sizes[2]} n-grams of orders 1 / 2 / 3")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, one thread, "
          f"median CPU time of {repeats}\n")

    weights = {"alpha": 0.5, "beta": 1.5, "unk_score_offset": -10.0}
    load = time.perf_counter()
    ngram = NGramLM(arpa)
    load = time.perf_counter() - load
    theirs_by_lm = {None: build_ctcdecoder(LABELS, **weights),
                    arpa: build_ctcdecoder(LABELS, kenlm_model_path=str(arpa), **weights)}
    ours_by_lm = {None: None, arpa: ngram}
    print(f"reading the ARPA file: lucid's NGramLM {load:.2f}s\n")
    header = (f"{'frames':>6} {'beam':>4} {'LM':>7} | {'pyctcdecode':>11} {'lucid':>9} "
              f"{'speed-up':>8} | {'lucid exact':>11}")
    print(header)
    print("-" * len(header))
    for tile in (1, 10):
        lg, x = np.tile(logits, (tile, 1)), np.tile(lp, (tile, 1))
        x_t = lucid.tensor(x)
        for lm in (None, arpa):
            for beam in (16, 64):
                common = dict(lm=ours_by_lm[lm], blank_token="", sil_token=" ", beam_size=beam,
                              lm_weight=0.5, word_score=1.5,
                              unk_word_score=0.5 * -10.0 * math.log(10))
                ours = ctc_decoder(LABELS + [""], token_min_logp=-5.0, beam_threshold=10.0,
                                   **common)
                exact = ctc_decoder(LABELS + [""], **common)
                theirs = theirs_by_lm[lm]
                text = theirs.decode_beams(lg, beam_width=beam)[0][0]
                mine = ours(x_t, len(x))[0]
                if ours.text(mine.tokens) != text:
                    raise SystemExit(f"different text at beam {beam}, LM {lm}:\n{text}\n"
                                     f"{ours.text(mine.tokens)}")
                t_theirs, t_ours, t_exact = [], [], []
                for _ in range(repeats):
                    t_theirs.append(timed(theirs.decode_beams, lg, beam_width=beam))
                    t_ours.append(timed(ours, x_t, len(x)))
                    t_exact.append(timed(exact, x_t, len(x)))
                a, b, c = (statistics.median(t) * 1e3 for t in (t_theirs, t_ours, t_exact))
                print(f"{len(x):>6} {beam:>4} {'3-gram' if lm else 'none':>7} | "
                      f"{a:>9.2f}ms {b:>7.3f}ms {a / b:>7.0f}x | {c:>9.2f}ms")


if __name__ == "__main__":
    main()
