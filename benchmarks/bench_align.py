"""Forced alignment: long inputs (time, peak memory), a batch against a loop, torchaudio.

    python benchmarks/bench_align.py            # full run (a few minutes)
    python benchmarks/bench_align.py --quick    # smoke run: small sizes, no claims

- Long form: one recording of T frames against S labels (default: an hour at 50 frames/s,
  180,000 frames, against 30,000 labels; C = 32, float32), aligned in a fresh process on one
  thread. Reported: wall time, and the rise of the process's resident high-water mark over
  the call (Linux: VmHWM, reset before the call), next to the T x (2S + 1) bytes that the
  plain recursion's back-pointers alone would take. The same, at a tenth of the size, for
  the plain recursion against the blocked one (forced), to show what the recomputation costs.
- Batch: N samples of up to T frames in one call against a Python loop of single-sample calls,
  same thread count (1, then --threads), medians over interleaved repeats. torchaudio's
  forced_align (one sample per call, as it requires) joins the loop when it is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

import lucid
from lucid.ctc import forced_align

try:
    import torch
    import torchaudio
    torchaudio_align = getattr(torchaudio.functional, "forced_align", None)
except ImportError:
    torchaudio_align = None

# The call's own peak: VmHWM reset just before it (Linux). ru_maxrss would not do: a child
# inherits its parent's high-water mark, and this parent has imported torch.
CHILD = """
import json, os, resource, time
import numpy as np
import lucid
import lucid.ctc.align as align
from lucid.ctc import forced_align

def vm_mib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024

T, S, C, mode = {T}, {S}, 32, {mode!r}
rng = np.random.default_rng(0)
x = rng.normal(scale=3.0, size=(T, C)).astype(np.float32)
lp = lucid.tensor(x - np.log(np.exp(x).sum(1, keepdims=True)))
target = rng.integers(1, C, size=S)
lucid.set_num_threads(1)
if mode == "plain":
    align._PLAIN_BYTES = 2**62
elif mode == "blocked":
    align._PLAIN_BYTES = 0
proc = os.path.exists("/proc/self/clear_refs")
if proc:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = vm_mib("VmRSS:")
start = time.perf_counter()
alignment, scores = forced_align(lp, target)
seconds = time.perf_counter() - start
peak = vm_mib("VmHWM:") if proc else float("nan")
print(json.dumps(dict(seconds=seconds, rise_mib=peak - before if proc else float("nan"),
                      peak_mib=peak, score=float(scores.numpy().astype(np.float64).sum()))))
"""


def long_form(T, S, mode="auto"):
    """Time and memory of aligning one (T, 32) input against S labels, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD.format(T=T, S=S, mode=mode)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def show_long(T, S, mode, r):
    plain_mib = T * (2 * S + 1) / 2**20
    print(f"  T={T:>7,} S={S:>6,} {mode:>7}: {r['seconds']:7.2f} s, peak RSS rise "
          f"{r['rise_mib']:7.1f} MiB (process peak {r['peak_mib']:7.1f} MiB; plain "
          f"back-pointers alone: {plain_mib:,.0f} MiB)  score {r['score']:.6g}")


def batch_inputs(T, N, C, S, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=(T, N, C))
    lp = (x - np.log(np.exp(x).sum(axis=2, keepdims=True))).astype(np.float32)
    il = rng.integers(int(0.8 * T), T + 1, size=N)
    tl = rng.integers(S // 2, S + 1, size=N)
    return lp, rng.integers(1, C, size=(N, S)), il, tl


def batch_vs_loop(T, N, C, S, repeats, threads):
    lp, targets, il, tl = batch_inputs(T, N, C, S)
    lucid.set_num_threads(threads)
    batch = lucid.tensor(lp).transpose(0, 1)  # lucid.ctc is batch first: (N, T, C), a view
    singles = [lucid.tensor(np.ascontiguousarray(lp[: il[n], n])) for n in range(N)]
    if torchaudio_align is not None:
        torch_singles = [torch.from_numpy(np.ascontiguousarray(lp[: il[n], n]))[None]
                         for n in range(N)]
        torch_targets = [torch.tensor(targets[n, : tl[n]], dtype=torch.int32)[None]
                         for n in range(N)]
        torch.set_num_threads(threads)

    def run_batch():
        forced_align(batch, targets, il, tl)

    def run_loop():
        for n in range(N):
            forced_align(singles[n], targets[n, : tl[n]])

    def run_torchaudio():
        for n in range(N):
            torchaudio_align(torch_singles[n], torch_targets[n], blank=0)

    runs = {"lucid batch": run_batch, "lucid loop": run_loop}
    if torchaudio_align is not None:
        runs["torchaudio loop"] = run_torchaudio
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in runs.items():  # interleaved
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    print(f"  T={T} N={N} C={C} S<={S}, {threads} thread(s), median of {repeats} "
          f"(wall; CPU time of all threads):")
    base = statistics.median(wall["lucid batch"])
    for name in runs:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"    {name:>16}: {1e3 * w:8.2f} ms wall ({w / base:5.2f}x the batched call), "
              f"{1e3 * c:8.2f} ms CPU")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    scale = 100 if args.quick else 1
    repeats = 2 if args.quick else args.repeats
    print(f"lucid-ctc forced alignment; torchaudio "
          f"{'installed' if torchaudio_align is not None else 'not installed'}; "
          f"OpenMP {'on' if lucid._C.openmp_enabled() else 'off'}")

    print("Long form (one thread, fresh process per run):")
    T, S = 180_000 // scale, 30_000 // scale
    show_long(T, S, "auto", long_form(T, S))
    T, S = 18_000 // scale, 3_000 // scale
    for mode in ("plain", "blocked"):
        show_long(T, S, mode, long_form(T, S, mode))

    print("Batch against a loop of single-sample calls:")
    for threads in sorted({1, args.threads}):
        batch_vs_loop(500 // (10 if args.quick else 1), 64, 32,
                      100 // (10 if args.quick else 1), repeats, threads)
        batch_vs_loop(50, 256, 32, 15, repeats, threads)


if __name__ == "__main__":
    main()
