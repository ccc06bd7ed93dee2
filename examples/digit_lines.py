"""Read lines of real handwritten digits with a CRNN trained by CTC: Conv1d + bidirectional GRU.

Run:  python examples/digit_lines.py                       train, evaluate, save, draw
      python examples/digit_lines.py --decode digit_lines.npz  decode new lines with a saved model
      python examples/digit_lines.py --imperfect digit_lines.npz  align imperfect transcripts
      python examples/digit_lines.py --quick --no-plot     a smoke run of a few seconds

Data. scikit-learn's ``load_digits`` (no download): 1,797 handwritten digits of 8 x 8 pixels,
the test set of the UCI "Optical Recognition of Handwritten Digits" data (Alpaydin & Kaynak,
1998; licence CC BY 4.0). The *images* are split into training and held-out sets first; only
then are lines of 3-8 digits composed, side by side with random gaps of blank columns, so every
held-out line is written in handwriting the model never saw. A line is an 8-row image; its
columns are the frames (8 features each), and since we built it, the true column span of each
digit is known.

Model. Two Conv1d layers over the columns (rows are channels), a bidirectional GRU, a Linear
layer to 11 classes (blank + the digits 0-9), log_softmax; ctc_loss with each line's own
length, Adam, the gradients' norm clipped to 5. The GRU is told the lengths too, so padding
never reaches a line's frames. A DataLoader batches an endless stream of freshly composed lines.

Evaluation, on held-out lines: the character error rate (edit distance / digits) of greedy
decoding, and of beam search when lucid has it; the forced alignment of each line to its
transcript, scored by the fraction of digits whose aligned frames all fall inside their true
column span. With --imperfect, the transcripts of held-out lines lose or gain 10-30% of their
digits, and plain forced alignment is compared with alignment allowing a wildcard (for digits
the transcript lacks) and skips (for digits it has and the line does not): how many of the
transcript's true digits land inside their true columns. The model's ``state_dict`` and the
training curves are saved with ``lucid.save`` (an .npz file that loads without running code);
--decode and --imperfect read them back with ``lucid.load`` and say so when a file is not such
a model. A PNG shows a held-out line with the decoded digits and their aligned spans, the
per-frame posteriors, and the loss and CER curves (needs matplotlib: pip install
"lucid-ctc[examples]").

Output. A line at each evaluation; on a terminal a progress bar as well, and none when the
output is piped or logged.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import sys
import time
from collections.abc import Iterator, Sequence

# The matrices are small (a few thousand x 64): BLAS threads cost more in hand-offs than they
# save, and on a busy machine their spin-waiting slows training down badly. OpenBLAS reads this
# once, when numpy loads it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the line above)

import lucid  # noqa: E402
from lucid import nn  # noqa: E402
from lucid.nn import functional as F  # noqa: E402
from lucid.nn.utils import clip_grad_norm_  # noqa: E402
from lucid.utils.data import DataLoader, IterableDataset  # noqa: E402

ROWS = 8               # pixels per column: the features of a frame
DIGITS = 10            # class k + 1 is the digit k; class 0 is the blank
MIN_DIGITS, MAX_DIGITS = 3, 8
MAX_GAP = 3            # blank columns between two digits: 0 to MAX_GAP
MAX_MARGIN = 4         # blank columns before the first and after the last digit: 1 to MAX_MARGIN
HERE = pathlib.Path(__file__).resolve().parent
# Penalties of the imperfect-transcript alignments (log-scores): a wildcard frame costs as much
# as a frame whose class has probability e^-2, a digit left out as much as e^-4.
STAR_PENALTY, SKIP_PENALTY = -2.0, -4.0
ALIGNERS = {"plain": {}, "wildcard": {"star_penalty": STAR_PENALTY},
            "skips": {"skip_penalty": SKIP_PENALTY},
            "both": {"star_penalty": STAR_PENALTY, "skip_penalty": SKIP_PENALTY}}


# ------------------------------------------------------------------------------------- data
def load_split(seed: int, held_out: float = 0.2) -> tuple:
    """The digit images (N, 8, 8) scaled to [0, 1] and their labels, split before composing."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(round(len(images) * (1 - held_out)))
    train, test = order[:cut], order[cut:]
    return (images[train], digits.target[train]), (images[test], digits.target[test])


