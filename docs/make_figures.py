"""Draw the tutorial's figures from lucid's own outputs, and hold the tutorial's helper code.

Run: python docs/make_figures.py [OUTDIR]     (default docs/figures/; the Sphinx build calls
main() itself, see conf.py)

Every figure is computed, not drawn by hand: the log-probabilities come from lucid's
``randn`` and ``log_softmax``, losses and gradients from ``ctc_loss``, the best path from
``forced_align``. The forward and backward variables (alpha, beta) are not exposed by
lucid's kernel, so they are computed here by the plain log-space recursions below, which
``main()`` checks against lucid's loss and gradient before drawing anything.

The tutorial (docs/tutorial.rst) shows and imports the helpers in this file, so the code a
reader sees is the code that made the pictures.
"""

from __future__ import annotations

import itertools
import math
import pathlib
import sys

import numpy as np

import lucid
from lucid.ctc import beam_search_decode, forced_align, greedy_decode, merge_tokens
from lucid.nn.functional import ctc_loss, log_softmax

BLANK = 0
NAMES = "-ab"  # class 0 is the blank, drawn as "-"; class 1 is "a", class 2 is "b"
FIGURES = pathlib.Path(__file__).resolve().parent / "figures"
DIGIT_MODEL = FIGURES.parent / "digit_lines_model.npz"  # made by examples/digit_lines.py


# ------------------------------------------------------------------- the tutorial's helpers
def running_example():
    """The tutorial's running example: 10 frames of log-probabilities and the target "aab"."""
    lucid.manual_seed(0)
    frames = [0, 1, 1, 1, 1, 2, 2, 2, 0, 0]  # the class each frame leans to: "-aaaabbb--"
    logits = 3 * lucid.tensor(np.eye(3)[frames]) + lucid.randn(10, 3, dtype=lucid.float64)
    return log_softmax(logits, dim=1), [1, 1, 2]


def collapse(path, blank=BLANK):
    """The CTC collapse map B: merge runs of equal classes, then drop the blanks."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return [k for k in merged if k != blank]


def extend(target, blank=BLANK):
    """The extended target l': a blank before, between and after the labels (2S + 1 states)."""
    ext = [blank]
    for label in target:
        ext += [label, blank]
    return ext


def can_skip(ext, s, blank=BLANK):
    """Whether state s may be entered from s - 2, jumping over a blank."""
    return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]


def log_alpha(log_probs, target, blank=BLANK):
    """alpha[t, s] = log of the total probability of the prefixes of paths that are in
    state s at frame t, emissions up to and including frame t. log_probs: array (T, C)."""
    ext = extend(target, blank)
    T, K = len(log_probs), len(ext)
    alpha = np.full((T, K), -np.inf)
    alpha[0, :2] = log_probs[0, ext[:2]]  # a path starts with a blank or the first label
    for t in range(1, T):
        for s in range(K):
            incoming = [alpha[t - 1, s]]  # stay
            if s >= 1:
                incoming.append(alpha[t - 1, s - 1])  # advance one state
            if can_skip(ext, s, blank):
                incoming.append(alpha[t - 1, s - 2])  # skip the blank in between
            alpha[t, s] = np.logaddexp.reduce(incoming) + log_probs[t, ext[s]]
    return alpha


def log_beta(log_probs, target, blank=BLANK):
    """beta[t, s] = log of the total probability of the suffixes of paths that are in state
    s at frame t, emissions after frame t only. log_probs: array (T, C)."""
    ext = extend(target, blank)
    T, K = len(log_probs), len(ext)
    beta = np.full((T, K), -np.inf)
    beta[T - 1, -2:] = 0.0  # a path ends on the last label or the final blank
    for t in range(T - 2, -1, -1):
        for s in range(K):
            outgoing = [beta[t + 1, s] + log_probs[t + 1, ext[s]]]
            if s + 1 < K:
                outgoing.append(beta[t + 1, s + 1] + log_probs[t + 1, ext[s + 1]])
            if s + 2 < K and can_skip(ext, s + 2, blank):
                outgoing.append(beta[t + 1, s + 2] + log_probs[t + 1, ext[s + 2]])
            beta[t, s] = np.logaddexp.reduce(outgoing)
    return beta


def class_posterior(log_probs, target, blank=BLANK):
    """gamma[t, k]: the probability, given the target, that frame t emits class k."""
    alpha, beta = log_alpha(log_probs, target, blank), log_beta(log_probs, target, blank)
    log_p = np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    state_posterior = np.exp(alpha + beta - log_p)  # (T, 2S + 1)
    gamma = np.zeros(log_probs.shape)
    for s, k in enumerate(extend(target, blank)):
        gamma[:, k] += state_posterior[:, s]
    return gamma


