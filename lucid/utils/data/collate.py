"""Turning a list of samples into a batch: :func:`default_collate`, and :func:`default_convert`
for a DataLoader without batching.

The rules are PyTorch's, with two of lucid 3's: Python floats become a tensor of the default
dtype (float32; PyTorch gives float64), and a tuple of fields stays a tuple (PyTorch gives a
list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lucid._dtype import array_from
from lucid._tensor import Tensor, stack

_PAD_HINT = ("; for sequences of different lengths, pass a collate_fn that pads them, e.g. "
             "with lucid.nn.utils.rnn.pad_sequence")


def _numeric(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: cannot make a tensor of a numpy array of dtype {array.dtype}")
    return array


def default_collate(batch: Sequence[Any]) -> Any:
    """Combine a list of samples into a batch, following the structure of the first sample:

    - tensors are stacked along a new first axis (same shapes needed), as are NumPy arrays
      (into a tensor) and NumPy scalars;
    - Python ints give an int64 tensor, floats one of the default dtype (float32), bools a
      bool tensor; str and bytes stay a list;
    - a dict gives a dict of batches by key; a tuple, namedtuple or list of fields gives one
      batch per field (a tuple stays a tuple, a namedtuple keeps its type).

    >>> import lucid
    >>> from lucid.utils.data import default_collate
    >>> x, y = default_collate([(lucid.ones(2), 0), (lucid.zeros(2), 1)])
    >>> x.shape, y
    ((2, 2), Tensor([0, 1], dtype=lucid.int64))
    """
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)) or not batch:
        raise TypeError(f"default_collate: batch must be a non-empty list of samples, got "
                        f"{type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {t.shape for t in batch}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: tensors of different shapes cannot be stacked, "
                             f"got {sorted(shapes)}{_PAD_HINT}")
        return stack(list(batch))
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(elem, (np.str_, np.bytes_)):
        shapes = {np.shape(a) for a in batch}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: arrays of different shapes cannot be stacked, "
                             f"got {sorted(shapes)}{_PAD_HINT}")
        return Tensor(_numeric(np.stack(batch), "default_collate"))
    if isinstance(elem, (bool, int, float)):
        return Tensor(array_from(list(batch)))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        sizes = {len(sample) for sample in batch}
        if len(sizes) != 1:
            raise ValueError(f"default_collate: every sample must have the same number of "
                             f"fields, got {sorted(sizes)}")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: samples must hold tensors, NumPy arrays, numbers, "
                    f"str, dicts, tuples or lists, got {type(elem).__name__}; pass a "
                    f"collate_fn for other types")


def default_convert(data: Any) -> Any:
    """One sample with its NumPy arrays (of numbers) made tensors, through dicts, tuples and
    lists: what a DataLoader with ``batch_size=None`` yields. Everything else is kept."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return Tensor(data)
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):
        converted = [default_convert(v) for v in data]
        return tuple(converted) if isinstance(data, tuple) else converted
    return data
