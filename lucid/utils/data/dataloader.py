"""DataLoader: batches from a dataset, in the order a sampler gives, through a collate_fn.

Everything runs in the calling process: ``num_workers`` must be 0 (lucid 3 and PyTorch can
start worker processes; here loading a batch is a function call in the loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lucid._random import Generator
from lucid.utils.data.collate import default_collate, default_convert
from lucid.utils.data.dataset import IterableDataset
from lucid.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Parameters
    ----------
    dataset : Dataset or IterableDataset
        Map-style (indexed, with a length) or iterable.
    batch_size : int or None, default 1
        Samples per batch. None turns batching off: each sample is yielded alone, passed
        through ``collate_fn`` (default :func:`default_convert`).
    shuffle : bool, default False
        Visit the samples in a new random order every epoch (a :class:`RandomSampler`).
    sampler : Sampler or iterable of indices, optional
        The order of the indices instead; excludes ``shuffle``.
    batch_sampler : Sampler or iterable of lists of indices, optional
        Whole batches of indices instead; excludes ``batch_size``, ``shuffle``, ``sampler``
        and ``drop_last``.
    num_workers : int, default 0
        Must be 0: batches are loaded in this process.
    collate_fn : callable, optional
        Turns a list of samples into a batch; default :func:`default_collate`. For sequences
        of different lengths, pad them here (:func:`lucid.nn.utils.rnn.pad_sequence`).
    pin_memory : bool, default False
        Accepted and ignored (there is no GPU memory to pin for).
    drop_last : bool, default False
        Drop the last batch when it is smaller than ``batch_size``.
    generator : lucid.Generator, optional
        What shuffling draws from; by default the generator :func:`lucid.manual_seed` seeds.

    Examples
    --------
    >>> import lucid
    >>> from lucid.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(lucid.arange(5), lucid.arange(5) * 10)
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 10], [20, 30], [40]]
    >>> lucid.manual_seed(0)
    >>> len(DataLoader(ds, batch_size=2, shuffle=True, drop_last=True))
    2
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | None = None, batch_sampler: Sampler | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False,
                 generator: Generator | None = None) -> None:
        if num_workers != 0:
            raise ValueError(f"DataLoader: num_workers must be 0, got {num_workers!r}: lucid-ctc "
                             f"loads every batch in the calling process (no worker processes)")
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be an int >= 1 or None, got "
                             f"{batch_size!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got "
                            f"{type(collate_fn).__name__}")
        self.dataset, self.num_workers, self.pin_memory = dataset, 0, pin_memory
        self.generator, self.drop_last = generator, bool(drop_last)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader: an IterableDataset gives its own order: shuffle, "
                                 "sampler and batch_sampler do not apply (shuffle inside its "
                                 "__iter__, or use a map-style Dataset)")
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle exclude each other: pass one")
        elif batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                            or drop_last):
            raise ValueError("DataLoader: batch_sampler excludes batch_size, shuffle, sampler "
                             "and drop_last (it makes the batches itself)")
        if batch_sampler is not None:
            batch_size = None
        if sampler is None and not self._iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, self.drop_last)
        self.batch_size, self.sampler, self.batch_sampler = batch_size, sampler, batch_sampler
        batching = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if batching else default_convert)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            return self._iterate_stream()
        if self.batch_sampler is not None:
            return (self.collate_fn([self.dataset[i] for i in indices])
                    for indices in self.batch_sampler)
        return (self.collate_fn(self.dataset[i]) for i in self.sampler)

    def _iterate_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        """Batches per epoch (for an IterableDataset, from its ``len()`` if it has one)."""
        if self._iterable:
            n = len(self.dataset)  # TypeError for a stream without a length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