def compose_line(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict:
    """One line: 3-8 random digits of ``images`` side by side with random blank gaps.

    Returns the (8, W) image, the digits, and each digit's column span [start, end).
    """
    picks = rng.integers(len(images), size=rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
    pieces, spans, column = [np.zeros((ROWS, rng.integers(1, MAX_MARGIN + 1)))], [], 0
    column = pieces[0].shape[1]
    for i, k in enumerate(picks):
        if i:
            gap = int(rng.integers(0, MAX_GAP + 1))  # plain ints: the spans print as numbers
            pieces.append(np.zeros((ROWS, gap)))
            column += gap
        pieces.append(images[k])
        spans.append((column, column + images[k].shape[1]))
        column += images[k].shape[1]
    pieces.append(np.zeros((ROWS, rng.integers(1, MAX_MARGIN + 1))))
    return {"image": np.concatenate(pieces, axis=1).astype(np.float32),
            "digits": labels[picks].tolist(), "spans": spans}


class ComposedLines(IterableDataset):
    """An endless stream of lines composed from ``images``: each one new, 3-8 random digits.

    Iterating starts the stream afresh from ``seed``, so a run sees the same lines every time.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.images, self.labels, self.seed = images, labels, seed

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng(self.seed)
        while True:
            yield compose_line(self.images, self.labels, rng)


def make_batch(lines: Sequence[dict]) -> dict:
    """Pad lines into (N, 8, W_max) images and (N, MAX_DIGITS) targets (labels = digit + 1)."""
    lengths = np.array([line["image"].shape[1] for line in lines])
    images = np.zeros((len(lines), ROWS, lengths.max()), dtype=np.float32)
    targets = np.zeros((len(lines), MAX_DIGITS), dtype=np.int64)
    for n, line in enumerate(lines):
        images[n, :, : lengths[n]] = line["image"]
        targets[n, : len(line["digits"])] = np.array(line["digits"]) + 1
    return {"images": lucid.tensor(images), "targets": targets, "lengths": lengths,
            "target_lengths": np.array([len(line["digits"]) for line in lines]),
            "lines": list(lines)}


# -------------------------------------------------------------------------------- the model
class DigitLineReader(nn.Module):
    """Columns -> Conv1d, ReLU, Conv1d, ReLU -> bidirectional GRU -> Linear -> log-probs."""

    def __init__(self, channels: int = 48, hidden: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(ROWS, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.rnn = nn.GRU(channels, hidden, bidirectional=True)
        self.head = nn.Linear(2 * hidden, DIGITS + 1)

    def forward(self, images: lucid.Tensor, lengths: Sequence[int]) -> lucid.Tensor:
        """(N, 8, W) images -> (W, N, 11) log-probabilities, ctc_loss's layout."""
        x = F.relu(self.conv2(F.relu(self.conv1(images))))
        x, _ = self.rnn(x.permute(2, 0, 1), lengths=lengths)
        return F.log_softmax(self.head(x), dim=2)


def save(model: nn.Module, path: str, history: dict | None = None) -> None:
    """The state_dict and the training curves in one :func:`lucid.save` file: an .npz of
    arrays and a JSON index, which loads without running any code."""
    lucid.save({"model": model.state_dict(), "history": history or {}}, path)


def load(path: str) -> tuple:
    """The model saved at ``path`` by :func:`save` (in eval mode) and its training curves.

    ValueError, naming ``path``, for a file that is not such a model: lucid.load's own for a
    file lucid.save did not write, this one for a checkpoint of something else."""
    checkpoint = lucid.load(path)
    names = set(DigitLineReader(channels=1, hidden=1).state_dict())
    if (not isinstance(checkpoint, dict) or set(checkpoint) != {"model", "history"}
            or not isinstance(checkpoint["model"], dict) or set(checkpoint["model"]) != names):
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path!r} is a lucid checkpoint but not a digit-line model: expected "
                         f"a dict of 'model' (a DigitLineReader's state_dict) and 'history', "
                         f"got {found}")
    state = checkpoint["model"]
    model = DigitLineReader(channels=state["conv1.weight"].shape[0],
                            hidden=state["rnn.weight_hh_l0"].shape[1])
    model.load_state_dict(state)
    return model.eval(), checkpoint["history"]


