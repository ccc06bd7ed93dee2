"""The thread count the compiled kernels use (like torch.set_num_threads)."""

from __future__ import annotations

import numpy as np

from lucid import _C

# The most threads lucid asks OpenMP for: far above any core count, far below the point where
# the OpenMP runtime itself fails (it aborts the process rather than raising).
MAX_THREADS = 1024

_num_threads: int | None = None


def set_num_threads(n: int) -> None:
    """Use ``n`` OpenMP threads in lucid's kernels.

    ``n`` is an int (Python or numpy) in [1, 1024]. The default is OpenMP's own, which honours
    OMP_NUM_THREADS.
    """
    global _num_threads
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be in [1, {MAX_THREADS}], got {n}")
    _num_threads = int(n)


def get_num_threads() -> int:
    """The number of threads lucid's kernels will ask for."""
    return _num_threads if _num_threads is not None else _C.max_threads()
