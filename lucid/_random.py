"""Random generators: :class:`Generator`, and the default one behind every random op.

Every random draw in lucid (``randn``, ``rand``, ``randint``, ``randperm``, dropout masks,
layer initialisation, ``DataLoader`` shuffling, ``random_split``) comes from one generator:
the one passed as ``generator=``, or else the default one that :func:`manual_seed` seeds. A
generator is NumPy's PCG64 behind lucid 3's (and PyTorch's) methods; ``manual_seed(s)`` gives
the stream of ``numpy.random.default_rng(s)``.
"""

from __future__ import annotations

import os

import numpy as np

_SEED_LIMIT = 2**64  # lucid 3 and PyTorch take 64-bit seeds
_STATE_WORDS = 6  # PCG64's state, increment (two 64-bit halves each), has_uint32, uinteger


def _check_seed(seed: object, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < _SEED_LIMIT:
        raise ValueError(f"{where}: seed must be an int in [0, 2**64), got {seed!r}")
    return int(seed)


class Generator:
    """A source of random numbers with its own state, for ops that take ``generator=``.

    ``Generator(seed)`` starts seeded; ``Generator()`` draws its seed from the operating
    system. Two generators with the same seed give the same draws.

    >>> import lucid
    >>> g = lucid.Generator().manual_seed(7)
    >>> a = lucid.randn(3, generator=g)
    >>> b = lucid.randn(3, generator=g.manual_seed(7))
    >>> bool((a == b).all()), g.initial_seed()
    (True, 7)
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            self.seed()
        else:
            self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed``; returns the generator itself."""
        self._seed = _check_seed(seed, "manual_seed")
        self._rng = np.random.default_rng(self._seed)
        return self

    def set_seed(self, seed: int) -> None:
        """lucid 3's name for :meth:`manual_seed`."""
        self.manual_seed(seed)

    def seed(self) -> int:
        """Reseed from the operating system's entropy and return the seed used."""
        seed = int.from_bytes(os.urandom(8), "little") >> 1  # 63 bits: fits a signed int64
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return self._seed

    def get_state(self) -> np.ndarray:
        """The full state as 6 int64 values, for :meth:`set_state` (to checkpoint a run)."""
        state = self._rng.bit_generator.state
        words = []
        for big in (state["state"]["state"], state["state"]["inc"]):
            words += [big >> 64, big & (2**64 - 1)]
        words += [state["has_uint32"], state["uinteger"]]
        return np.array(words, dtype=np.uint64).view(np.int64)

    def set_state(self, state: object) -> None:
        """Continue from a state returned by :meth:`get_state`."""
        words = np.asarray(state)
        if words.shape != (_STATE_WORDS,) or words.dtype != np.int64:
            raise ValueError(f"set_state: expected {_STATE_WORDS} int64 values from get_state(), "
                             f"got dtype {words.dtype} and shape {words.shape}")
        w = [int(v) for v in words.view(np.uint64)]
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
            "has_uint32": w[4], "uinteger": w[5],
        }

    def numpy(self) -> np.random.Generator:
        """The NumPy generator the draws come from (shared, not a copy)."""
        return self._rng

    def __repr__(self) -> str:
        return f"<lucid.Generator seed={self._seed}>"


default_generator = Generator()


def resolve(generator: Generator | None, where: str) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s, or the default one's."""
    if generator is None:
        return default_generator._rng
    if not isinstance(generator, Generator):
        raise TypeError(f"{where}: generator must be a lucid.Generator or None, got "
                        f"{type(generator).__name__} (make one with "
                        f"lucid.Generator().manual_seed(seed))")
    return generator._rng


def manual_seed(seed: int) -> None:
    """Seed the default generator: random factories, dropout, layer initialisation, DataLoader
    shuffling and ``random_split`` then repeat from run to run. Returns None, as lucid 3's
    (PyTorch's returns the generator).

    >>> import lucid
    >>> lucid.manual_seed(0)
    >>> a = lucid.rand(2)
    >>> lucid.manual_seed(0)
    >>> bool((lucid.rand(2) == a).all())
    True
    """
    default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed, so a
    run can be repeated later with ``manual_seed(seed)``."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator last started from (by :func:`manual_seed` or
    :func:`seed`; at import, a seed drawn from the operating system)."""
    return default_generator.initial_seed()