# ------------------------------------------------------------------------------- evaluation
def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def character_error_rate(decoded: Sequence[Sequence[int]], lines: Sequence[dict]) -> float:
    edits = sum(edit_distance(d, line["digits"]) for d, line in zip(decoded, lines))
    return edits / sum(len(line["digits"]) for line in lines)


def predict(model: nn.Module, batch: dict) -> np.ndarray:
    with lucid.no_grad():
        return model(batch["images"], batch["lengths"])


def greedy_digits(log_probs: lucid.Tensor, lengths: np.ndarray) -> list:
    # the model's output is time first (T, N, C), as ctc_loss takes it; lucid.ctc batch first
    decoded = lucid.ctc.greedy_decode(log_probs.transpose(0, 1), lengths)
    return [[k - 1 for k in seq] for seq in decoded]


def beam_digits(log_probs: lucid.Tensor, lengths: np.ndarray) -> list:
    """Prefix beam-search decoding (width 16, no language model): the best hypothesis per line.

    ``beam_search_decode`` returns, per line, hypotheses best first, each with the label
    sequence in ``.tokens``; this is the one place the example calls it.
    """
    return [[k - 1 for k in hypotheses[0].tokens.tolist()]
            for hypotheses in lucid.ctc.beam_search_decode(log_probs.transpose(0, 1), lengths)]


def aligned_spans(log_probs: lucid.Tensor, batch: dict) -> list:
    """Per line, per digit: the [first, last] frame the forced alignment gives that digit."""
    alignments, _ = lucid.ctc.forced_align(log_probs.transpose(0, 1), batch["targets"],
                                           batch["lengths"], batch["target_lengths"])
    spans = []
    for path in alignments.tolist():
        # a new label run starts where the class changes to a non-blank
        starts = [t for t in range(len(path)) if path[t] and (t == 0 or path[t] != path[t - 1])]
        ends = [next((u for u in range(t, len(path)) if path[u] != path[t]), len(path)) - 1
                for t in starts]
        spans.append(list(zip(starts, ends)))
    return spans


def alignment_accuracy(spans: list, lines: Sequence[dict]) -> float:
    """The fraction of digits whose aligned frames all lie inside their true column span."""
    hits = total = 0
    for found, line in zip(spans, lines):
        for (first, last), (start, end) in zip(found, line["spans"]):
            hits += start <= first and last < end
        total += len(line["spans"])
    return hits / total


def evaluate(model: nn.Module, batch: dict) -> dict:
    log_probs = predict(model, batch)
    result = {"greedy": greedy_digits(log_probs, batch["lengths"]),
              "beam": beam_digits(log_probs, batch["lengths"]),
              "spans": aligned_spans(log_probs, batch), "log_probs": log_probs}
    result["greedy_cer"] = character_error_rate(result["greedy"], batch["lines"])
    result["beam_cer"] = character_error_rate(result["beam"], batch["lines"])
    result["aligned"] = alignment_accuracy(result["spans"], batch["lines"])
    return result


# ------------------------------------------------------------------- imperfect transcripts
def corrupt(digits: Sequence[int], mode: str, rng: np.random.Generator) -> tuple:
    """A transcript with 10-30% of the line's digits (at least one) dropped ("drop": speech
    nobody transcribed) or random digits inserted ("add": words nobody said), and the indices of
    the line's digits it still holds."""
    n = len(digits)
    k = max(1, int(round(rng.uniform(0.1, 0.3) * n)))
    if mode == "drop":
        kept = sorted(rng.choice(n, size=n - k, replace=False).tolist())
        return [digits[i] for i in kept], kept
    transcript = list(digits)
    for _ in range(k):
        transcript.insert(int(rng.integers(len(transcript) + 1)), int(rng.integers(DIGITS)))
    return transcript, list(range(n))


def placed(labels: np.ndarray, line: dict, kept: Sequence[int]) -> tuple:
    """(digits of the line that the transcript holds and that some aligned span of their class
    lies inside, aligned spans that lie inside no true column of their digit)."""
    spans = lucid.ctc.merge_tokens(labels, np.zeros(len(labels)))  # -1 (wildcard): no span
    inside = [[s.token == line["digits"][i] + 1 and start <= s.start and s.end <= end
               for i, (start, end) in enumerate(line["spans"])] for s in spans]
    found = sum(any(row[i] for row in inside) for i in kept)
    return found, sum(not any(row) for row in inside)


