"""Language-model load time and size: lucid's NGramLM against KenLM, from ARPA and from each
one's binary form, and ctc_decoder's build time.

    python benchmarks/bench_lm.py                         # ~1.1M-n-gram 4-gram (a minute)
    python benchmarks/bench_lm.py --quick                 # smoke run: a small model, no claims
    python benchmarks/bench_lm.py --build-binary PATH     # KenLM's build_binary, if not on PATH

The ARPA file is made here, seeded: a random corpus (words drawn from a Zipf law over a
vocabulary of 20,000, sentences of 3 to 30 words) whose every 1- to 4-gram is listed, so the
n-gram sets are closed under prefixes and suffixes as lmplz writes them, with random
log10 probabilities and back-off weights (timing material, not a model).

Load times are wall-clock medians over a few loads, every loader once per round, in this
process. KenLM is ``kenlm.Model(path)`` (its probing hash, the default; no progress bar) on
the ARPA file and, when KenLM's build_binary program is found, on the probing binary it
writes (the kenlm pip package has the Python module only: build_binary comes with a build of
KenLM's sources). KenLM maps its binary file (its default, POPULATE_OR_READ: every page
mapped from the page cache) and checks nothing in it; ours maps lucid's binary file
(``NGramLM.load``) and checks all of it, a checksum and every index, before it returns.
``ctc_decoder``'s build, lexicon-free, is the LM's load (when given a path) plus the word
trie spelled from the LM's 20,000 words; pyctcdecode's ``build_ctcdecoder`` (with KenLM, on
the ARPA file) is the anchor when installed.

Sizes are bytes per n-gram: of the file, of the tables in memory, and the growth of the
resident memory (RSS) of a fresh process that loads the model (Linux only; for the mapped
files, the pages read so far).
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from lucid.ctc import NGramLM, ctc_decoder

TOKENS = ["_", *"abcdefghijklmnopqrstuvwxyz0123456789<>/", " "]


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


def medians(loaders, repeats):
    """Median wall time of each loader, every loader once per round."""
    times = {name: [] for name in loaders}
    for _ in range(repeats):
        for name, load in loaders.items():
            gc.collect()
            start = time.perf_counter()
            model = load()
            times[name].append(time.perf_counter() - start)
            del model
    return {name: statistics.median(t) for name, t in times.items()}


# Loads one model in a fresh process and prints the growth of its resident memory.
CHILD = """
import sys
def rss():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024
kind, path = sys.argv[1:]
if kind == "kenlm":
    import kenlm
    quiet = kenlm.Config()
    quiet.show_progress, quiet.arpa_complain = False, kenlm.ARPALoadComplain.NONE
    load = lambda: kenlm.Model(path, quiet)
else:
    from lucid.ctc import NGramLM
    load = lambda: NGramLM(path)
