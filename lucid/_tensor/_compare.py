"""Comparisons and logic: == != < <= > >= give bool tensors (no gradient); & | ^ ~ on bool
tensors; ``where``, which picks between two tensors and routes the gradient to the one picked.

Because ``==`` returns a tensor, a tensor's hash cannot come from equality: lucid.Tensor
hashes by identity (see tensor.py), as PyTorch's does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._dtype import result_type
from lucid._tensor._arith import binary
from lucid._tensor._base import Dims, TensorBase, as_operand, check_devices, normalize_dims


def _compare(t: Any, other: Any, op, name: str) -> Any:
    other = as_operand(other, t, name)
    raw = [t._data, other._data if isinstance(other, TensorBase) else other]
    if isinstance(other, TensorBase):
        check_devices(name, t, other)
    dtype = result_type(*raw)
    x, y = (np.asarray(r).astype(dtype, copy=False) for r in raw)
    return t._wrap(op(x, y))


def _logical(t: Any, other: Any, op, name: str) -> Any:
    other = as_operand(other, t, name)
    data = [t._data, other._data if isinstance(other, TensorBase) else np.asarray(other)]
    if any(d.dtype.kind not in "biu" for d in data):
        raise TypeError(f"{name}: expects bool or integer tensors, got "
                        f"{', '.join(str(d.dtype) for d in data)}")
    return t._wrap(op(*data))


class CompareMixin:
    """Comparison and logic operators of :class:`lucid.Tensor`."""

    def eq(self, other: Any) -> Any:
        """Elementwise ``self == other`` as a bool tensor."""
        return _compare(self, other, np.equal, "eq")

    def ne(self, other: Any) -> Any:
        """Elementwise ``self != other`` as a bool tensor."""
        return _compare(self, other, np.not_equal, "ne")

    def lt(self, other: Any) -> Any:
        """Elementwise ``self < other`` as a bool tensor."""
        return _compare(self, other, np.less, "lt")

    def le(self, other: Any) -> Any:
        """Elementwise ``self <= other`` as a bool tensor."""
        return _compare(self, other, np.less_equal, "le")

    def gt(self, other: Any) -> Any:
        """Elementwise ``self > other`` as a bool tensor."""
        return _compare(self, other, np.greater, "gt")

    def ge(self, other: Any) -> Any:
        """Elementwise ``self >= other`` as a bool tensor."""
        return _compare(self, other, np.greater_equal, "ge")

    __eq__ = eq  # type: ignore[assignment]
    __ne__ = ne  # type: ignore[assignment]
    __lt__ = lt
    __le__ = le
    __gt__ = gt
    __ge__ = ge

    def __and__(self, other: Any) -> Any:
        return _logical(self, other, np.bitwise_and, "and")

    def __or__(self, other: Any) -> Any:
        return _logical(self, other, np.bitwise_or, "or")

    def __xor__(self, other: Any) -> Any:
        return _logical(self, other, np.bitwise_xor, "xor")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> Any:
        if self._data.dtype.kind not in "biu":
            raise TypeError(f"invert: expects a bool or integer tensor, got {self.dtype}")
        return self._wrap(np.invert(self._data))

    def logical_not(self) -> Any:
        """Elementwise ``not`` as a bool tensor."""
        return self._wrap(np.logical_not(self._data))

    def any(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Whether any element (along ``dim``) is non-zero, as a bool tensor."""
        axes = normalize_dims(dim, self.ndim, "any")
        return self._wrap(np.any(self._data, axis=axes, keepdims=keepdim))

    def all(self, dim: Dims = None, keepdim: bool = False) -> Any:
        """Whether every element (along ``dim``) is non-zero, as a bool tensor."""
        axes = normalize_dims(dim, self.ndim, "all")
        return self._wrap(np.all(self._data, axis=axes, keepdims=keepdim))

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        """Whether ``|self - other| <= atol + rtol * |other|`` everywhere (a Python bool)."""
        other = as_operand(other, self, "allclose")
        y = other._data if isinstance(other, TensorBase) else other
        return bool(np.allclose(self._data, y, rtol=rtol, atol=atol))

    def where(self, condition: Any, other: Any) -> Any:
        """``lucid.where(condition, self, other)``."""
        return where(condition, self, other)


def _where_backward(cond: np.ndarray):
    def backward(g, x, y, out):
        return np.where(cond, g, 0), np.where(cond, 0, g)

    return backward


def where(condition: Any, input: Any, other: Any) -> Any:
    """Elementwise ``input if condition else other`` (broadcasting); the gradient goes to the
    operand each element was taken from.

    >>> import lucid
    >>> x = lucid.tensor([-1.0, 2.0])
    >>> lucid.where(x > 0, x, 0.0)
    Tensor([0., 2.])
    """
    if not isinstance(condition, TensorBase):
        raise TypeError(f"where: condition must be a bool lucid.Tensor, got "
                        f"{type(condition).__name__}")
    if condition._data.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {condition.dtype}")
    like = input if isinstance(input, TensorBase) else other
    if not isinstance(like, TensorBase):
        like = condition
    input, other = as_operand(input, like, "where"), as_operand(other, like, "where")
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        input = condition._wrap(np.asarray(input))
    cond = condition._data
    return binary(input, other, "WhereBackward", lambda x, y: np.where(cond, x, y),
                  _where_backward(cond))