def marked(labels: np.ndarray, line: dict, kept: Sequence[int]) -> int:
    """Digits of the line the transcript lacks whose columns hold a wildcard frame (-1)."""
    return sum((labels[start:end] == -1).any()
               for i, (start, end) in enumerate(line["spans"]) if i not in kept)


def imperfect_alignment(log_probs: lucid.Tensor, batch: dict, seed: int) -> dict:
    """For each corruption and each aligner of ALIGNERS: the share of the transcripts' true
    digits aligned inside their true columns, the share of aligned spans outside any, and the
    share of untranscribed digits the wildcard marks."""
    results = {}
    for mode in ("drop", "add"):
        rng = np.random.default_rng([seed, mode == "add"])
        corrupted = [corrupt(line["digits"], mode, rng) for line in batch["lines"]]
        targets = np.zeros((len(corrupted), 2 * MAX_DIGITS), dtype=np.int64)
        for n, (transcript, _) in enumerate(corrupted):
            targets[n, : len(transcript)] = np.array(transcript) + 1
        lengths = [len(transcript) for transcript, _ in corrupted]
        for name, penalties in ALIGNERS.items():
            labels, _ = lucid.ctc.forced_align(log_probs.transpose(0, 1), targets,
                                               batch["lengths"], lengths, **penalties)
            found = wrong = spans = wild = 0
            for row, line, (_, kept) in zip(labels.numpy(), batch["lines"], corrupted):
                row = row[: line["image"].shape[1]]
                hits, misses = placed(row, line, kept)
                found += hits
                wrong += misses
                spans += hits + misses
                wild += marked(row, line, kept)
            total = sum(len(kept) for _, kept in corrupted)
            missing = sum(len(line["digits"]) - len(kept)
                          for line, (_, kept) in zip(batch["lines"], corrupted))
            results[mode, name] = {"inside": found / total, "outside": wrong / max(spans, 1),
                                   "marked": wild / missing if missing else None,
                                   "labels": labels.numpy(), "transcripts": corrupted}
    return results


def align_imperfect(args: argparse.Namespace, model: nn.Module, held_out_images: tuple) -> dict:
    """Align corrupted transcripts of new held-out lines with a saved model (--imperfect)."""
    rng = np.random.default_rng(args.seed + 1000)  # the lines --decode reads
    batch = make_batch([compose_line(*held_out_images, rng) for _ in range(args.held_out)])
    results = imperfect_alignment(predict(model, batch), batch, args.seed)
    print(f"{args.held_out} held-out lines; transcripts with 10-30% of their digits dropped or "
          f"added; penalties: wildcard {STAR_PENALTY}, skip {SKIP_PENALTY}")
    print(f"{'transcripts':15s} {'aligner':9s} {'inside':>7s} {'outside':>8s} {'marked':>7s}")
    for (mode, name), r in results.items():
        mark = "" if r["marked"] is None else f"{100 * r['marked']:6.1f}%"
        print(f"{'digits ' + ('dropped' if mode == 'drop' else 'added'):15s} {name:9s} "
              f"{100 * r['inside']:6.1f}% {100 * r['outside']:7.1f}% {mark:>7s}")
    print("inside: the transcript's true digits aligned inside their true columns; outside: "
          "aligned spans inside no column of their digit; marked: untranscribed digits the "
          "wildcard marks")
    return results


