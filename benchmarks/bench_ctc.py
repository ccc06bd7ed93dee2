"""CTC loss speed: lucid against PyTorch (when installed), in one process, interleaved.

    python benchmarks/bench_ctc.py            # full table (a few minutes)
    python benchmarks/bench_ctc.py --quick    # smoke run: tiny repeats, no claims
    python benchmarks/bench_ctc.py --cpu-time # on a busy machine: CPU time, one thread each

For every workload and logit kind (uniform ``randn`` and peaky ``randn * 15``) it times the
forward (loss only, no graph) and forward+backward (``reduction="sum"`` then ``.backward()``
to a log_probs leaf), the median over repeats after warm-up, alternating lucid and torch call
by call with the same thread count. "e2e" is the whole training step: logits ->
``log_softmax(dim=2)`` -> ``ctc_loss(reduction="mean")`` -> ``backward()`` to the logits;
its cost is also given in "floor passes", the time of ``np.full((T, N, C), 0.5, float32)``
(writing one fresh array of the logits' size), timed in the same loop. The I rows are the
shapes of the training-step table this benchmark was written against (uniform logits only).
"log space" is the share of the batch's samples that the kernel's probability-space fast
path handed to its exact log-space path (forward+backward).

Peak memory is the rise of a fresh process's resident high-water mark over one call after a
warm-up one (Linux only): for forward+backward in MB (the gradient buffer included), for the
e2e step in (T, N, C) arrays beyond the logits (log_probs and one gradient make 2.0).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import lucid
from lucid.nn.functional import ctc_loss, log_softmax
from lucid.nn.functional.ctc import _branches  # private: which kernel branch each sample took

try:
    import torch
except ImportError:  # the table then has lucid's columns only
    torch = None

# name: (T, N, C, S)
WORKLOADS = {
    "W1": (150, 64, 28, 40),     # warp-ctc's published case
    "W2": (400, 32, 32, 100),    # characters
    "W3": (250, 16, 1024, 60),   # BPE
    "W4": (150, 16, 5000, 20),   # large vocabulary
    "W5": (1000, 16, 64, 300),   # long
    "W6": (50, 4, 20, 10),       # per-call overhead
    "I1": (300, 32, 40, 80),     # the training-step table's shapes
    "I2": (200, 16, 3000, 40),
    "I3": (100, 64, 80, 30),
    "I4": (120, 8, 8000, 25),
    "I5": (1200, 4, 32, 300),
}
FLOAT64_WORKLOADS = ("W1", "W2")
UNIFORM_ONLY = ("I1", "I2", "I3", "I4", "I5")
OVERHEAD = "W6"


def make_inputs(T, N, C, S, peaky, dtype, seed=0):
    """Normalised log-probs (T, N, C) and padded targets: lengths drawn from [0.85 T, T] and
    [S / 2, S], the full T always present."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((T, N, C)) * (15.0 if peaky else 1.0)
    lp = logits - logits.max(axis=2, keepdims=True)
    lp = (lp - np.log(np.exp(lp).sum(axis=2, keepdims=True))).astype(dtype)
    il = rng.integers(math.ceil(0.85 * T), T + 1, size=N)
    il[0] = T  # torch sizes its work by T; make sure the full length occurs
    tl = rng.integers(math.ceil(0.5 * S), S + 1, size=N)
    targets = rng.integers(1, C, size=(N, S))
    return logits.astype(dtype), lp, targets, il, tl


# Wall-clock time; --cpu-time switches to the calling thread's CPU time (with one thread each),
# which other processes on a shared machine cannot inflate.
clock = time.perf_counter


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times)


def _hwm_mb():
    with open("/proc/self/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmHWM")).split()[1]) / 1024


