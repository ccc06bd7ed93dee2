"""Train a small CTC model end to end, decode it, and draw the alignment CTC found.

Run: python examples/train_ctc.py [--steps N] [--no-plot] [--out PATH] [--threads N]

The data is made up here, nothing is downloaded: a sequence of 1-8 symbols from an alphabet
of 10 becomes a (T, F) feature sequence in which each symbol is its own fixed pattern plus
noise, held for 2-6 frames, with 1-3 frames of pure noise between symbols and 1-4 around them.
A Dataset makes sequence i from its own seed; a DataLoader shuffles them each epoch and pads
them into batches. The model sees each frame with 2 neighbours on either side (a 1-D
convolution over time, as context stacking + Linear), then ReLU and a Linear layer to the 11
classes (blank + symbols); log_softmax and ctc_loss train it with Adam, the gradients' norm
clipped. At the end it greedy-decodes held-out sequences and prints the label error rate (edit
distance / reference length), and draws one held-out sequence's class posteriors with its
forced alignment, and the loss curve, into a PNG (when matplotlib is installed: pip install
"lucid-ctc[examples]").

Everything is seeded: the same command gives the same losses and the same error rate. It
prints a line per epoch; on a terminal a progress bar shows the steps as well, and when the
output is piped or logged there is no bar to redraw.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import sys
import time
from collections.abc import Iterator, Sequence

# The model's matrices are small (about 2000 x 80 times 80 x 64): BLAS threads cost more in
# hand-offs than they save, and on a busy 2-core machine their spin-waiting made training up to
# 15x slower in our runs. OpenBLAS reads this once, when numpy loads it; the CTC kernel's own
# OpenMP threads (--threads) are not affected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the line above)

import lucid  # noqa: E402
from lucid import nn  # noqa: E402
from lucid.ctc import forced_align, greedy_decode  # noqa: E402
from lucid.nn.functional import ctc_loss, log_softmax  # noqa: E402
from lucid.nn.utils import clip_grad_norm_  # noqa: E402
from lucid.nn.utils.rnn import pad_sequence  # noqa: E402
from lucid.utils.data import DataLoader, Dataset  # noqa: E402

ALPHABET = 10  # symbols 1..10; class 0 is the blank
NUM_CLASSES = ALPHABET + 1
FEATURES = 16
MAX_SYMBOLS = 8
NOISE = 0.7  # standard deviation of the noise on every frame
CONTEXT = 2  # frames of context on each side
HIDDEN = 64


# ------------------------------------------------------------------------------------- data
def render(symbols: Sequence[int], patterns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The (T, FEATURES) frames of one symbol sequence: patterns held 2-6 frames, noise between."""
    means = [np.zeros((rng.integers(1, 5), FEATURES))]
    for i, symbol in enumerate(symbols):
        if i:
            means.append(np.zeros((rng.integers(1, 4), FEATURES)))
        means.append(np.repeat(patterns[symbol - 1][None], rng.integers(2, 7), axis=0))
    means.append(np.zeros((rng.integers(1, 5), FEATURES)))
    clean = np.concatenate(means)
    return clean + NOISE * rng.standard_normal(clean.shape)


class SymbolSequences(Dataset):
    """``size`` made-up sequences; item i is (frames (T, FEATURES) float32, its symbols),
    drawn from the seed (seed, split, i), so it is the same whenever it is read and the
    splits never share a sequence's noise."""

    def __init__(self, size: int, patterns: np.ndarray, seed: int, split: int) -> None:
        self.size, self.patterns, self.seed, self.split = size, patterns, seed, split

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> tuple:
        if not 0 <= i < self.size:
            raise IndexError(f"SymbolSequences: index {i} out of range for {self.size} items")
        rng = np.random.default_rng([self.seed, self.split, i])
        symbols = rng.integers(1, ALPHABET + 1, size=rng.integers(1, MAX_SYMBOLS + 1)).tolist()
        return render(symbols, self.patterns, rng).astype(np.float32), symbols


def collate(samples: Sequence[tuple]) -> dict:
    """A padded batch: features (T, N, F) with zeros past each length, padded targets."""
    frames, symbols = zip(*samples)
    targets = np.zeros((len(symbols), MAX_SYMBOLS), dtype=np.int64)
    for n, s in enumerate(symbols):
        targets[n, : len(s)] = s
    return {"features": pad_sequence([lucid.tensor(f) for f in frames]), "targets": targets,
            "symbols": list(symbols), "input_lengths": np.array([len(f) for f in frames]),
            "target_lengths": np.array([len(s) for s in symbols])}


def epochs(loader: DataLoader) -> Iterator[dict]:
    """The loader's batches, epoch after epoch (each epoch in a new order)."""
    while True:
        yield from loader


# ------------------------------------------------------------------------------ the model
def make_model() -> nn.Module:
    return nn.Sequential(
        nn.ContextWindow(CONTEXT, CONTEXT),
        nn.Linear((2 * CONTEXT + 1) * FEATURES, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, NUM_CLASSES),
    )


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def label_error_rate(model: nn.Module, batch: dict) -> float:
    with lucid.no_grad():
        log_probs = log_softmax(model(batch["features"]), dim=2)
    decoded = greedy_decode(log_probs.transpose(0, 1), batch["input_lengths"])  # batch first
    edits = sum(edit_distance(d, s) for d, s in zip(decoded, batch["symbols"]))
    return edits / sum(len(s) for s in batch["symbols"])