before = rss()
model = load()
print(rss() - before)
"""


def rss_growth(kind, path):
    """Bytes the resident memory of a fresh process grows by when it loads path; None
    where /proc is not there."""
    if not os.path.exists("/proc/self/status"):
        return None
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[-1])


def kenlm_binary(arpa, build_binary, directory):
    """KenLM's probing binary of arpa, or None (and why) without build_binary."""
    program = build_binary or shutil.which("build_binary")
    if program is None:
        return None, ("not measured: KenLM's build_binary was not found (the kenlm pip package "
                      "ships the Python module only; build KenLM's sources, then pass "
                      "--build-binary PATH)")
    path = pathlib.Path(directory) / "lm.kenlm"
    subprocess.run([program, "-s", "probing", str(arpa), str(path)], check=True,
                   capture_output=True)
    return path, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model, for CI")
    parser.add_argument("--tokens", type=int, default=None, help="corpus size in tokens")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--build-binary", default=None, help="KenLM's build_binary program")
    args = parser.parse_args()
    n_tokens = args.tokens or (20_000 if args.quick else 420_000)
    repeats = args.repeats or (1 if args.quick else 7)
    try:
        import kenlm
    except ImportError:
        kenlm = None
    with tempfile.TemporaryDirectory() as tmp:
        arpa = pathlib.Path(tmp) / "lm.arpa"
        binary = pathlib.Path(tmp) / "lm.lucid"
        n_grams = write_arpa(arpa, n_tokens)
        lm = NGramLM(arpa)
        lm.save(binary)
        theirs, why_not = kenlm_binary(arpa, args.build_binary, tmp) if kenlm else (None, None)
        print(f"ARPA 4-gram: {n_grams:,} n-grams, {len(lm.vocab):,} words; "
              f"python {sys.version.split()[0]}, numpy {np.__version__}, "
              f"median of {repeats}\n")

        loaders = {"lucid NGramLM(ARPA)": lambda: NGramLM(arpa),
                   "lucid NGramLM.load(binary)": lambda: NGramLM.load(binary)}
        files = {"lucid NGramLM(ARPA)": ("lucid", arpa),
                 "lucid NGramLM.load(binary)": ("lucid", binary)}
        if kenlm is not None:
            quiet = kenlm.Config()  # no progress bar, no complaints on stderr
            quiet.show_progress, quiet.arpa_complain = False, kenlm.ARPALoadComplain.NONE
            loaders["KenLM kenlm.Model(ARPA)"] = lambda: kenlm.Model(str(arpa), quiet)
            files["KenLM kenlm.Model(ARPA)"] = ("kenlm", arpa)
            if theirs is not None:
                loaders["KenLM kenlm.Model(binary)"] = lambda: kenlm.Model(str(theirs), quiet)
                files["KenLM kenlm.Model(binary)"] = ("kenlm", theirs)
        times = medians(loaders, repeats)
        print(f"{'load':34s} {'time':>10s} {'RSS growth':>12s} {'per n-gram':>11s}")
        for name, seconds in times.items():
            grown = rss_growth(*files[name])
            memory = "n/a" if grown is None else f"{grown / 1e6:9.1f} MB"
            per = "" if grown is None else f"{grown / n_grams:8.1f} B"
            print(f"{name:34s} {seconds * 1e3:7.1f} ms {memory:>12s} {per:>11s}")
        loaded = times["lucid NGramLM.load(binary)"]
        print(f"lucid's binary load is {times['lucid NGramLM(ARPA)'] / loaded:.1f}x faster than "
              f"its ARPA load")
        if kenlm is not None:
            ratio = times["lucid NGramLM(ARPA)"] / times["KenLM kenlm.Model(ARPA)"]
            print(f"lucid's ARPA load over KenLM's: {ratio:.2f}x")
        else:
            print("KenLM: not measured (pip install kenlm)")
        if why_not:
            print(f"KenLM binary: {why_not}")

        print(f"\n{'bytes per n-gram':34s}")
        sizes = [("ARPA file", os.path.getsize(arpa)),
                 ("lucid's binary file (NGramLM.save)", os.path.getsize(binary)),
                 ("lucid's tables in memory", table_bytes(lm))]
        if theirs is not None:
            sizes.append(("KenLM's probing binary file", os.path.getsize(theirs)))
        for name, size in sizes:
            print(f"{name:34s} {size / n_grams:8.1f} B  ({size / 1e6:.1f} MB)")

        builds = {f"lucid ctc_decoder(lm={name})":
                  lambda model=model: ctc_decoder(None, TOKENS, lm=model, blank_token="_",
                                                  sil_token=" ")
                  for name, model in (("NGramLM", lm), ("ARPA path", arpa),
                                      ("binary path", binary))}
        try:
            import logging

            from pyctcdecode import build_ctcdecoder
            logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
            builds["pyctcdecode build_ctcdecoder(ARPA)"] = lambda: build_ctcdecoder(
                ["", *TOKENS[1:]], kenlm_model_path=str(arpa))
        except ImportError:
            pass
        print(f"\n{'decoder build':34s} {'time':>10s}")
        built = medians(builds, repeats)
        for name, seconds in built.items():
            print(f"{name:34s} {seconds * 1e3:7.1f} ms")
        print(f"ctc_decoder(lm=path) over the LM's own load: ARPA "
              f"{built['lucid ctc_decoder(lm=ARPA path)'] / times['lucid NGramLM(ARPA)']:.2f}x, "
              f"binary {built['lucid ctc_decoder(lm=binary path)'] / loaded:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