# ------------------------------------------------------------------------------ progress
def on_terminal() -> bool:
    """Whether both output streams are a terminal. Piped or logged (``| cat``, ``> log``), a
    bar's redraws would fill the output, so then there is no bar, only the lines."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def progress(total: int, desc: str):
    """tqdm on a terminal; None without tqdm or a terminal: the evaluation lines suffice."""
    if not on_terminal():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, mininterval=1.0, file=sys.stderr)


def say(bar, text: str) -> None:
    """Print a line, through the bar when there is one, so the two do not garble each other."""
    if bar is None:
        print(text, flush=True)
    else:
        bar.write(text)


# ---------------------------------------------------------------------------------- plot
def plot(path: str, batch: dict, result: dict, history: dict, index: int = 0) -> bool:
    """A held-out line with its decoding and aligned spans; its posteriors; loss/CER curves."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: skipping the plot (pip install "lucid-ctc[examples]")')
        return False
    line, W = batch["lines"][index], int(batch["lengths"][index])
    posteriors = np.exp(result["log_probs"].numpy()[:W, index]).T
    fig, axes = plt.subplots(3, 1, figsize=(10, 8.5),
                             gridspec_kw={"height_ratios": [1.3, 2.2, 1.8]})
    top, middle, bottom = axes
    top.imshow(line["image"], cmap="gray_r", aspect="auto", extent=(-0.5, W - 0.5, 7.5, -0.5))
    for (start, end) in line["spans"]:
        top.axvspan(start - 0.5, end - 0.5, ymin=0.0, ymax=0.06, color="0.6")
    for digit, (first, last) in zip(line["digits"], result["spans"][index]):
        top.axvspan(first - 0.5, last + 0.5, color="C1", alpha=0.35)
        top.text((first + last) / 2, -0.9, str(digit), ha="center", va="bottom", color="C1",
                 fontsize=12, fontweight="bold")
    top.set_ylim(7.5, -2.2)
    top.set_yticks([])
    top.set_title(f"held-out line {''.join(map(str, line['digits']))}: greedy decoding "
                  f"{''.join(map(str, result['greedy'][index]))}; orange: forced-aligned frames "
                  f"of each digit, grey: its true columns", fontsize=10)
    image = middle.imshow(posteriors, aspect="auto", origin="lower", cmap="magma", vmin=0,
                          vmax=1, interpolation="nearest")
    middle.set_yticks(range(DIGITS + 1), ["blank"] + [str(d) for d in range(DIGITS)])
    middle.set_xlabel("frame (image column)")
    middle.set_ylabel("class")
    middle.set_title("per-frame posteriors exp(log_probs)", fontsize=10)
    fig.colorbar(image, ax=middle, fraction=0.03, pad=0.01)
    bottom.semilogy(history["loss"], color="C0", lw=0.8, label="training loss (batch mean)")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("CTC loss")
    cer = bottom.twinx()
    cer.plot(history["eval_step"], 100 * np.array(history["cer"]), "o-", color="C3",
             label="held-out greedy CER")
    cer.set_ylabel("CER (%)")
    cer.set_ylim(0, max(5.0, 100 * max(history["cer"], default=0)))
    bottom.legend(loc="upper center", fontsize=8)
    cer.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return True


# ------------------------------------------------------------------------------- training
def train(args: argparse.Namespace, train_set: tuple, held_out: dict) -> tuple:
    lines = DataLoader(ComposedLines(*train_set, seed=args.seed + 1),
                       batch_size=args.batch_size, collate_fn=make_batch)
    lucid.manual_seed(args.seed)
    model = DigitLineReader(channels=args.channels, hidden=args.hidden)
    optimizer = lucid.optim.Adam(model.parameters(), lr=args.lr)
    history = {"loss": [], "eval_step": [], "cer": []}
    bar = progress(args.steps, "training")
    wall, cpu = time.perf_counter(), time.process_time()
    for step, batch in enumerate(itertools.islice(lines, args.steps), start=1):
        log_probs = model(batch["images"], batch["lengths"])
        loss = F.ctc_loss(log_probs, batch["targets"], batch["lengths"], batch["target_lengths"])
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), max_norm=args.clip_norm)
        optimizer.step()
        history["loss"].append(loss.item())
        if bar is not None:
            bar.set_postfix_str(f"loss {np.mean(history['loss'][-20:]):.3f}", refresh=False)
            bar.update(1)
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            cer = character_error_rate(greedy_digits(predict(model, held_out),
                                                     held_out["lengths"]), held_out["lines"])
            model.train()
            history["eval_step"].append(step)
            history["cer"].append(cer)
            say(bar, f"step {step}/{args.steps}: loss {np.mean(history['loss'][-20:]):.3f}, "
                     f"held-out greedy CER {100 * cer:.2f}%, {time.perf_counter() - wall:.0f} s")
    if bar is not None:
        bar.close()
    times = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    return model.eval(), history, times


