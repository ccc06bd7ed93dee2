"""Selection by order: topk, with its gradient.

Ties keep their order of appearance: of equal values the one at the lower index comes first,
whether the largest or the smallest are asked for (PyTorch leaves the order of ties
unspecified). NaN counts as larger than every number, as in PyTorch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lucid._dtype import DEFAULT_INT
from lucid._tensor._base import normalize_dim
from lucid._tensor._graph import record


class TopK(NamedTuple):
    """What ``topk`` returns: ``values`` and their int64 ``indices`` along ``dim``."""

    values: Any
    indices: Any


def _order(x: np.ndarray, axis: int, largest: bool) -> np.ndarray:
    """Positions along ``axis`` sorted by value, ties by position (numpy puts NaN last)."""
    if not largest:
        return np.argsort(x, axis=axis, kind="stable")
    # descending with ties in ascending position: sort the reversed axis ascending (a stable
    # sort keeps ties in descending original position), then read that order backwards
    n = x.shape[axis]
    flipped = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return n - 1 - np.flip(flipped, axis)


class SortMixin:
    """``topk`` of :class:`lucid.Tensor`."""

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopK:
        """The ``k`` largest (or, with ``largest=False``, smallest) elements along ``dim``:
        ``(values, indices)``, as PyTorch's ``topk``. The values are differentiable; the
        gradient goes to the positions they were taken from.

        The result is always sorted (``sorted=False`` is accepted and changes nothing).
        Equal values come in order of position: the lower index first.

        >>> import lucid
        >>> values, indices = lucid.tensor([1.0, 5.0, 3.0, 5.0, 2.0]).topk(3)
        >>> values, indices
        (Tensor([5., 5., 3.]), Tensor([1, 3, 2], dtype=lucid.int64))
        """
        axis = normalize_dim(dim, self.ndim, "topk")
        size = self.shape[axis] if self.ndim else 1
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
            raise ValueError(f"topk: k must be an int in [0, {size}] (the size of dim {dim}), "
                             f"got {k!r}")
        x = self._data if self.ndim else self._data.reshape(1)
        picked = np.take(_order(x, axis, largest), np.arange(int(k)), axis=axis)
        values = np.take_along_axis(x, picked, axis=axis)
        shape, dtype = x.shape, x.dtype

        def backward(g: np.ndarray):
            full = np.zeros(shape, dtype=dtype)
            np.put_along_axis(full, picked, g.reshape(picked.shape), axis=axis)
            return (full.reshape(self.shape),)

        indices = picked.astype(DEFAULT_INT)
        if not self.ndim:
            values, indices = values.reshape(()), indices.reshape(())
        out = record(values, (self,), backward, "TopkBackward", owned=True)
        return TopK(out, self._wrap(indices))