def peak_child(name, peaky, dtype, framework):
    """In a fresh process (so no allocator cache hides anything): for forward+backward and
    then (float32) the e2e step, one warm-up call, then the rise of the resident high-water
    mark over a second call, beyond the inputs. Prints MB, and the e2e rise in arrays."""
    inputs = make_inputs(*WORKLOADS[name], peaky, np.dtype(dtype).type)
    # With lucid's buffer cache off, the arrays a call takes are fresh memory, as torch's are;
    # on, the warm-up call's memory would be lent again and the rise would be 0.
    lucid.metal.set_cache_limit(0)
    calls = lucid_calls(*inputs) if framework == "lucid" else torch_calls(*inputs)
    rises = []
    for k in (1, 2) if np.dtype(dtype) == np.float32 else (1,):
        calls[k]()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark to the current resident size
        base = _hwm_mb()
        calls[k]()
        rises.append(_hwm_mb() - base)
    if len(rises) == 2:
        rises[1] /= inputs[0].nbytes / 2**20
    print(" ".join(f"{r:.2f}" for r in rises))


def peak_rss_rise(name, peaky, dtype, framework):
    """peak_child's figures (MB for forward+backward, arrays for e2e or None), or
    (None, None) where /proc cannot be reset or read (not Linux)."""
    cmd = [sys.executable, __file__, "--peak-child", name, str(int(peaky)),
           np.dtype(dtype).name, framework, "--threads", str(lucid.get_num_threads())]
    # A fixed mmap threshold makes glibc map and unmap every large buffer instead of caching
    # it in the heap, so each call's own peak shows in the high-water mark.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        rises = [float(v) for v in done.stdout.split()]
    except ValueError:
        rises = []
    return tuple(rises + [None, None])[:2]


def lucid_calls(logits, lp, targets, il, tl):
    lp_t = lucid.tensor(lp)
    tg, il_l, tl_l = lucid.tensor(targets), lucid.tensor(il), lucid.tensor(tl)

    def forward():
        ctc_loss(lp_t, tg, il_l, tl_l, reduction="sum")

    # Leaves wrap the arrays without copying them, as torch's detach().requires_grad_() does.
    def forward_backward():
        leaf = lucid.Tensor(lp, requires_grad=True)
        ctc_loss(leaf, tg, il_l, tl_l, reduction="sum").backward()

    def end_to_end():
        x = lucid.Tensor(logits, requires_grad=True)
        ctc_loss(log_softmax(x, dim=2), tg, il_l, tl_l, reduction="mean").backward()

    return forward, forward_backward, end_to_end


def torch_calls(logits, lp, targets, il, tl):
    lp_t = torch.from_numpy(lp)
    tg, il_t, tl_t = (torch.from_numpy(a) for a in (targets, il, tl))
    F = torch.nn.functional

    def forward():
        with torch.no_grad():
            F.ctc_loss(lp_t, tg, il_t, tl_t, reduction="sum")

    def forward_backward():
        leaf = lp_t.detach().requires_grad_()
        F.ctc_loss(leaf, tg, il_t, tl_t, reduction="sum").backward()

    def end_to_end():
        x = torch.from_numpy(logits).requires_grad_()
        F.ctc_loss(F.log_softmax(x, dim=2), tg, il_t, tl_t, reduction="mean").backward()

    return forward, forward_backward, end_to_end


def bench_row(name, shape, peaky, dtype, repeats, e2e):
    inputs = make_inputs(*shape, peaky, dtype)
    ours = lucid_calls(*inputs)
    theirs = torch_calls(*inputs) if torch is not None else None
    kinds = [0, 1, 2] if e2e else [0, 1]
    row = {"name": name, "shape": shape, "peaky": peaky, "dtype": np.dtype(dtype).name}
    floor_times = []
    for k in kinds:
        ours[k](), theirs and theirs[k]()  # warm-up
        lt, tt = [], []
        for _ in range(repeats):  # interleave so machine noise hits both alike
            lt.append(median_ms(ours[k], 1))
            if theirs:
                tt.append(median_ms(theirs[k], 1))
            if k == 2:
                floor_times.append(median_ms(lambda: np.full(shape[:3], 0.5, np.float32), 1))
        row[k] = (statistics.median(lt), statistics.median(tt) if theirs else None)
    # the share of samples the fast path handed to log space (forward+backward)
    paths = _branches(lucid.tensor(inputs[1]), *inputs[2:])[2]
    row["log_space"] = sum(not p[0].startswith("fast") for p in paths) / len(paths)
    if floor_times:
        row["passes"] = row[2][0] / statistics.median(floor_times)
    mem_ours = peak_rss_rise(name, peaky, dtype, "lucid")
    mem_theirs = peak_rss_rise(name, peaky, dtype, "torch") if theirs else (None, None)
    row["mem"] = (mem_ours[0], mem_theirs[0])
    row["e2e_mem"] = (mem_ours[1], mem_theirs[1])
    return row