# ------------------------------------------------------------------------------- checks
def check_against_lucid(log_probs, target):
    """The recursions above must give lucid's loss and (minus) lucid's gradient; returns
    the posterior as lucid computes it, -d loss / d log_probs."""
    leaf = log_probs.detach()
    leaf.requires_grad = True
    loss = ctc_loss(leaf, target, len(leaf), len(target))
    loss.backward()
    lp = leaf.numpy()
    alpha = log_alpha(lp, target)
    ours = -np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    if not np.isclose(ours, loss.item(), rtol=1e-12, atol=0):
        raise AssertionError(f"log_alpha gives loss {ours!r}, lucid {loss.item()!r}")
    gap = np.abs(class_posterior(lp, target) + leaf.grad.numpy()).max()
    if gap > 1e-12:
        raise AssertionError(f"posterior differs from -gradient by {gap:.3g}")
    return -leaf.grad.numpy()


# ------------------------------------------------------------ the decoding page's helpers
LIBRI_TOKENS = [" ", *"abcdefghijklmnopqrstuvwxyz", "'", "-"]  # class 28, "-", is the blank


def librispeech_sample():
    """The LibriSpeech posteriors that ship with pyctcdecode: (371, 29) log-probabilities,
    log-softmaxed here (the file holds rounded logits)."""
    import json

    import pyctcdecode

    path = pathlib.Path(pyctcdecode.__file__).parent / "tests" / "sample_data" / \
        "libri_logits.json"
    logits = np.array(json.loads(path.read_text()), dtype=np.float64)
    return log_softmax(lucid.tensor(logits), dim=1)


def unigram_arpa(counts, path):
    """Write a unigram language model with these word counts as an ARPA file."""
    total = sum(counts.values())
    lines = ["\\data\\", f"ngram 1={len(counts) + 3}", "", "\\1-grams:",
             "-99\t<s>", "-1.0\t</s>", "-6.0\t<unk>"]
    lines += [f"{math.log10(c / total):.6f}\t{w}" for w, c in counts.items()]
    pathlib.Path(path).write_text("\n".join(lines + ["", "\\end\\", ""]))
    return path


# ------------------------------------------------------------------------------ figures
def _state_labels(ext):
    return [f"{s}: {NAMES[k]}" for s, k in enumerate(ext)]


def _figure(width, height, rows=1, cols=1, **kwargs):
    """A figure drawn by matplotlib's Agg backend, and its axes. No pyplot: no global state,
    and the helpers above stay importable without matplotlib (the tutorial's tests use them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, **kwargs)


def _save(fig, outdir, name):
    fig.savefig(outdir / name, dpi=110, bbox_inches="tight")


def draw_alignments(outdir):
    """Every 4-frame path over {-, a, b} that collapses to "ab"."""
    target, T = [1, 2], 4
    paths = [p for p in itertools.product(range(3), repeat=T) if collapse(p) == target]
    fig, ax = _figure(3.6, 0.32 * len(paths) + 0.8)
    colours = np.array([[0.9, 0.9, 0.9], [0.55, 0.75, 0.95], [0.98, 0.7, 0.45]])
    ax.imshow(colours[np.array(paths)], aspect="auto")
    for (i, t), k in np.ndenumerate(np.array(paths)):
        ax.text(t, i, NAMES[k], ha="center", va="center", fontsize=11)
    ax.set_xticks(range(T), [f"t={t}" for t in range(T)])
    ax.set_yticks([])
    ax.set_title(f'the {len(paths)} paths of {T} frames\nthat collapse to "ab"', fontsize=10)
    _save(fig, outdir, "alignments.png")


def _complete(target, T):
    """Which lattice nodes (t, s) lie on some complete path: alpha and beta both finite."""
    flat = np.zeros((T, 3))  # all log-probabilities 0: only the lattice's shape matters
    return np.isfinite(log_alpha(flat, target) + log_beta(flat, target))


def _draw_lattice(ax, target, T, path=None):
    ext = extend(target)
    K = len(ext)
    on_path = _complete(target, T)
    for t in range(T - 1):  # the allowed moves between nodes that lie on complete paths
        for s in range(K):
            for step in (0, 1, 2):
                s2 = s + step
                allowed = s2 < K and (step < 2 or can_skip(ext, s2))
                if allowed and on_path[t, s] and on_path[t + 1, s2]:
                    ax.annotate("", xy=(t + 1, s2), xytext=(t, s),
                                arrowprops=dict(arrowstyle="-|>", color="0.55", lw=0.8,
                                                shrinkA=6, shrinkB=6))
    for t in range(T):
        for s in range(K):
            ax.plot(t, s, "o", ms=11, mfc="white" if ext[s] == BLANK else "#8cbcf2",
                    mec="black" if on_path[t, s] else "0.85", alpha=1 if on_path[t, s] else 0.5)
            ax.text(t, s, NAMES[ext[s]], ha="center", va="center", fontsize=8,
                    color="black" if on_path[t, s] else "0.75")
    if path is not None:
        ax.plot(range(T), path, color="crimson", lw=2.5, alpha=0.7, zorder=0)
    ax.set_xticks(range(T))
    ax.set_yticks(range(K), _state_labels(ext))
    ax.set_xlabel("frame t")
    ax.set_ylabel("state s of the extended target")
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(K - 0.5, -0.5)


def draw_lattice(outdir, T):
    fig, ax = _figure(0.62 * T + 1.6, 4.2)
    _draw_lattice(ax, [1, 1, 2], T)
    ax.set_title(f'the CTC lattice of "aab" over {T} frames', fontsize=10)
    _save(fig, outdir, "lattice.png")


def draw_feasibility(outdir, log_probs, target):
    """At T = S + repeats the lattice leaves one path; lucid's forced alignment finds it."""
    T = len(target) + sum(a == b for a, b in zip(target, target[1:]))
    path = forced_align(log_probs, target, T, len(target))[0][:T]
    fig, ax = _figure(3.4, 4.2)
    _draw_lattice(ax, target, T, _states_of(path, target))
    ax.set_title(f'"{"".join(NAMES[k] for k in target)}" in {T} frames: one path', fontsize=10)
    _save(fig, outdir, "feasibility.png")


