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

Who owns what:

a. A free block (a 1-d uint8 array) is owned by the cache: it sits in ``_free`` and nothing
   else refers to it.
b. A lent block is owned by a :class:`_Lease`. The array handed out is made from the lease
   (numpy keeps the object an array was made from as its base, and every view of that array
   keeps the array, or the lease itself, alive), so the lease lives exactly as long as some
   array can reach the block's memory, however the views were made. The cache keeps no
   reference to a lent block.
c. When the last such array goes, Python frees the lease, and its ``__del__`` hands the block
   back: it is appended to ``_returned``, without the lock (a lease can be freed anywhere,
   even inside the cache's own code, by a finaliser the garbage collector runs there). The
   next request, under the lock, moves returned blocks to ``_free``.

So memory is lent again only after numpy has freed every array that used it: no reference is
counted, and a debugger, a profiler or another Python version can delay the return of a block
(by holding an array longer) but never make a block in use look free.
"""

from __future__ import annotations

import math
import threading

import numpy as np

MIN_BYTES = 1 << 20  # smaller arrays: the C library reuses their memory well enough
MAX_FREE_BLOCKS = 64  # free blocks kept at most, whatever their bytes
CLASS_BITS = 3  # 2^3 block sizes per doubling, 2^k (1 + j/8): a new block is <= 12.5% too big
# A free block serves requests of its size class and of the classes up to a quarter below:
# with varying sequence lengths, an exact class alone missed one request in seven.
REUSE_SLACK = 1.25

_lock = threading.Lock()  # two threads must not both take the same free block
_inside = threading.local()  # .held: this thread holds _lock (see _locked)
_free: list[np.ndarray] = []  # blocks no array uses, oldest first (a.)
_returned: list[np.ndarray] = []  # blocks handed back since the last request (c.)
_limit = 1 << 30  # bytes of free blocks kept at most; 0 turns the cache off


class _Lease:
    """Owns one lent block (b.): the arrays lent from it are made from this object, and its
    ``__del__`` hands the block back once Python has freed every one of them (c.)."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block: np.ndarray) -> None:
        self.block = block
        self.__array_interface__ = {"shape": block.shape, "typestr": "|u1", "version": 3,
                                    "data": (block.ctypes.data, False)}

    def __del__(self) -> None:
        # list.append is atomic (under the GIL, and in free-threaded builds too): no lock, so
        # a lease freed while this thread holds the lock cannot wait for itself
        if _limit:
            _returned.append(self.block)


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


def _capacity(nbytes: int) -> int:
    """The block size for a request of nbytes: the next size class up."""
    step = 1 << max(nbytes.bit_length() - 1 - CLASS_BITS, 0)
    return -(-nbytes // step) * step


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.empty(shape, dtype), C-contiguous, its memory from the cache when it is large."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES or not _limit:
        return np.empty(shape, dtype)
    with _locked() as entered:
        if not entered:  # a finaliser run inside the cache's own code: plain memory
            return np.empty(shape, dtype)
        block = _take(_capacity(nbytes))
    lent = np.asarray(_Lease(block))  # the only reference to the lease is the array's (b.)
    return lent[:nbytes].view(dtype).reshape(shape)


def _take(capacity: int) -> np.ndarray:
    """The smallest free block of this capacity up to REUSE_SLACK times it, else a new one;
    the other free blocks are first evicted, oldest first, down to _limit bytes. Under _lock."""
    _collect()
    fits = [block for block in _free if capacity <= block.nbytes <= capacity * REUSE_SLACK]
    found = min(fits, key=lambda block: block.nbytes) if fits else None
    if found is not None:
        _free[:] = [block for block in _free if block is not found]  # by identity
    _evict(_limit)  # before a new block takes memory: the two are never held at once
    return np.empty(capacity, np.uint8) if found is None else found


def _collect() -> None:
    """Move the blocks handed back since the last call to _free. Under _lock."""
    while _returned:
        _free.append(_returned.pop(0))


def _evict(limit: int) -> None:
    """Drop the oldest free blocks until the rest hold at most limit bytes and number at most
    MAX_FREE_BLOCKS: numpy frees them. Under _lock."""
    kept, keep = 0, []
    for block in reversed(_free):  # newest first
        kept += block.nbytes
        if kept <= limit and len(keep) < MAX_FREE_BLOCKS:
            keep.append(block)
    _free[:] = keep[::-1]


def cached_bytes() -> int:
    """Bytes of free blocks the cache keeps for later requests."""
    with _locked() as entered:
        _refuse_reentry(entered, "get_cache_memory")
        _collect()
        return sum(block.nbytes for block in _free)


def clear() -> None:
    """Give every free block back. Blocks in use stay lent; when their users drop them, they
    are kept again, up to the limit."""
    with _locked() as entered:
        _refuse_reentry(entered, "empty_cache")
        _collect()
        _evict(0)


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
        _collect()
        _evict(_limit)
    return previous
