"""Language-model load time: KenLM against lucid's NGramLM, from ARPA and from lucid's binary.

    python benchmarks/bench_lm.py            # ~1M-n-gram 4-gram (a minute or so)
    python benchmarks/bench_lm.py --quick    # smoke run: a small model, no claims

The ARPA file is made here, seeded: a random corpus (words drawn from a Zipf law over a
vocabulary of 20,000, sentences of 3 to 30 words) whose every 1- to 4-gram is listed, so the
n-gram sets are closed under prefixes and suffixes as lmplz writes them, with random
log10 probabilities and back-off weights (timing material, not a model). Times are wall-clock
medians over a few loads, KenLM (``kenlm.Model(path)``, its probing hash) and ours
alternating; then ``ctc_decoder``'s build time (its word trie from the LM's vocabulary, plus
the load when given a path). "Bytes per n-gram" is the size of NGramLM's numpy tables over
the n-gram count.
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

from lucid.ctc import NGramLM, ctc_decoder


def corpus(rng, n_tokens, n_vocab):
    """Sentences as one array of word ids, each framed by <s> (0) and </s> (1)."""
    lengths = rng.integers(3, 31, size=n_tokens // 16 + 1)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    words = (rng.zipf(1.1, size=int(lengths.sum())) % n_vocab) + 3  # 2 is <unk>
    starts = np.concatenate([[0], np.cumsum(lengths + 2)[:-1]])
    ids = np.empty(int((lengths + 2).sum()), dtype=np.int64)
    is_word = np.ones(len(ids), dtype=bool)
    is_word[starts] = is_word[starts + lengths + 1] = False
    ids[starts], ids[starts + lengths + 1] = 0, 1
    ids[is_word] = words
    return ids


def write_arpa(path, n_tokens, n_vocab=20_000, order=4, seed=0):
    """Every n-gram (n <= order) of a seeded random corpus, with random weights; returns
    the number of n-grams."""
    rng = np.random.default_rng(seed)
    ids = corpus(rng, n_tokens, n_vocab)
    names = ["<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(n_vocab)]
    sections = [np.unique(np.concatenate([np.arange(3), ids]))[:, None]]
    for n in range(2, order + 1):
        grams = np.lib.stride_tricks.sliding_window_view(ids, n)
        # no </s> but last, no <s> but first
        ok = (grams[:, :-1] != 1).all(axis=1) & (grams[:, 1:] != 0).all(axis=1)
        sections.append(np.unique(grams[ok], axis=0))
    with open(path, "w") as f:
        f.write("\\data\\\n")
        for n, grams in enumerate(sections, 1):
            f.write(f"ngram {n}={len(grams)}\n")
        for n, grams in enumerate(sections, 1):
            f.write(f"\n\\{n}-grams:\n")
            prob = rng.uniform(-4.0, -0.05, size=len(grams))
            backoff = rng.uniform(-1.0, 0.0, size=len(grams))
            for row, p, b in zip(grams.tolist(), prob.tolist(), backoff.tolist()):
                text = " ".join(names[w] for w in row)
                if n == 1 and row[0] == 0:
                    p = -99.0
                if n < order and row[-1] != 1:
                    f.write(f"{p:.6f}\t{text}\t{b:.6f}\n")
                else:
                    f.write(f"{p:.6f}\t{text}\n")
        f.write("\n\\end\\\n")
    return sum(len(s) for s in sections)


def table_bytes(lm):
    return sum(v.nbytes for v in lm.tables.values() if isinstance(v, np.ndarray))


def timed(load, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        model = load()
        times.append(time.perf_counter() - start)
        del model
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model, for CI")
    parser.add_argument("--tokens", type=int, default=None, help="corpus size in tokens")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n_tokens = args.tokens or (20_000 if args.quick else 420_000)
    repeats = args.repeats or (1 if args.quick else 5)
    try:
        import kenlm
    except ImportError:
        kenlm = None
    with tempfile.TemporaryDirectory() as tmp:
        arpa = pathlib.Path(tmp) / "lm.arpa"
        binary = pathlib.Path(tmp) / "lm.npz"
        n_grams = write_arpa(arpa, n_tokens)
        size = os.path.getsize(arpa)
        print(f"ARPA 4-gram: {n_grams:,} n-grams, {size / 1e6:.1f} MB "
              f"({size / n_grams:.1f} bytes per n-gram)")
        lm = NGramLM(arpa)
        print(f"NGramLM tables: {table_bytes(lm) / n_grams:.1f} bytes per n-gram")
        rows = []
        if kenlm is not None:
            rows.append(("KenLM kenlm.Model(path)", timed(lambda: kenlm.Model(str(arpa)),
                                                          repeats)))
        rows.append(("lucid NGramLM(path)", timed(lambda: NGramLM(arpa), repeats)))
        if hasattr(NGramLM, "save"):
            lm.save(binary)
            rows.append(("lucid NGramLM.load(npz)", timed(lambda: NGramLM.load(binary),
                                                          repeats)))
        tokens = ["_", *"abcdefghijklmnopqrstuvwxyz0123456789<>/", " "]
        for name, model in (("NGramLM", lm), ("ARPA path", arpa), ("npz path", binary)):
            if model is binary and not hasattr(NGramLM, "save"):
                continue
            rows.append((f"lucid ctc_decoder(lm={name})",
                         timed(lambda model=model: ctc_decoder(None, tokens, lm=model,
                                                               blank_token="_", sil_token=" "),
                               repeats)))
        for name, seconds in rows:
            print(f"{name:36s} {seconds:8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
