"""Decode and align a directory of emission files, serially and on a Dask cluster.

    python examples/decode_corpus.py                 # a generated corpus of 40 files, 2 workers
    python examples/decode_corpus.py --dir DIR --workers 4
    python examples/decode_corpus.py --no-dask       # the serial loop only

A corpus directory holds ``tokens.txt`` (one token per line, the blank "-" and the word
delimiter "|" among them), one ``NAME.npy`` per utterance (log-probabilities, shape (T, C)),
optionally its transcript ``NAME.txt`` and a word LM ``lm.arpa``. Without --dir, or with an
empty one, the example writes a small synthetic corpus first (deterministic: --seed).

Each file gets greedy decoding, a lexicon-free beam search with the LM, and a forced alignment
of its transcript (or, without one, of the beam's answer) giving each word's frames. The same
function runs in a loop and on a ``dask.distributed`` LocalCluster of worker processes; the
decoder travels to the workers by pickle (``client.scatter``), and the two runs must agree
exactly. Dask is optional: ``pip install -e ".[corpus]"``.
"""

import argparse
import pathlib
import tempfile
import time

import numpy as np

import lucid
from lucid.ctc import ctc_decoder, forced_align, greedy_decode, merge_tokens

TOKENS = ["-", "|", *"abcdeghimnorst"]  # blank, word delimiter, the letters of WORDS
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "big", "red", "hat",
         "bed", "sit", "note", "tone"]


def write_corpus(directory, n_files, seed=0):
    """Write tokens.txt, lm.arpa and n_files utterances: random sentences of WORDS, their
    emissions the log-softmax of noisy logits raised along one path that spells them."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    write_unigram_arpa(directory / "lm.arpa", WORDS, rng.dirichlet(np.ones(len(WORDS)) * 4))
    index = {t: i for i, t in enumerate(TOKENS)}
    for k in range(n_files):
        text = " ".join(rng.choice(WORDS, size=rng.integers(2, 6)))
        path = []  # frame-level classes: 0-2 blanks, then each token held for 1-3 frames
        for token in text.replace(" ", "|"):
            path += [0] * rng.integers(0, 3) + [index[token]] * rng.integers(1, 4)
        path += [0] * rng.integers(1, 3)
        logits = 1.2 * rng.standard_normal((len(path), len(TOKENS)))
        logits[np.arange(len(path)), path] += 4.0  # strong, but now and then outvoted by noise
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        np.save(directory / f"utt-{k:04d}.npy", log_probs.astype(np.float32))
        (directory / f"utt-{k:04d}.txt").write_text(text + "\n")


def write_unigram_arpa(path, words, probs):
    """A 1-gram ARPA file: enough for the LM to prefer real words to misspellings."""
    rows = [f"{np.log10(p):.4f} {w}" for w, p in zip(words, probs)]
    rows += ["-99 <s>", "-1.0 </s>", "-3.0 <unk>"]
    path.write_text(f"\\data\\\nngram 1={len(rows)}\n\n\\1-grams:\n" + "\n".join(rows)
                    + "\n\n\\end\\\n")


def build_decoder(directory):
    lm = directory / "lm.arpa"
    return ctc_decoder(None, directory / "tokens.txt", lm=lm if lm.exists() else None,
                       beam_size=16, lm_weight=2.3, unk_word_score=-6.0)


def decode_file(path, decoder):
    """Everything one utterance needs; the unit of work, in the loop and on a worker."""
    path = pathlib.Path(path)
    log_probs = lucid.tensor(np.load(path))  # (T, C): one unbatched sample
    frames = log_probs.shape[0]
    greedy = greedy_decode(log_probs, frames, blank=decoder.blank)
    hypotheses = decoder(log_probs, frames)
    best = hypotheses[0] if hypotheses else None
    transcript = path.with_suffix(".txt")
    text = transcript.read_text().strip() if transcript.exists() else None
    if text is not None:
        target = [decoder.tokens.index(t) for t in text.replace(" ", decoder.tokens[decoder.sil])]
    else:
        target = best.tokens if best else []
    alignment, scores = forced_align(log_probs, target, blank=decoder.blank)
    spans = merge_tokens(alignment, scores.exp(), blank=decoder.blank)
    return {"file": path.name,
            "reference": text,
            "greedy": decoder.text(greedy),
            "beam": " ".join(best.words) if best else "",
            "score": best.score if best else float("-inf"),
            "words": word_frames(spans, decoder)}


def word_frames(spans, decoder):
    """(word, first frame, end frame) for each run of spans between word delimiters."""
    words, run = [], []
    for span in spans + [None]:
        if span is None or span.token == decoder.sil:
            if run:
                text = "".join(decoder.tokens[s.token] for s in run)
                words.append((text, run[0].start, run[-1].end))
            run = []
        else:
            run.append(span)
    return words


def run_serial(paths, decoder):
    return [decode_file(p, decoder) for p in paths]


def run_dask(paths, decoder, workers):
    """The same work on `workers` processes of a LocalCluster. The decoder (with its LM
    tables) is pickled once and sent to every worker; the files are read where the workers
    run, so a real cluster needs them on shared storage."""
    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        ready = time.perf_counter() - started
        shared = client.scatter(decoder, broadcast=True)
        futures = client.map(decode_file, [str(p) for p in paths], decoder=shared)
        return client.gather(futures), ready


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=pathlib.Path, help="corpus directory (default: a "
                        "temporary one); written first if it holds no .npy files")
    parser.add_argument("--files", type=int, default=40, help="utterances to generate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-dask", action="store_true", help="run the serial loop only")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        directory = args.dir or pathlib.Path(scratch)
        if not sorted(directory.glob("*.npy")):
            write_corpus(directory, args.files, args.seed)
        paths = sorted(directory.glob("*.npy"))
        decoder = build_decoder(directory)

        started = time.perf_counter()
        serial = run_serial(paths, decoder)
        serial_time = time.perf_counter() - started
        print(f"{len(paths)} files from {directory}: serial loop {serial_time:.2f} s")
        parallel = None
        if not args.no_dask:
            started = time.perf_counter()
            parallel, ready = run_dask(paths, decoder, args.workers)
            print(f"dask, {args.workers} worker processes: {time.perf_counter() - started:.2f} s "
                  f"({ready:.2f} s of it starting the cluster)")
            if parallel != serial:
                raise SystemExit("the Dask results differ from the serial loop's")
            print("the Dask results equal the serial loop's")

    print(f"\n{'file':<14}{'greedy':<28}{'beam + LM':<28}first word (frames)")
    for row in serial[:8]:
        first = "{} {}-{}".format(*row["words"][0]) if row["words"] else ""
        print(f"{row['file']:<14}{row['greedy']:<28}{row['beam']:<28}{first}")
    if len(serial) > 8:
        print(f"... and {len(serial) - 8} more")
    known = [row for row in serial if row["reference"] is not None]
    if known:
        right = {key: sum(row[key] == row["reference"] for row in known)
                 for key in ("greedy", "beam")}
        print(f"sentences right: greedy {right['greedy']}/{len(known)}, "
              f"beam + LM {right['beam']}/{len(known)}")
    return {"serial": serial, "dask": parallel}


if __name__ == "__main__":  # the guard matters: worker processes import this file
    main()
