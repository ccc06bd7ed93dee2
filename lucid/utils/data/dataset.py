"""Datasets: what a DataLoader reads samples from, and the ways to combine and split them.

A map-style :class:`Dataset` has ``__getitem__(index)`` and ``__len__``; an
:class:`IterableDataset` has ``__iter__`` and decides its own order. Names and behaviour are
``torch.utils.data``'s (and lucid 3's).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from lucid._random import Generator, resolve
from lucid._tensor import Tensor, expect_tensor


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__``.
    ``a + b`` is ``ConcatDataset([a, b])``.

    >>> from lucid.utils.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return i * i
    >>> ds = Squares()
    >>> len(ds), ds[3]
    (4, 9)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``. A DataLoader batches what
    it yields, in its order (no sampler, no shuffling)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension: item i is
    ``tuple(t[i] for t in tensors)``.

    >>> import lucid
    >>> from lucid.utils.data import TensorDataset
    >>> ds = TensorDataset(lucid.arange(3), lucid.tensor([0.5, 1.5, 2.5]))
    >>> len(ds), ds[1]
    (3, (Tensor(1, dtype=lucid.int64), Tensor(1.5)))
    """

    def __init__(self, *tensors: Tensor) -> None:
        for i, t in enumerate(tensors):
            expect_tensor(t, "TensorDataset", f"tensors[{i}]")
        sizes = {t.shape[0] if t.ndim else None for t in tensors}
        if not tensors or len(sizes) != 1 or None in sizes:
            raise ValueError(f"TensorDataset: expected one or more tensors with the same size "
                             f"of dimension 0, got shapes {[t.shape for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: datasets[{i}] is an IterableDataset; only "
                                f"map-style datasets can be concatenated")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length "
                                 f"{len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer lengths summing to n: given as such, or as fractions of n summing to 1 (each
    floor(n * fraction), the remainder handed out one by one from the first, as PyTorch)."""
    lengths = list(lengths)
    fractions = math.isclose(sum(lengths), 1) and sum(lengths) <= 1
    if fractions and all(0 <= f <= 1 for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    if any(isinstance(x, bool) or int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths must be counts summing to the dataset's length "
                         f"({n}) or fractions summing to 1, got {lengths}")
    return [int(x) for x in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` at random into :class:`Subset` of the given ``lengths`` (counts, or
    fractions summing to 1). The permutation comes from ``generator`` or the default
    generator, so :func:`lucid.manual_seed` fixes it.

    >>> import lucid
    >>> from lucid.utils.data import random_split
    >>> train, val = random_split(range(10), [0.8, 0.2], generator=lucid.Generator(0))
    >>> len(train), len(val), sorted(list(train) + list(val)) == list(range(10))
    (8, 2, True)
    """
    counts = split_lengths(len(dataset), lengths)
    order = resolve(generator, "random_split").permutation(len(dataset)).tolist()
    bounds = np.cumsum([0] + counts).tolist()
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds, bounds[1:])]
