"""What the decoders' input checks cost, next to the decoding they guard.

    python benchmarks/bench_checks.py > docs/checks_benchmark_results.txt

The checks of docs/decoding.rst ("Bad input"): the NaN / +inf check, one reduction over the
array (greedy decoding reduces only the values its argmax picked, so the whole-array check
here is the dearer case), and the LogProbsWarning check, which looks at frame 0 of the first
samples only. Each is timed on normalised random log-probabilities, beside greedy_decode and
beam_search_decode (beam 16, no LM) on the same input: median wall time per call, one thread.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import lucid
from lucid.ctc import beam_search_decode, greedy_decode
from lucid.nn.functional._ctc_checks import check_no_nan, warn_if_not_log_probs

SHAPES = [(371, 1, 29), (3710, 1, 29), (500, 16, 1024)]  # (T, N, C)


def median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def log_probs(T: int, N: int, C: int) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((T, N, C)).astype(np.float32) * 3
    x -= x.max(axis=2, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=2, keepdims=True))


def row(T: int, N: int, C: int) -> str:
    lp = log_probs(T, N, C)
    il = np.full(N, T, dtype=np.int64)
    batch_first = lucid.tensor(np.ascontiguousarray(lp.transpose(1, 0, 2)))
    lengths = [T] * N
    nan = median_seconds(lambda: check_no_nan(lp, il, False, "bench"), 201)
    warn = median_seconds(lambda: warn_if_not_log_probs(lp, il, "bench"), 201)
    greedy = median_seconds(lambda: greedy_decode(batch_first, lengths), 21)
    beam = median_seconds(lambda: beam_search_decode(batch_first, lengths, beam_width=16),
                          5 if N * T * C > 10**6 else 21)
    return (f"{str((T, N, C)):>18} | {nan * 1e6:>8.1f}us {warn * 1e6:>8.1f}us | "
            f"{greedy * 1e3:>8.3f}ms {beam * 1e3:>8.2f}ms")


def main() -> None:
    lucid.set_num_threads(1)
    print(f"{'(T, N, C)':>18} | {'NaN check':>10} {'warning':>10} | {'greedy':>10} "
          f"{'beam 16':>10}")
    for shape in SHAPES:
        print(row(*shape))


if __name__ == "__main__":
    main()