def fmt(x, spec="8.2f"):
    return format(x, spec) if x is not None else "n/a".rjust(int(spec.split(".")[0]))


def print_row(row):
    T, N, C, S = row["shape"]
    name = f"{row['name']} T{T} N{N} C{C} S{S} {'peaky' if row['peaky'] else 'randn'}"
    cells = [f"{name:<34}", f"{row['dtype']:<8}"]
    for k in (0, 1, 2):
        if k not in row:
            cells.append(" " * 28)
            continue
        ours, theirs = row[k]
        ratio = theirs / ours if theirs else None
        cells.append(f"{fmt(ours)} {fmt(theirs)} {fmt(ratio, '7.1f')}x")
    cells.append(fmt(row.get("passes"), "5.1f") if 2 in row else " " * 5)
    m_ours, m_theirs = row["mem"]
    cells.append(f"{fmt(m_ours, '7.1f')} {fmt(m_theirs, '7.1f')}")
    m_ours, m_theirs = row["e2e_mem"]
    cells.append(f"{fmt(m_ours, '4.1f')} {fmt(m_theirs, '4.1f')}" if 2 in row else "")
    cells.append(f"{row['log_space']:9.0%}")
    print(" | ".join(cells), flush=True)


def zero_fill_floor(repeats):
    """W4's floor: allocating and zero-filling a gradient buffer of its shape, median ms."""
    shape = WORKLOADS["W4"][:3]
    return median_ms(lambda: np.full(shape, 0.0, dtype=np.float32), repeats)


def scaling(threads, repeats):
    """Forward+backward time (float32, uniform logits) as one of T, S, C or threads varies."""
    base = dict(T=400, N=32, C=32, S=100)
    sweeps = [("T", [100, 200, 400, 800, 1600]), ("S", [25, 50, 100, 200]),
              ("C", [32, 256, 2048, 8192])]
    print(f"\nscaling: forward+backward ms, float32 randn, base T400 N32 C32 S100, "
          f"{threads} threads unless stated")
    for key, values in sweeps:
        for v in values:
            shape = dict(base, **{key: v})
            _, lp, targets, il, tl = make_inputs(shape["T"], shape["N"], shape["C"], shape["S"],
                                                 False, np.float32)
            ours = lucid_calls(None, lp, targets, il, tl)[1]
            ours()
            print(f"  {key}={v:<6} {median_ms(ours, repeats):8.2f}", flush=True)
    _, lp, targets, il, tl = make_inputs(400, 32, 32, 100, False, np.float32)
    ours = lucid_calls(None, lp, targets, il, tl)[1]
    for n in sorted({1, 2, threads}):
        lucid.set_num_threads(n)
        ours()
        print(f"  threads={n:<2} {median_ms(ours, repeats):8.2f}", flush=True)
    lucid.set_num_threads(threads)


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def summary(rows):
    """The geometric means against torch and the training-step targets, each marked met or not."""
    def verdict(ok):
        return "met" if ok else "MISSED"

    main_rows = [r for r in rows if r["name"] in ("W1", "W2", "W3", "W4", "W5")]
    for k, kind in ((0, "forward"), (1, "forward+backward"), (2, "end-to-end")):
        ratios = [r[k][1] / r[k][0] for r in main_rows if k in r]
        if ratios:
            print(f"geomean torch/lucid over W1-W5, {kind}: {geomean(ratios):.1f}x "
                  f"(min {min(ratios):.1f}x, {len(ratios)} rows)")
    step = [r for r in rows if 2 in r and r["name"] != OVERHEAD]
    print("training-step targets (same-run ratios):")
    if step:
        ratios = {label(r): r[2][1] / r[2][0] for r in step}
        worst = min(ratios, key=ratios.get)
        mean = geomean(list(ratios.values()))
        print(f"  e2e geomean {mean:.1f}x over {len(ratios)} rows (>= 10x: "
              f"{verdict(mean >= 10)}); lowest {ratios[worst]:.1f}x, {worst} (>= 5x: "
              f"{verdict(ratios[worst] >= 5)})")
    large = [r for r in step if r["shape"][2] >= 1000]
    if large:
        worst = max(large, key=lambda r: r["passes"])
        print(f"  e2e for C >= 1000: at most {worst['passes']:.1f} floor passes, {label(worst)} "
              f"(<= 4: {verdict(worst['passes'] <= 4)})")
    for r in rows:
        if r["name"] == OVERHEAD and 2 in r:
            ratio = r[2][1] / r[2][0]
            print(f"  per-call overhead, {label(r)} e2e: {r[2][0]:.3f} ms, torch {r[2][1]:.3f} "
                  f"ms, {ratio:.2f}x (>= 1: {verdict(ratio >= 1)})")
    # for small C the kernel's workspace, O(threads T (2S + 1)) doubles, outweighs an array
    mems = [r["e2e_mem"][0] for r in large if r["e2e_mem"][0] is not None]
    if mems:
        print(f"  e2e peak beyond the logits for C >= 1000: at most {max(mems):.2f} (T, N, C) "
              f"arrays (log_probs + one gradient = 2: {verdict(max(mems) <= 2.1)})")
    leaf = [r[1][1] / r[1][0] for r in main_rows]
    if leaf:
        print(f"  forward+backward on a leaf over W1-W5: geomean {geomean(leaf):.1f}x "
              f"(>= 10x: {verdict(geomean(leaf) >= 10)})")


