"""Samplers: the order in which a DataLoader visits a map-style dataset's indices.

Random samplers draw from their ``generator`` (a :class:`lucid.Generator`) or else from the
default generator that :func:`lucid.manual_seed` seeds, afresh at each pass, so each epoch is
shuffled differently and a seeded run repeats exactly. The orders are our own: the same seed
does not give PyTorch's permutation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from lucid._random import Generator, resolve


def _count(value: Any, name: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class Sampler:
    """Base class: subclasses define ``__iter__`` (yielding indices) and usually ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random order of the indices at every pass: a permutation (repeated, each
    permutation new, when ``num_samples`` exceeds the length), or with ``replacement``
    ``num_samples`` independent uniform draws.

    >>> import lucid
    >>> from lucid.utils.data import RandomSampler
    >>> sorted(RandomSampler(range(5), generator=lucid.Generator(0)))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be True or False, got "
                            f"{replacement!r}")
        if num_samples is not None:
            _count(num_samples, "num_samples", "RandomSampler")
        resolve(generator, "RandomSampler")  # refuse a wrong type now, not at the first pass
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator

    @property
    def num_samples(self) -> int:
        """Indices per pass: ``num_samples`` if given, else the dataset's length."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        rng, n, wanted = resolve(self.generator, "RandomSampler"), len(self.data_source), \
            self.num_samples
        if self.replacement:
            return iter(rng.integers(0, n, size=wanted).tolist())
        rounds = -(-wanted // n) if n else 0
        order = [i for _ in range(rounds) for i in rng.permutation(n).tolist()]
        return iter(order[:wanted])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a fresh random order at every pass."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        resolve(generator, "SubsetRandomSampler")
        self.indices, self.generator = indices, generator

    def __iter__(self) -> Iterator[int]:
        order = resolve(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        return (self.indices[i] for i in order.tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (with
    replacement, or without: then no index twice)."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights,
                       dtype=np.float64)
        if w.ndim != 1 or not len(w) or not np.isfinite(w).all() or (w < 0).any() \
                or not w.sum() > 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-D sequence "
                             f"of finite numbers >= 0, not all 0, got {weights!r}")
        _count(num_samples, "num_samples", "WeightedRandomSampler")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: without replacement num_samples "
                             f"({num_samples}) cannot exceed the {np.count_nonzero(w)} "
                             f"indices of non-zero weight")
        resolve(generator, "WeightedRandomSampler")
        self.weights, self.num_samples = w, int(num_samples)
        self.replacement, self.generator = replacement, generator

    def __iter__(self) -> Iterator[int]:
        rng = resolve(self.generator, "WeightedRandomSampler")
        picks = rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return iter(picks.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``; the last, shorter one is
    kept unless ``drop_last``.

    >>> from lucid.utils.data import BatchSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler | Sequence[int], batch_size: int,
                 drop_last: bool) -> None:
        self.batch_size = _count(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be True or False, got {drop_last!r}")
        self.sampler, self.drop_last = sampler, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
