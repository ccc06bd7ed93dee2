"""The thread count the compiled kernels use (like torch.set_num_threads)."""

from __future__ import annotations

from lucid import _C

_num_threads: int | None = None


def set_num_threads(n: int) -> None:
    """Use ``n`` OpenMP threads in lucid's kernels.

    The default is OpenMP's own, which honours OMP_NUM_THREADS.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """The number of threads lucid's kernels will ask for."""
    return _num_threads if _num_threads is not None else _C.max_threads()
