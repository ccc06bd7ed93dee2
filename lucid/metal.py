"""lucid.metal: the memory functions of lucid 3's ``lucid.metal``.

Here "metal" is a device tag and every kernel runs on the CPU, so these act on the one cache
lucid-ctc keeps, which serves both tags: large arrays the kernels write (log_softmax's output,
the CTC gradient) are lent from it, and their memory is kept when they are dropped, for the next
training step (see lucid/_buffers.py for why). As in lucid, whose Metal side keeps MLX's cache,
:func:`empty_cache` gives the kept memory back to the system.
"""

from __future__ import annotations

from lucid import _buffers

__all__ = ["empty_cache", "get_cache_memory", "set_cache_limit"]


def empty_cache() -> None:
    """Give the memory of cached arrays that nothing uses any more back to the system.

    Arrays still in use are untouched; their memory is freed when their last user drops it.

    >>> import lucid
    >>> lucid.metal.empty_cache()
    >>> lucid.metal.get_cache_memory()
    0
    """
    _buffers.clear()


def get_cache_memory() -> int:
    """Bytes the cache keeps for later arrays: memory no array uses, not yet given back."""
    return _buffers.cached_bytes()


def set_cache_limit(limit: int) -> int:
    """Keep at most ``limit`` bytes of unused memory in the cache; returns the previous limit.

    The default is 1 GiB. The limit is applied when the next
    large array is asked for: arrays dropped since may leave more in the cache until then
    (:func:`get_cache_memory` counts it, :func:`empty_cache` gives it back). ``0`` turns the
    cache off: every array gets fresh memory, as from ``numpy.empty``. The name and meaning
    are MLX's ``set_cache_limit`` (lucid 3 itself has none). Raises TypeError for a non-int
    and ValueError for a negative limit.
    """
    return _buffers.set_limit(limit)