def _states_of(path, target):
    """The lattice state at each frame of a frame-level path (the first that fits)."""
    ext, states, s = extend(target), [], -1
    for k in path:  # stay, advance or skip: the only move that lands on class k
        s = next(s2 for s2 in (s, s + 1, s + 2) if 0 <= s2 < len(ext) and ext[s2] == k)
        states.append(s)
    return states


def draw_alpha_beta(outdir, log_probs, target):
    lp = log_probs.numpy()
    alpha, beta = log_alpha(lp, target), log_beta(lp, target)
    ext = extend(target)
    fig, axes = _figure(13, 3.6, 1, 3, sharey=True)
    log_p = np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    panels = [(alpha, np.isinf(alpha), "log alpha_t(s)", "viridis"),
              (beta, np.isinf(beta), "log beta_t(s)", "viridis"),
              (np.exp(alpha + beta - log_p), np.isinf(alpha + beta),
               "exp(alpha_t(s) + beta_t(s) - log p)", "magma")]
    for ax, (values, grey, title, cmap) in zip(axes, panels):
        image = ax.imshow(np.ma.masked_where(grey.T, values.T), aspect="auto", cmap=cmap)
        ax.set_facecolor("0.85")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("frame t")
        ax.set_xticks(range(len(lp)))
        fig.colorbar(image, ax=ax, fraction=0.05)
    axes[0].set_yticks(range(len(ext)), _state_labels(ext))
    fig.suptitle("forward and backward variables of the running example (grey: -inf; on the "
                 "right, nodes on no complete path)", fontsize=10)
    _save(fig, outdir, "alpha_beta.png")


def draw_posterior(outdir, posterior, log_probs, target):
    T = len(posterior)
    path = forced_align(log_probs, target, T, len(target))[0][:T]
    fig, ax = _figure(7, 2.6)
    image = ax.imshow(posterior.T, aspect="auto", cmap="magma", vmin=0, vmax=1)
    ax.plot(range(T), path, "o-", color="cyan", ms=5, lw=1.5, label="forced alignment")
    ax.set_yticks(range(3), list(NAMES))
    ax.set_xticks(range(T))
    ax.set_xlabel("frame t")
    ax.set_ylabel("class")
    ax.set_title('posterior = -d ctc_loss / d log_probs, target "aab"', fontsize=10)
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.12, 1.0))
    fig.colorbar(image, ax=ax, fraction=0.05)
    _save(fig, outdir, "posterior.png")


