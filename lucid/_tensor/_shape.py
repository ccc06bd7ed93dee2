"""Shape ops: reshape/view, flatten, squeeze, unsqueeze, permute, transpose, ``.T``, expand,
and the joins cat and stack. Their gradients only move values back into place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid._dtype import result_type
from lucid._tensor._base import (
    TensorBase,
    check_devices,
    expect_tensor,
    normalize_dim,
    normalize_dims,
    shape_args,
)
from lucid._tensor._graph import record


def _reshaped(t: Any, shape: tuple, name: str) -> Any:
    old = t.shape
    try:
        data = t._data.reshape(shape)
    except ValueError:
        raise ValueError(f"{name}: shape {tuple(shape)} is invalid for input of size "
                         f"{t.numel()}") from None
    return record(data, (t,), lambda g: (g.reshape(old),), name.capitalize() + "Backward")


class ShapeMixin:
    """Shape ops of :class:`lucid.Tensor`."""

    def reshape(self, *shape: Any) -> Any:
        """The same elements in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``; one
        size may be -1)."""
        return _reshaped(self, shape_args(shape), "reshape")

    def view(self, *shape: Any) -> Any:
        """As :meth:`reshape` (there are no strided views here: the result may be a copy)."""
        return _reshaped(self, shape_args(shape), "view")

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        """Merge axes ``start_dim`` to ``end_dim`` (inclusive) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        s = normalize_dim(start_dim, self.ndim, "flatten")
        e = normalize_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim "
                             f"({end_dim})")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Any:
        """Drop axes of size 1 (all of them, or those among ``dim`` that have size 1)."""
        axes = normalize_dims(dim, self.ndim, "squeeze")
        keep = [n for i, n in enumerate(self.shape) if not (i in axes and n == 1)]
        return self.reshape(keep)

    def unsqueeze(self, dim: int) -> Any:
        """Insert an axis of size 1 at position ``dim`` (in the result: -1 appends)."""
        d = normalize_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims: Any) -> Any:
        """Reorder the axes: axis i of the result is axis ``dims[i]`` of self."""
        dims = shape_args(dims)
        if len(dims) != self.ndim or sorted(d % max(self.ndim, 1) for d in dims) != list(
                range(self.ndim)):
            raise ValueError(
                f"permute: dims must be a permutation of 0..{self.ndim - 1}, got {dims}"
            )
        inverse = np.argsort([d % self.ndim for d in dims])
        return record(self._data.transpose(dims), (self,), lambda g: (g.transpose(inverse),),
                      "PermuteBackward")

    def transpose(self, dim0: int, dim1: int) -> Any:
        """Swap two axes."""
        dims = list(range(self.ndim))
        a, b = (normalize_dim(d, self.ndim, "transpose") for d in (dim0, dim1))
        dims[a], dims[b] = dims[b], dims[a]
        return self.permute(dims)

    swapaxes = transpose

    @property
    def T(self) -> Any:
        """The axes in reverse order (the matrix transpose for 2-D)."""
        return self.permute(list(reversed(range(self.ndim))))

    @property
    def mT(self) -> Any:
        """The last two axes swapped (a batch of matrix transposes)."""
        return self.transpose(-2, -1)

    def t(self) -> Any:
        """The transpose of a tensor of at most 2 axes."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims, got {self.ndim}")
        return self.T

    def expand(self, *sizes: Any) -> Any:
        """Broadcast to ``sizes`` (-1 keeps an axis); the gradient is summed back."""
        sizes = shape_args(sizes)
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(sizes))
        old = self.shape
        try:
            data = np.broadcast_to(self._data, shape)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {old} to {sizes}") from None
        return record(data, (self,), lambda g: (g,), "ExpandBackward")

    def expand_as(self, other: Any) -> Any:
        """``expand(other.shape)``."""
        return self.expand(other.shape)

    def contiguous(self) -> Any:
        """Self: every result here is already laid out in memory."""
        return self


def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join tensors along an existing axis ``dim``; all other sizes must match.

    >>> import lucid
    >>> lucid.cat([lucid.zeros(2, 3), lucid.ones(1, 3)]).shape
    (3, 3)
    """
    tensors = _joinable(tensors, "cat")
    d = normalize_dim(dim, tensors[0].ndim, "cat")
    dtype = result_type(*(t._data for t in tensors))
    try:
        data = np.concatenate([t._data.astype(dtype, copy=False) for t in tensors], axis=d)
    except ValueError as err:
        raise ValueError(f"cat: sizes must match except along dim {dim}, got shapes "
                         f"{[t.shape for t in tensors]}") from err
    bounds = np.cumsum([t.shape[d] for t in tensors])[:-1]
    return record(data, tensors, lambda g: tuple(np.split(g, bounds, axis=d)), "CatBackward",
                  device=check_devices("cat", *tensors))


def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join same-shaped tensors along a new axis ``dim``.

    >>> import lucid
    >>> lucid.stack([lucid.zeros(2, 3), lucid.ones(2, 3)], dim=1).shape
    (2, 2, 3)
    """
    tensors = _joinable(tensors, "stack")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: expects each tensor to be equal size, got shapes "
                         f"{[t.shape for t in tensors]}")
    return cat([t.unsqueeze(d) for t in tensors], d)


def _joinable(tensors: Any, name: str) -> list:
    if isinstance(tensors, TensorBase) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: tensors must be a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        expect_tensor(t, name, f"tensors[{i}]")
    return list(tensors)
