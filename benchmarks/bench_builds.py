"""The default (portable) build against a -march=native one, side by side, PyTorch as yardstick.

    python benchmarks/bench_builds.py            # builds both (a minute or two), then the table
    python benchmarks/bench_builds.py --quick    # smoke run: W1 only, 3 repeats, no claims
    python benchmarks/bench_builds.py --reuse    # keep the builds of an earlier run

Each build is installed with pip into its own folder under build/bench-builds/ (the default
one as a user gets it; the other with LUCID_NATIVE=1) and imported by its own worker process;
a third worker runs the default build with LUCID_DISPATCH=baseline, which is what a CPU without
AVX2/FMA gets.
The driver asks the workers for one timed call at a time, alternating them (and a PyTorch call
when PyTorch is installed), so machine noise hits all alike; every cell is the median over the
repeats of bench_ctc.py's calls on bench_ctc.py's workloads: forward+backward (to a log_probs
leaf) and end to end (logits -> log_softmax -> ctc_loss -> backward).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench-builds"
BUILDS = {"default": {}, "native": {"LUCID_NATIVE": "1"}}
OPS = {"fwd+bwd": 1, "e2e": 2}  # index into bench_ctc's (forward, forward_backward, end_to_end)


def install(name, env_extra):
    """pip-install this source tree into OUT/name, built with env_extra set; return the folder."""
    target = OUT / name
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), "--upgrade", str(ROOT)],
                   env={**os.environ, **env_extra}, check=True)
    return target


class Worker:
    """A process that imports one build (or PyTorch) and times one call per request."""

    def __init__(self, site, framework, threads, env_extra=None):
        env = {**os.environ, "PYTHONPATH": str(site), **(env_extra or {})}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", framework, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=OUT)
        self.info = self.ask({"cmd": "info"})

    def ask(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def worker_main(framework, threads):
    """Answer requests on stdin: "info", "setup" (inputs, a warm-up call), "time" (one call, ms)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_ctc

    import lucid

    lucid.set_num_threads(threads)
    if framework == "torch":
        bench_ctc.torch.set_num_threads(threads)
    calls = bench_ctc.torch_calls if framework == "torch" else bench_ctc.lucid_calls
    fn = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "info":
            reply = {"lucid": lucid.__file__, "config": lucid._C.build_config()}
        elif request["cmd"] == "setup":
            shape = bench_ctc.WORKLOADS[request["workload"]]
            inputs = bench_ctc.make_inputs(*shape, request["peaky"], bench_ctc.np.float32)
            fn = calls(*inputs)[request["op"]]
            fn()
            reply = {}
        else:
            t0 = time.perf_counter()
            fn()
            reply = {"ms": (time.perf_counter() - t0) * 1e3}
        print(json.dumps(reply), flush=True)


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="W1 only, 3 repeats")
    parser.add_argument("--reuse", action="store_true", help="keep earlier builds if present")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="workload names, e.g. W1 W4")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker, args.threads)

    sites = {}
    for name, env_extra in BUILDS.items():
        site = OUT / name
        if not (args.reuse and (site / "lucid").is_dir()):
            t0 = time.perf_counter()
            install(name, env_extra)
            print(f"built {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        sites[name] = site
    workers = {name: Worker(site, "lucid", args.threads) for name, site in sites.items()}
    workers["baseline"] = Worker(sites["default"], "lucid", args.threads,
                                 {"LUCID_DISPATCH": "baseline"})
    try:
        import torch  # noqa: F401
        workers["torch"] = Worker(sites["default"], "torch", args.threads)
    except ImportError:
        pass
    for name, w in workers.items():
        if name != "torch":
            config = w.info["config"]
            print(f"{name}: {w.info['lucid']}\n    dispatch {config['dispatch']}, "
                  f"flags {' '.join(config['flags'])}")

    repeats = 3 if args.quick else args.repeats
    names = args.only or (["W1"] if args.quick else ["W1", "W2", "W3", "W4", "W5"])
    print(f"\nfloat32, {args.threads} threads, median of {repeats} interleaved calls, ms")
    print(f"{'workload':<14} {'op':<8} {'default':>8} {'native':>8} {'baseline':>8}"
          f" {'def/nat':>8} {'base/nat':>8} {'torch':>8} {'torch/def':>9} {'torch/nat':>9}")
    ratios = {(op, k): [] for op in OPS for k in ("default", "baseline")}
    for name in names:
        for peaky in (False, True):
            for op, index in OPS.items():
                for w in workers.values():
                    w.ask({"cmd": "setup", "workload": name, "peaky": peaky, "op": index})
                times = {k: [] for k in workers}
                order = list(workers)
                for r in range(repeats):
                    for k in order[r % len(order):] + order[:r % len(order)]:
                        times[k].append(workers[k].ask({"cmd": "time"})["ms"])
                med = {k: statistics.median(v) for k, v in times.items()}
                for k in ("default", "baseline"):
                    ratios[op, k].append(med[k] / med["native"])
                torch_cells = (f" {med['torch']:8.2f} {med['torch'] / med['default']:8.1f}x"
                               f" {med['torch'] / med['native']:8.1f}x" if "torch" in med else "")
                label = f"{name} {'peaky' if peaky else 'randn'}"
                print(f"{label:<14} {op:<8} {med['default']:8.2f} {med['native']:8.2f}"
                      f" {med['baseline']:8.2f} {med['default'] / med['native']:8.2f}"
                      f" {med['baseline'] / med['native']:8.2f}{torch_cells}", flush=True)
    for (op, k), values in ratios.items():
        print(f"geomean {k}/native time, {op}: {geomean(values):.3f} "
              f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} rows)")
    for w in workers.values():
        w.close()


if __name__ == "__main__":
    main()