def draw_decoding(outdir, log_probs):
    T = len(log_probs)
    probs = np.exp(log_probs.numpy())
    best = probs.argmax(axis=1)
    decoded = greedy_decode(log_probs, T)
    fig, ax = _figure(7, 2.6)
    image = ax.imshow(probs.T, aspect="auto", cmap="magma", vmin=0, vmax=1)
    ax.plot(range(T), best, "x", color="cyan", ms=8, mew=2, label="argmax per frame")
    ax.set_yticks(range(3), list(NAMES))
    ax.set_xticks(range(T), [NAMES[k] for k in best])
    ax.set_xlabel("frame t (labelled with its argmax class)")
    ax.set_ylabel("class")
    ax.set_title(f'model output exp(log_probs); greedy decoding: "'
                 f'{"".join(NAMES[k] for k in decoded)}"', fontsize=10)
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.12, 1.0))
    fig.colorbar(image, ax=ax, fraction=0.05)
    _save(fig, outdir, "decoding.png")


def draw_token_spans(outdir, frames=slice(0, 110)):
    """The best beam hypothesis over the LibriSpeech posteriors: each token's span (its run of
    frames in the forced alignment of that hypothesis) and its beam-search timestep."""
    log_probs = librispeech_sample()
    blank = len(LIBRI_TOKENS) - 1
    (best,) = beam_search_decode(log_probs, len(log_probs), beam_width=16, blank=blank)
    path, scores = forced_align(log_probs, best.tokens, len(log_probs), len(best.tokens),
                                    blank=blank)
    probs = np.exp(log_probs.numpy())[frames].T
    first, last = frames.start, frames.stop - 1
    fig, ax = _figure(9, 4.2)
    ax.imshow(probs, aspect="auto", cmap="Greys", vmin=0, vmax=1, origin="lower",
              extent=(first - 0.5, last + 0.5, -0.5, len(LIBRI_TOKENS) - 0.5))
    for span in merge_tokens(path, np.exp(scores), blank=blank):
        if span.start > last:
            break
        ax.add_patch(_rectangle((span.start - 0.5, span.token - 0.5), len(span), 1))
        ax.text((span.start + span.end - 1) / 2, span.token + 1.2, _shown(LIBRI_TOKENS[span.token]),
                ha="center", va="bottom", fontsize=8, color="C3")
    steps = [t for t in best.timesteps if t <= last]
    ax.plot(steps, [best.tokens[i] for i in range(len(steps))], "|", color="C0", ms=10, mew=2,
            label="timestep of each token (beam search)")
    ax.set_yticks(range(len(LIBRI_TOKENS)), [_shown(t) for t in LIBRI_TOKENS], fontsize=6)
    ax.set_xlabel("frame")
    ax.set_ylabel("class")
    ax.set_title("LibriSpeech posteriors, token spans of the best beam hypothesis (red)",
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    _save(fig, outdir, "token_spans.png")


def _shown(token):
    return "\u2423" if token == " " else token  # the open box for the space


def _rectangle(xy, width, height):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, fill=False, edgecolor="C3", lw=1.5)


def draw_zero_infinity(outdir):
    """The loss of "aab" against the number of frames, with and without zero_infinity."""
    target, lengths = [1, 1, 2], np.arange(1, 11)
    lucid.manual_seed(2)
    log_probs = log_softmax(lucid.randn(10, len(lengths), 3, dtype=lucid.float64), dim=2)
    targets = [target] * len(lengths)
    raw = ctc_loss(log_probs, targets, lengths, [3] * len(lengths), reduction="none").numpy()
    zeroed = ctc_loss(log_probs, targets, lengths, [3] * len(lengths), reduction="none",
                      zero_infinity=True).numpy()
    fig, ax = _figure(5.5, 3)
    finite = np.isfinite(raw)
    ax.plot(lengths[finite], raw[finite], "o-", label="zero_infinity=False")
    ax.plot(lengths[~finite], np.full((~finite).sum(), raw[finite].max() * 1.15), "^",
            color="C0", ms=9, label="inf (drawn at the top)")
    ax.plot(lengths, zeroed, "s", mfc="none", color="C3", ms=9, label="zero_infinity=True")
    ax.axvline(3.5, color="0.6", ls="--")
    ax.text(3.6, 0.5, "T >= S + repeats = 4", fontsize=8, color="0.4")
    ax.set_xlabel("input length T")
    ax.set_ylabel('ctc_loss, target "aab"')
    ax.set_xticks(lengths)
    ax.legend(fontsize=8)
    _save(fig, outdir, "zero_infinity.png")


