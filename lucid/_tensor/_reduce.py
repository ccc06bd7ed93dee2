"""Reductions: sum, mean, var, std, max, min, argmax, argmin, with their gradients.

``dim`` is None (every axis), an int or a tuple of ints, negative counting from the end;
``keepdim`` keeps the reduced axes with size 1. Names and defaults are lucid 3's (and
PyTorch's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._dtype import DEFAULT_INT, float_result
from lucid._tensor._base import Dims, normalize_dims
from lucid._tensor._graph import record


def _expand(g: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
    """Give a reduced gradient its reduced axes back (size 1), ready to broadcast."""
    return g if keepdim else np.expand_dims(g, axes)


def _extremum(t: Any, dim: Dims, keepdim: bool, pick, name: str) -> Any:
    axes = normalize_dims(dim, t.ndim, name.lower())
    if t.numel() == 0:
        raise ValueError(f"{name.lower()}: cannot reduce an empty tensor")
    x = t._data
    out = pick(x, axis=axes, keepdims=True)

    def backward(g: np.ndarray):
        # the gradient is shared equally between tied extrema (PyTorch's amax/amin rule)
        hit = x == out
        return (_expand(g, axes, keepdim) * hit / hit.sum(axis=axes, keepdims=True),)

    data = out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])
    return record(data, (t,), backward, name + "Backward")


def _arg_extremum(t: Any, dim: int | None, keepdim: bool, pick, name: str) -> Any:
    if t.numel() == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor")
    if dim is None:
        idx = pick(t._data.reshape(-1))
        out = np.full((1,) * t.ndim if keepdim else (), idx)
    else:
        axis = normalize_dims(dim, t.ndim, name)
        out = pick(t._data, axis=axis[0], keepdims=keepdim) if axis else np.array(0)
    return t._wrap(np.asarray(out, dtype=DEFAULT_INT))


class ReduceMixin:
    """Reductions of :class:`lucid.Tensor`."""

    def sum(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Sum over ``dim`` (an axis, a tuple of axes, or None for all). Integer and bool
        tensors sum to int64, as in PyTorch.

        >>> import lucid
        >>> lucid.tensor([[1, 2], [3, 4]]).sum(dim=-1)
        Tensor([3, 7], dtype=lucid.int64)
        """
        axes = normalize_dims(dim, self.ndim, "sum")
        shape = self.shape
        data = self._data.sum(axis=axes, keepdims=keepdim)
        if data.dtype.kind in "biu":
            data = data.astype(DEFAULT_INT)

        def backward(g: np.ndarray):
            return (np.broadcast_to(_expand(g, axes, keepdim), shape),)

        return record(data, (self,), backward, "SumBackward")

    def mean(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Mean over ``dim`` (an axis, a tuple of axes, or None for all)."""
        count = int(np.prod([self.shape[a] for a in normalize_dims(dim, self.ndim, "mean")]))
        total = self.sum(dim, keepdim)
        if not self.dtype.is_floating_point:
            total = total.to(float_result(self._data.dtype))
        return total / count

    def var(self, dim: Dims = None, keepdim: bool = False, *, correction: int = 1) -> Any:
        """Variance over ``dim``; ``correction=1`` (the default) divides by ``n - 1``."""
        count = int(np.prod([self.shape[a] for a in normalize_dims(dim, self.ndim, "var")]))
        centred = self - self.mean(dim, keepdim=True)
        return (centred * centred).sum(dim, keepdim) / max(count - correction, 0)

    def std(self, dim: Dims = None, keepdim: bool = False, *, correction: int = 1) -> Any:
        """Standard deviation over ``dim``: ``var(...).sqrt()``."""
        return self.var(dim, keepdim, correction=correction).sqrt()

    def max(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Maximum values over ``dim`` (a tensor, as lucid 3 returns; use :meth:`argmax` for
        the positions). The gradient is shared equally between tied maxima."""
        return _extremum(self, dim, keepdim, np.max, "Max")

    def min(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Minimum values over ``dim``; see :meth:`max`."""
        return _extremum(self, dim, keepdim, np.min, "Min")

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """int64 positions of the maxima along ``dim`` (of the flattened tensor if None)."""
        return _arg_extremum(self, dim, keepdim, np.argmax, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """int64 positions of the minima along ``dim`` (of the flattened tensor if None)."""
        return _arg_extremum(self, dim, keepdim, np.argmin, "argmin")
