"""Indexing: ``t[...]`` with ints, slices, None, Ellipsis, integer tensors or arrays and boolean
masks (``t[t > 5]``), differentiable; and ``t[...] = value`` in place, outside the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._tensor._base import TensorBase, foreign_tensor_hint
from lucid._tensor._graph import record
from lucid.autograd import is_grad_enabled


def _unwrap_index(index: Any) -> Any:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for i in parts:
        hint = foreign_tensor_hint(i)
        if hint:
            raise TypeError(f"index: expected ints, slices or lucid tensors{hint}")
        if isinstance(i, TensorBase):
            i = i._data
            if i.dtype.kind == "f":
                raise IndexError(f"index: tensors used as indices must be long, int or bool, "
                                 f"got {i.dtype}")
        out.append(i)
    return tuple(out) if isinstance(index, tuple) else out[0]


class IndexMixin:
    """``__getitem__`` and ``__setitem__`` of :class:`lucid.Tensor`."""

    def __getitem__(self, index: Any) -> Any:
        """numpy indexing (slices, integers, integer or bool tensors), differentiable."""
        index = _unwrap_index(index)
        shape, dtype = self.shape, self._data.dtype

        def backward(g: np.ndarray):
            full = np.zeros(shape, dtype=dtype)
            np.add.at(full, index, g)  # add.at: repeated fancy indices must all receive
            return (full,)

        return record(self._data[index], (self,), backward, "IndexBackward")

    def __setitem__(self, index: Any, value: Any) -> None:
        """Write ``value`` into the selected elements, in place. Refused on a tensor that is
        part of a graph (PyTorch would record it; here in-place ops are not differentiable)."""
        if is_grad_enabled() and (self.requires_grad or self.grad_fn is not None):
            raise RuntimeError("setitem: cannot write in place into a tensor that requires grad; "
                               "use lucid.no_grad() or write into .detach()")
        if isinstance(value, TensorBase):
            value = value._data
        self._data[_unwrap_index(index)] = value
