"""Streaming decoding latency: the time of one decode_step per chunk of frames.

    python benchmarks/bench_stream.py            # the table (about a minute)
    python benchmarks/bench_stream.py --quick    # smoke run: one pass, no claims

The stream is pyctcdecode's LibriSpeech sample (371 frames x 29 classes, normalised as
bench_decode.py does) tiled ten times: 3,710 frames, fed in chunks of 40 frames (0.8 s of
audio at wav2vec2's 20 ms a frame) to a decoder with a beam of 32 and bench_decode.py's word
3-gram (lm_weight 0.5 x ln 10, word_score 1.5, as there), lexicon-free, with a lexicon of the
LM's words, and without an LM. Each configuration runs with torchaudio's default pruning
(beam_threshold 50), with pyctcdecode's (token_min_logp -5, beam_threshold 10) and with none
besides the beam. Every chunk's decode_step is timed alone (CPU time of this process, garbage
collector off, one thread); the table gives the median and the 90th percentile over all
chunks of all passes, and the time of get_best_hypothesis (a live caption after each
chunk). Each stream's result is also checked equal to the offline call's.
"""

from __future__ import annotations

import argparse
import gc
import math
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np
from bench_decode import LABELS, corpus_sentences, libri_log_probs, write_trigram_arpa

import lucid
from lucid.ctc import NGramLM, ctc_decoder

CHUNK = 40
BEAM = 32


def chunk_times(decoder, x, passes):
    """Seconds of each decode_step and of each get_best_hypothesis after it, over passes."""
    steps, captions = [], []
    chunks = [lucid.tensor(x[i: i + CHUNK]) for i in range(0, len(x), CHUNK)]
    gc.collect()
    gc.disable()
    try:
        for _ in range(passes):
            decoder.decode_begin()
            for chunk in chunks:
                start = time.process_time()
                decoder.decode_step(chunk)
                middle = time.process_time()
                decoder.get_best_hypothesis()
                steps.append(middle - start)
                captions.append(time.process_time() - middle)
            decoder.decode_end()
    finally:
        gc.enable()
    return steps, captions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one pass")
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    passes = 1 if args.quick else args.passes
    lucid.set_num_threads(1)
    try:
        _, lp = libri_log_probs()
    except ImportError:
        print("pyctcdecode (for its LibriSpeech sample) is needed; skipping")
        return
    tokens = LABELS + [""]  # the blank last, as the sample has it
    text = ctc_decoder(None, tokens, blank_token="", sil_token=" ").text(
        lucid.ctc.greedy_decode(lucid.tensor(lp), len(lp), blank=28))
    arpa = pathlib.Path(tempfile.mkdtemp()) / "words3.arpa"
    sizes = write_trigram_arpa(corpus_sentences(text), arpa)
    lm = NGramLM(arpa)
    lexicon = [w for w in lm.vocab if w not in ("<s>", "</s>", "<unk>")]
    x = np.tile(lp, (10, 1))
    print(f"word 3-gram: {sizes[0]} / {sizes[1]} / {sizes[2]} n-grams; {len(x)} frames in "
          f"chunks of {CHUNK}; beam {BEAM}; python {sys.version.split()[0]}, numpy "
          f"{np.__version__}, one thread, {passes} passes\n")
    header = (f"{'LM':>14} {'pruning':>12} | {'step median':>11} {'p90':>8} | "
              f"{'best hyp':>8}")
    print(header)
    print("-" * len(header))
    prunings = {"torchaudio": {}, "pyctcdecode": {"token_min_logp": -5.0, "beam_threshold": 10.0},
                "none": {"beam_threshold": None}}
    setups = {"none": {}, "3-gram": {"lm": lm}, "3-gram+lexicon": {"lm": lm, "lexicon": lexicon}}
    for name, setup in setups.items():
        for pruning, options in prunings.items():
            lm_options = dict(setup)  # a copy: every pruning gets the setup's lexicon
            lexicon_arg = lm_options.pop("lexicon", None)
            decoder = ctc_decoder(lexicon_arg, tokens, blank_token="", sil_token=" ",
                                  beam_size=BEAM, lm_weight=0.5 * math.log(10), word_score=1.5,
                                  unk_word_score=-5.0 * math.log(10), **lm_options, **options)
            steps, captions = chunk_times(decoder, x, passes)
            if decoder.get_final_hypothesis() != decoder(lucid.tensor(x)):
                raise SystemExit(f"the stream differs from the offline call: {name}, {pruning}")
            q = statistics.quantiles(steps, n=10)
            print(f"{name:>14} {pruning:>12} | {statistics.median(steps) * 1e3:>9.3f}ms "
                  f"{q[-1] * 1e3:>6.3f}ms | {statistics.median(captions) * 1e3:>6.3f}ms")


if __name__ == "__main__":
    main()
