"""A cache of large array buffers, lent again from one training step to the next.

Why: a training step allocates the same few large arrays every time (log_softmax's output,
the gradients). The C library hands large allocations straight to the operating system and
takes them back when they are freed (glibc: above its mmap threshold, 32 MiB at most; below
it, when the freed memory at the top of the heap grows past twice that), so such a step gets
fresh pages every time and pays a page fault for each and the zeroing of each: for a
large-vocabulary step, as much time as the kernels themselves. The kernels' output arrays
therefore come from here, and their memory is kept after their last user drops them, for the
next request of about the same size: the cache real lucid keeps on its Metal side (MLX's).
``lucid.metal.empty_cache()`` gives the kept memory back; ``lucid.metal.set_cache_limit()``
bounds it (0 turns the cache off).

How a block is known to be free: the cache holds one reference to each of its blocks (a 1-d
uint8 array), and every array lent from a block is a view of it, so it holds another (numpy
points a view of a view at the memory's owner). A block whose reference count is the cache's
own is free: nothing else can reach its memory. No finaliser is needed, and a block stays
lent for as long as any view of it lives, however it was made.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 20  # smaller arrays: the C library reuses their memory well enough
MAX_BLOCKS = 64  # blocks tracked at most; beyond, lent blocks are forgotten (left to numpy)
CLASS_BITS = 3  # 2^3 block sizes per doubling, 2^k (1 + j/8): a new block is <= 12.5% too big
# A free block serves requests of its size class and of the classes up to a quarter below:
# with varying sequence lengths, an exact class alone missed one request in seven.
REUSE_SLACK = 1.25

_lock = threading.Lock()  # two threads must not both take the same free block
_inside = threading.local()  # .held: this thread holds _lock (see _locked)
_blocks: list[np.ndarray] = []  # every block the cache holds, oldest first
_ids: set[int] = set()  # id() of each of them, for holds()
# bytes of free blocks kept at most; none under a free-threaded Python, whose reference counts
# other threads' references may leave uncounted (a lent block could then pass for free)
_limit = (1 << 30) if getattr(sys, "_is_gil_enabled", lambda: True)() else 0


def _counts(blocks: list[np.ndarray]) -> list[int]:
    """sys.getrefcount of each block, always taken the same way, so that it compares with
    _FREE (what it gives for a block held by the list alone). map leaves no block in a local
    variable, where a profiler reading frame.f_locals would hold one more reference to it (each
    free block would then look lent)."""
    return list(map(sys.getrefcount, blocks))


def untraced(measure):
    """measure(), with no trace or profile function in this thread: one that reads
    frame.f_locals (a debugger, a profiler logging arguments) makes frames hold references to
    their locals before Python 3.13, and a baseline measured under it would come out too high
    (memory in use would then pass for free). Later counts under it only come out higher:
    memory is lent less, never more."""
    trace, profile = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        return measure()
    finally:
        sys.setprofile(profile)
        sys.settrace(trace)


# measured: it differs between Python versions
_FREE = untraced(lambda: _counts([np.empty(1, np.uint8)])[0])


def _free(blocks: list[np.ndarray]) -> list[np.ndarray]:
    """The blocks nothing but the cache holds, in the list's order."""
    return [block for block, count in zip(blocks, _counts(blocks)) if count == _FREE]