def label(row):
    T, N, C, S = row["shape"]
    kind = "peaky" if row["peaky"] else "randn"
    return f"{row['name']} T{T} N{N} C{C} S{S} {kind}" + (
        "" if row["dtype"] == "float32" else f" {row['dtype']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: W1, W6 and I4, 2 repeats, no scaling table")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time CPU seconds of one thread each instead of wall-clock time "
                             "(for a busy machine; implies --threads 1)")
    parser.add_argument("--only", nargs="*", help="workload names to run, e.g. W1 I4")
    parser.add_argument("--peak-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_time:
        global clock
        clock = time.thread_time
        args.threads = 1

    lucid.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    if args.peak_child:
        name, peaky, dtype, framework = args.peak_child
        return peak_child(name, peaky == "1", dtype, framework)
    repeats = 2 if args.quick else args.repeats
    names = args.only or (["W1", "W6", "I4"] if args.quick else list(WORKLOADS))

    print(f"machine: {platform.machine()} {platform.processor() or ''}, cpus={os.cpu_count()}, "
          f"threads={args.threads}, OpenMP={lucid._C.openmp_enabled()}, "
          f"torch={torch.__version__ if torch else 'not installed'}, repeats={repeats}, "
          f"{'CPU time of one thread' if args.cpu_time else 'wall-clock time'}")
    print(f"{'workload':<34} | {'dtype':<8} | {'forward ms: lucid torch ratio':<28} | "
          f"{'fwd+bwd ms: lucid torch ratio':<28} | {'e2e ms: lucid torch ratio':<28} | "
          f"floor | fwd+bwd peak MB | e2e peak arrays | log space")
    rows = []
    for name in names:
        dtypes = [np.float32] + ([np.float64] if name in FLOAT64_WORKLOADS and not args.quick
                                 else [])
        for dtype in dtypes:
            for peaky in (False,) if name in UNIFORM_ONLY else (False, True):
                row = bench_row(name, WORKLOADS[name], peaky, dtype, repeats,
                                e2e=dtype == np.float32)
                rows.append(row)
                print_row(row)
    if "W4" in names:
        floor = zero_fill_floor(repeats)
        w4 = [r[1][0] for r in rows if r["name"] == "W4"]
        print(f"W4 floor: np.full of its (T, N, C) float32 gradient takes {floor:.2f} ms; "
              f"lucid forward+backward is {max(w4) / floor:.1f}x that (worst logit kind)")
    if torch is not None:
        summary(rows)
    if not args.quick:
        scaling(args.threads, repeats)


if __name__ == "__main__":
    main()