# ------------------------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    parser.add_argument("--clip-norm", type=float, default=5.0,
                        help="clip the gradients' total norm to this (default 5)")
    parser.add_argument("--channels", type=int, default=48, help="Conv1d channels")
    parser.add_argument("--hidden", type=int, default=64, help="GRU state size per direction")
    parser.add_argument("--held-out", type=int, default=400, help="held-out lines")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between CER checks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP threads for lucid's kernels (default 1: a step's work is "
                             "small, and a second thread mostly waits, badly so on a busy "
                             "machine)")
    parser.add_argument("--model", default=str(HERE / "digit_lines.npz"),
                        help="where to save the trained model (default examples/digit_lines.npz)")
    parser.add_argument("--out", default=str(HERE / "digit_lines.png"),
                        help="where to write the PNG (default examples/digit_lines.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 30 steps, 40 held-out lines (CER far from the target)")
    parser.add_argument("--decode", metavar="MODEL",
                        help="load a saved model, decode freshly composed held-out lines, exit")
    parser.add_argument("--imperfect", metavar="MODEL",
                        help="load a saved model, align held-out lines to transcripts with "
                             "digits dropped or added, with and without wildcard and skips")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.held_out, args.eval_every = 30, 40, 15
    return args


def load_or_exit(path: str) -> nn.Module:
    """The model saved at ``path``; for any other file, a one-line message and exit status 2."""
    try:
        return load(path)[0]
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"digit_lines.py: error: {path} is not a saved model ({reason}). Train and save "
              f"one with: python examples/digit_lines.py (it writes examples/digit_lines.npz; "
              f"--model PATH writes PATH)", file=sys.stderr)
        raise SystemExit(2) from None


def decode_saved(args: argparse.Namespace, model: nn.Module, held_out_images: tuple) -> dict:
    """Read new lines of held-out handwriting with a model saved by a training run."""
    rng = np.random.default_rng(args.seed + 1000)  # lines the training run never composed
    batch = make_batch([compose_line(*held_out_images, rng) for _ in range(args.held_out)])
    result = evaluate(model, batch)
    for line, digits in list(zip(batch["lines"], result["greedy"]))[:5]:
        print(f"  truth {''.join(map(str, line['digits'])):>8}   read {''.join(map(str, digits))}")
    print(f"greedy CER on {args.held_out} new held-out lines: {100 * result['greedy_cer']:.2f}%")
    print(f"beam-search CER on the same lines: {100 * result['beam_cer']:.2f}%")
    return result


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, evaluate, save, plot; returns the numbers it printed and the file paths."""
    args = parse_args(argv)
    lucid.set_num_threads(args.threads)
    saved = args.decode or args.imperfect
    model = load_or_exit(saved) if saved else None  # before the data: fail fast
    train_set, test_set = load_split(args.seed)
    if args.decode:
        return decode_saved(args, model, test_set)
    if args.imperfect:
        return align_imperfect(args, model, test_set)
    print(f"{len(train_set[0])} training images, {len(test_set[0])} held-out images "
          f"(UCI optical digits via scikit-learn)")
    rng = np.random.default_rng(args.seed + 2)
    held_out = make_batch([compose_line(*test_set, rng) for _ in range(args.held_out)])
    model, history, times = train(args, train_set, held_out)
    result = evaluate(model, held_out)
    print(f"held-out greedy CER: {100 * result['greedy_cer']:.2f}% "
          f"({args.held_out} lines, {int(held_out['target_lengths'].sum())} digits)")
    print(f"held-out beam-search CER: {100 * result['beam_cer']:.2f}%")
    print(f"forced alignment: {100 * result['aligned']:.1f}% of digits aligned inside their "
          f"true columns")
    print(f"training: {args.steps} steps in {times['wall']:.1f} s wall, {times['cpu']:.1f} s CPU")
    save(model, args.model, history)
    print(f"saved the model to {args.model}; decode new lines with: "
          f"python examples/digit_lines.py --decode {args.model}")
    drawn = not args.no_plot and plot(args.out, held_out, result, history)
    return {**{k: result[k] for k in ("greedy_cer", "beam_cer", "aligned")},
            "history": history, "times": times, "model": args.model,
            "plot": args.out if drawn else None}


if __name__ == "__main__":
    main()