# ------------------------------------------------------------- the digit-line tutorial's helpers
def digit_lines_example():
    """examples/digit_lines.py as a module: docs/digit_lines.rst imports the example from here."""
    import importlib.util

    path = FIGURES.parent.parent / "examples" / "digit_lines.py"
    spec = importlib.util.spec_from_file_location("digit_lines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def held_out_lines(example, count, seed=0):
    """The first ``count`` held-out lines of a training run with ``--seed seed``."""
    _, test_set = example.load_split(seed)
    rng = np.random.default_rng(seed + 2)
    return example.make_batch([example.compose_line(*test_set, rng) for _ in range(count)])


def draw_digit_lines(outdir, count=100):
    """The example's own picture, drawn from the model it saved into docs/ (no training here,
    so the build stays fast): held-out line 0, its posteriors, the training curves."""
    example = digit_lines_example()
    model, history = example.load(str(DIGIT_MODEL))
    batch = held_out_lines(example, count)
    example.plot(str(pathlib.Path(outdir) / "digit_lines.png"), batch,
                 example.evaluate(model, batch), history)


def draw_imperfect(outdir, count=100):
    """Held-out lines whose transcripts lack digits (wildcard) or add digits (skips): the line,
    and the spans plain alignment and the imperfect-transcript alignment give each digit."""
    from matplotlib.patches import Rectangle

    example = digit_lines_example()
    model, _ = example.load(str(DIGIT_MODEL))
    batch = held_out_lines(example, count)
    results = example.imperfect_alignment(example.predict(model, batch), batch, seed=0)
    shown = []
    for mode, better in (("drop", "wildcard"), ("add", "skips")):
        plain, fixed = results[mode, "plain"], results[mode, better]
        # the first line where plain alignment puts a span outside every column of its digit,
        # or (transcripts that lack digits) where the wildcard marks an untranscribed one
        for n, line in enumerate(batch["lines"]):
            width = line["image"].shape[1]
            kept = plain["transcripts"][n][1]
            if (example.placed(plain["labels"][n, :width], line, kept)[1]
                    or (mode == "drop" and example.marked(fixed["labels"][n, :width], line, kept))):
                shown.append((mode, better, n))
                break
    fig, axes = _figure(7.5, 2.4 * len(shown), rows=len(shown), squeeze=False,
                        gridspec_kw={"hspace": 0.45})
    for ax, (mode, better, n) in zip(axes[:, 0], shown):
        line = batch["lines"][n]
        width = line["image"].shape[1]
        transcript = "".join(map(str, results[mode, "plain"]["transcripts"][n][0]))
        ax.imshow(line["image"], cmap="Greys", aspect="auto", extent=(0, width, 8, 0))
        for (start, end), digit in zip(line["spans"], line["digits"]):
            ax.text((start + end) / 2, -0.6, str(digit), ha="center", fontsize=9)
        for row, name in enumerate(("plain", better)):
            labels = results[mode, name]["labels"][n, :width]
            top = 9 + 2 * row
            ax.text(-1, top + 0.8, name, ha="right", va="center", fontsize=8)
            for span in merge_tokens(labels, np.zeros(width)):
                inside = any(span.token == d + 1 and a <= span.start and span.end <= b
                             for (a, b), d in zip(line["spans"], line["digits"]))
                ax.add_patch(Rectangle((span.start, top), len(span), 1.6,
                                       color="tab:green" if inside else "tab:red"))
                ax.text(span.start + len(span) / 2, top + 0.8, str(span.token - 1),
                        ha="center", va="center", fontsize=7, color="white")
            for t in np.flatnonzero(labels == -1):
                ax.add_patch(Rectangle((t, top), 1, 1.6, facecolor="none", hatch="///",
                                       edgecolor="tab:blue"))
        ax.set_ylim(13, -1.5)
        ax.set_xlim(-0.5, width)
        ax.set_yticks([])
        ax.set_title(f"truth {''.join(map(str, line['digits']))}, transcript {transcript} "
                     f"(digits {'dropped' if mode == 'drop' else 'added'})", fontsize=9)
    axes[-1, 0].set_xlabel("column (frame); green: inside its digit, red: outside, "
                           "hatched: wildcard")
    _save(fig, outdir, "imperfect.png")


def main(outdir=FIGURES):
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    log_probs, target = running_example()
    posterior = check_against_lucid(log_probs, target)
    draw_alignments(outdir)
    draw_lattice(outdir, len(log_probs))
    draw_alpha_beta(outdir, log_probs, target)
    draw_posterior(outdir, posterior, log_probs, target)
    draw_feasibility(outdir, log_probs, target)
    draw_zero_infinity(outdir)
    draw_decoding(outdir, log_probs)
    draw_token_spans(outdir)
    draw_digit_lines(outdir)
    draw_imperfect(outdir)
    return sorted(p.name for p in outdir.glob("*.png"))


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:2])))
