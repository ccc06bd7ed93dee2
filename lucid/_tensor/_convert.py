"""Conversions: to numpy and Python values, between dtypes and devices, copies.

A dtype change to a floating-point dtype is differentiable (the gradient is cast back); to an
integer or bool dtype it leaves the graph, as in PyTorch. The result dtype is exactly the one
asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid import _dtype
from lucid._device import is_device_like, to_device
from lucid._dtype import to_dtype
from lucid._tensor._base import TensorBase
from lucid._tensor._graph import record


def _parse_to(args: tuple, kwargs: dict):
    """(device or None, dtype or None) from ``to``'s flexible arguments."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, TensorBase):
            device, dtype = a.device, a.dtype
        elif is_device_like(a) or (isinstance(a, str) and not _dtype.is_dtype_name(a)):
            device = a  # an unknown name is reported by to_device as not a device
        elif a is not None:
            dtype = a
    return (None if device is None else to_device(device),
            None if dtype is None else to_dtype(dtype))


class ConvertMixin:
    """Conversions of :class:`lucid.Tensor`."""

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None:
            return self._data.copy() if copy else self._data
        return self._data.astype(dtype, copy=bool(copy) or self._data.dtype != np.dtype(dtype))

    def item(self) -> Any:
        """The single element as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: expected a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers; a 0-d tensor gives a number."""
        return self._data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu":
            raise TypeError(f"index: only integer tensors can be used as an index, got "
                            f"{self.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self._data.size} "
                               f"elements is ambiguous; use .any() or .all()")
        return bool(self._data.item())

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """This tensor on another device, of another dtype, or both; ``self`` if nothing
        changes. Accepts ``to("metal")``, ``to(lucid.float64)``, ``to(device, dtype)``,
        ``to(other_tensor)`` and the keywords ``device=``, ``dtype=``.

        >>> import lucid
        >>> lucid.tensor([1, 2]).to(lucid.float64)
        Tensor([1., 2.], dtype=lucid.float64)
        """
        device, dtype = _parse_to(args, kwargs)
        out = self
        if dtype is not None and dtype.np_dtype != self._data.dtype:
            data = self._data.astype(dtype.np_dtype)
            if dtype.is_floating_point:
                source = self._data.dtype
                out = record(data, (self,), lambda g: (g.astype(source),), "ToCopyBackward")
            else:
                out = self._wrap(data)
        if device is not None and device != out.device:
            moved = record(out._data, (out,), lambda g: (g,), "ToCopyBackward", device=device)
            out = moved
        return out

    def type_as(self, other: Any) -> Any:
        """``self.to(other.dtype)``."""
        return self.to(other.dtype)

    def float(self) -> Any:
        """``self.to(lucid.float32)``."""
        return self.to(_dtype.float32)

    def double(self) -> Any:
        """``self.to(lucid.float64)``."""
        return self.to(_dtype.float64)

    def half(self) -> Any:
        """``self.to(lucid.float16)``."""
        return self.to(_dtype.float16)

    def int(self) -> Any:
        """``self.to(lucid.int32)``."""
        return self.to(_dtype.int32)

    def long(self) -> Any:
        """``self.to(lucid.int64)``."""
        return self.to(_dtype.int64)

    def bool(self) -> Any:
        """``self.to(lucid.bool_)``."""
        return self.to(_dtype.bool_)

    def cpu(self) -> Any:
        """``self.to("cpu")``."""
        return self.to("cpu")

    def metal(self) -> Any:
        """``self.to("metal")`` (a tag: computation stays on the CPU)."""
        return self.to("metal")

    def clone(self) -> Any:
        """A copy with its own memory; differentiable."""
        return record(self._data.copy(), (self,), lambda g: (g,), "CloneBackward")