# -------------------------------------------------------------------------------- progress
def on_terminal() -> bool:
    """Whether both output streams are a terminal. Piped or logged (``| cat``, ``> log``), a
    bar's redraws would fill the output, so then there is no bar, only the lines."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class PlainBar:
    """A stand-in for tqdm: one line on stderr, redrawn about every 2% of the way."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.every = max(1, total // 50)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text  # shown at the next redraw, as tqdm's with refresh=False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.every == 0 or self.n == self.total:
            done = 30 * self.n // self.total
            print(f"\r{self.desc}: [{'#' * done}{'.' * (30 - done)}] {self.n}/{self.total} "
                  f"{self.postfix}", end="", file=sys.stderr, flush=True)

    def write(self, text: str) -> None:
        """A line of output under the bar: the bar's line is ended first."""
        if self.n:
            print(file=sys.stderr)
        print(text, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def progress_bar(total: int, desc: str):
    """tqdm (or the plain bar without it) on a terminal; None when the output is not one."""
    if not on_terminal():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainBar(total, desc)
    return tqdm(total=total, desc=desc)


def say(bar, text: str) -> None:
    """Print a line, through the bar when there is one, so the two do not garble each other."""
    if bar is None:
        print(text, flush=True)
    else:
        bar.write(text)


# -------------------------------------------------------------------------------- the plot
def plot(path: str, model: nn.Module, batch: dict, losses: Sequence[float],
         running: Sequence[float]) -> bool:
    """Posteriors of held-out sequence 0 with its forced alignment, and the loss curve."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: skipping the plot (pip install "lucid-ctc[examples]")')
        return False
    length, symbols = int(batch["input_lengths"][0]), batch["symbols"][0]
    with lucid.no_grad():
        log_probs = log_softmax(model(batch["features"][:length, :1]), dim=2)
    alignment, scores = (x.numpy() for x in forced_align(log_probs[:, 0], symbols))
    score = scores.sum()  # the path's log-probability
    decoded = greedy_decode(log_probs[:, 0], length)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), gridspec_kw={"height_ratios": [3, 2]})
    image = top.imshow(np.exp(log_probs.numpy()[:, 0].T), aspect="auto", origin="lower",
                       cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    top.plot(np.arange(length), alignment, color="cyan", marker="o", markersize=3, lw=1)
    top.set_yticks(range(NUM_CLASSES), ["blank"] + [str(c) for c in range(1, NUM_CLASSES)])
    top.set_xlabel("frame")
    top.set_ylabel("class")
    top.set_title(f"held-out sequence: target {symbols}, greedy decoding {decoded}\n"
                  f"cyan: the forced alignment of the target (log-probability {score:.2f})")
    fig.colorbar(image, ax=top, label="posterior probability")
    bottom.semilogy(losses, color="0.75", lw=0.8, label="batch loss")
    bottom.semilogy(running, color="C0", label="running mean")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("CTC loss (batch mean)")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return True


# ------------------------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=4000,
                        help="training sequences, shuffled each epoch (default 4000)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--clip-norm", type=float, default=5.0,
                        help="clip the gradients' total norm to this (default 5)")
    parser.add_argument("--held-out", type=int, default=500, help="held-out sequences")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP threads for the CTC kernels (default: OpenMP's choice)")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).with_suffix(".png")),
                        help="where to write the PNG (default: examples/train_ctc.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, evaluate, plot; returns the per-step losses, the label error rate, the PNG path."""
    args = parse_args(argv)
    if args.threads is not None:
        lucid.set_num_threads(args.threads)
    start = time.perf_counter()
    pattern_seed = np.random.SeedSequence(args.seed).spawn(3)[0]
    patterns = np.random.default_rng(pattern_seed).standard_normal((ALPHABET, FEATURES))
    train_set = SymbolSequences(args.train_size, patterns, args.seed, split=0)
    held_out_set = SymbolSequences(args.held_out, patterns, args.seed, split=1)
    held_out = collate([held_out_set[i] for i in range(len(held_out_set))])

    lucid.manual_seed(args.seed)  # the weights, then the order of every epoch
    model = make_model()
    optimizer = lucid.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    losses, running = [], []
    per_epoch = len(loader)  # batches
    bar = progress_bar(args.steps, "training")
    for step, batch in enumerate(itertools.islice(epochs(loader), args.steps)):
        log_probs = log_softmax(model(batch["features"]), dim=2)
        loss = ctc_loss(log_probs, batch["targets"], batch["input_lengths"],
                        batch["target_lengths"])
        optimizer.zero_grad()
        loss.backward()
        norm = clip_grad_norm_(model.parameters(), max_norm=args.clip_norm)  # norm before
        if step == 0:  # show the loss and that its gradient reached every parameter
            say(bar, f"first batch: ctc_loss = {loss.item():.4f} (batch mean), "
                     f"gradient norm over all parameters = {norm.item():.4f}")
        optimizer.step()
        losses.append(loss.item())
        running.append(float(np.mean(losses[-20:])))
        if bar is not None:
            bar.set_postfix_str(f"loss {running[-1]:.3f}", refresh=False)
            bar.update(1)
        if (step + 1) % per_epoch == 0 or step + 1 == args.steps:  # an epoch ends, or training
            first = step - step % per_epoch
            say(bar, f"epoch {step // per_epoch + 1}: steps {first + 1}-{step + 1} of "
                     f"{args.steps}, mean loss {np.mean(losses[first:]):.3f}, "
                     f"{time.perf_counter() - start:.1f} s")
    if bar is not None:
        bar.close()

    error_rate = label_error_rate(model, held_out)
    print(f"held-out greedy label error rate: {100 * error_rate:.2f}% "
          f"({args.held_out} sequences, {time.perf_counter() - start:.1f} s)")
    drawn = not args.no_plot and plot(args.out, model, held_out, losses, running)
    return {"losses": losses, "label_error_rate": error_rate,
            "plot": args.out if drawn else None}


if __name__ == "__main__":
    main()