def _capacity(nbytes: int) -> int:
    """The block size for a request of nbytes: the next size class up."""
    step = 1 << max(nbytes.bit_length() - 1 - CLASS_BITS, 0)
    return -(-nbytes // step) * step


class _locked:
    """``with _locked() as entered:`` holds _lock; entered is False, and the lock is not
    taken, when this thread already holds it: the garbage collector can run a finaliser (or
    Python a signal handler) in the middle of the cache's own code, and a finaliser that
    makes a large array would otherwise wait for itself forever."""

    def __enter__(self) -> bool:
        if getattr(_inside, "held", False):
            self.entered = False
            return False
        _lock.acquire()
        _inside.held = self.entered = True
        return True

    def __exit__(self, *exc) -> None:
        if self.entered:
            _inside.held = False
            _lock.release()


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.empty(shape, dtype), C-contiguous, its memory from the cache when it is large."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _locked() as entered:  # the limit too is read under it: another thread may turn
        # the cache off; re-entered (a finaliser run in here), plain memory
        block = _take(_capacity(nbytes)) if entered and _limit else None
    if block is None:
        return np.empty(shape, dtype)
    return block[:nbytes].view(dtype).reshape(shape)


def _take(capacity: int) -> np.ndarray:
    """The smallest free block of this capacity up to REUSE_SLACK times it (a new one if
    none); the other free blocks are first evicted, oldest first, until they hold at most
    _limit bytes."""
    free = _free(_blocks)
    fits = [block for block in free if capacity <= block.nbytes <= capacity * REUSE_SLACK]
    found = min(fits, key=lambda block: block.nbytes) if fits else None
    del fits
    _evict([block for block in free if block is not found], _limit)
    del free  # the evicted blocks go now, before a new block takes memory
    if found is None:
        found = np.empty(capacity, np.uint8)
        _blocks.append(found)
        _ids.add(id(found))
    while len(_blocks) > MAX_BLOCKS:
        _forget(_blocks[0])
    return found


def _evict(free: list[np.ndarray], limit: int) -> None:
    """Forget the oldest of the free blocks until the rest hold at most limit bytes."""
    kept = 0
    for block in reversed(free):  # newest first
        kept += block.nbytes
        if kept > limit:
            _forget(block)


def _forget(block: np.ndarray) -> None:
    """Drop the cache's reference: numpy frees the block when its last view goes."""
    _ids.discard(id(block))  # before the reference goes: see holds()
    _blocks[:] = [b for b in _blocks if b is not block]  # by identity: == compares arrays


def holds(array: np.ndarray) -> bool:
    """Whether ``array`` is one of the cache's blocks (it then holds one reference more).

    Read without the lock, after counting the block's references (autograd does): a block
    therefore leaves _ids before the cache drops its reference, so that a count taken in
    between still includes the reference a True answer subtracts.
    """
    return id(array) in _ids  # a live array's id is its own: a forgotten block left _ids


def cached_bytes() -> int:
    """Bytes of free blocks the cache keeps for later requests."""
    with _locked() as entered:
        _refuse_reentry(entered, "get_cache_memory")
        return sum(block.nbytes for block in _free(_blocks))


def clear() -> None:
    """Give every free block back. Blocks in use stay lent; when their users drop them, they
    are kept again, up to the limit."""
    with _locked() as entered:
        _refuse_reentry(entered, "empty_cache")
        _evict(_free(_blocks), 0)


def _refuse_reentry(entered: bool, name: str) -> None:
    if not entered:
        raise RuntimeError(f"lucid.metal.{name}: called from a finaliser or signal handler "
                           f"that interrupted the buffer cache itself; call it elsewhere")


def set_limit(limit: int) -> int:
    """Keep at most ``limit`` bytes of free blocks (0: cache nothing); the previous limit."""
    global _limit
    if isinstance(limit, (bool, np.bool_)) or not isinstance(limit, (int, np.integer)):
        raise TypeError(f"set_cache_limit: limit must be an int, got {type(limit).__name__} "
                        f"{limit!r}")
    if limit < 0:
        raise ValueError(f"set_cache_limit: limit must be >= 0 bytes, got {limit}")
    with _locked() as entered:
        _refuse_reentry(entered, "set_cache_limit")
        previous, _limit = _limit, int(limit)
        if _limit == 0:  # lent blocks too: nothing is kept for later
            _ids.clear()  # before the references go: see holds()
            _blocks.clear()
        else:
            _evict(_free(_blocks), _limit)
    return previous
