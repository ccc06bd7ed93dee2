"""Imperfect transcripts: the wildcard and skip lattices against the plain ones, in one process.

    python benchmarks/bench_star.py            # the table (about a minute)
    python benchmarks/bench_star.py --quick    # smoke run: small sizes, no claims

On one thread, the median of interleaved repeats after a warm-up call, for each shape:

- loss: ``ctc_loss(log_softmax(logits), ..., reduction="sum")`` and its backward to the logits
  (one training step's CTC part), plain against ``star_penalty=-1``;
- align: ``forced_align`` plain against ``star_penalty=-1``, ``skip_penalty=-2`` and both;
  and once in long form (checkpointed blocks), where the lattice does not fit whole.

The ratio column divides each variant's time by the plain one of the same row.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import lucid
import lucid.ctc.align as align_module
from lucid.ctc import forced_align
from lucid.nn.functional import ctc_loss, log_softmax

# name: (T, N, C, S)
SHAPES = {
    "characters": (400, 16, 32, 100),
    "long": (1000, 8, 64, 300),
    "BPE": (250, 16, 1024, 60),
}
LONG_FORM = (30_000, 1, 32, 5_000)  # 10 minutes at 50 frames/s
VARIANTS = {"plain": {}, "star": {"star_penalty": -1.0}, "skip": {"skip_penalty": -2.0},
            "star+skip": {"star_penalty": -1.0, "skip_penalty": -2.0}}


def inputs(T, N, C, S, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(T, N, C)).astype(np.float32)
    targets = rng.integers(1, C, size=(N, S))
    return logits, targets, np.full(N, T), np.full(N, S)


def interleaved_ms(calls, repeats):
    """name -> median milliseconds, the calls alternating so that load falls on all alike."""
    times = {name: [] for name in calls}
    for fn in calls.values():
        fn()  # warm-up: buffers, workspaces
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def loss_calls(logits, targets, il, tl):
    def step(**penalty):
        def run():
            z = lucid.tensor(logits, requires_grad=True)
            ctc_loss(log_softmax(z, dim=2), targets, il, tl, reduction="sum", **penalty).backward()
        return run
    return {"plain": step(), "star": step(star_penalty=-1.0)}


def align_calls(logits, targets, il, tl, variants=VARIANTS):
    lp = log_softmax(lucid.tensor(logits), dim=2).transpose(0, 1)  # batch first
    return {name: (lambda p=penalty: forced_align(lp, targets, il, tl, **p))
            for name, penalty in variants.items()}


def print_rows(kind, shape_name, shape, ms):
    for name, t in ms.items():
        print(f"{kind:6s} {shape_name:11s} {str(shape):24s} {name:10s} {t:10.2f} "
              f"{t / ms['plain']:6.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    lucid.set_num_threads(1)
    repeats = 2 if args.quick else 15
    shapes = {"tiny": (40, 4, 8, 10)} if args.quick else SHAPES
    print(f"{'':6s} {'shape':11s} {'(T, N, C, S)':24s} {'variant':10s} {'median ms':>10s} ratio")
    for shape_name, shape in shapes.items():
        data = inputs(*shape)
        print_rows("loss", shape_name, shape, interleaved_ms(loss_calls(*data), repeats))
        print_rows("align", shape_name, shape, interleaved_ms(align_calls(*data), repeats))
    long_form = (2000, 1, 32, 300) if args.quick else LONG_FORM
    old = align_module._PLAIN_BYTES
    align_module._PLAIN_BYTES = 0  # checkpointed blocks, whatever the size
    try:
        ms = interleaved_ms(align_calls(*inputs(*long_form)), 1 if args.quick else 3)
    finally:
        align_module._PLAIN_BYTES = old
    print_rows("blocks", "long form", long_form, ms)


if __name__ == "__main__":
    main()
