"""Ways to make tensors: from data, random, constant, ranges; and the global seed."""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._dtype import DTypeLike, float32, int64, to_device, to_dtype
from lucid._tensor import Tensor, _shape_args

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind :func:`randn`, making it reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)


def _finish(data: np.ndarray, device: str | None, requires_grad: bool) -> Tensor:
    return Tensor(data, device=to_device(device), requires_grad=requires_grad)


def tensor(
    data: Any,
    *,
    dtype: DTypeLike | None = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Make a tensor from a number, a (nested) list, a numpy array or another tensor (copied).

    Python floats give float32 and Python ints int64; a numpy array keeps its dtype. Pass
    ``dtype=`` to choose.

    >>> import lucid
    >>> lucid.tensor([[1, 2]], dtype=lucid.int32)
    Tensor([[1, 2]], dtype=lucid.int32)
    >>> lucid.tensor(0.5)
    Tensor(0.5)
    """
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        arr = np.array(data, dtype=to_dtype(dtype).np_dtype)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
        to_dtype(arr.dtype)  # unsupported numpy dtypes raise here
    else:
        arr = np.array(data)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind != "b":
            raise TypeError(f"tensor: expected numbers, got data of numpy kind {arr.dtype}")
    return _finish(arr, device, requires_grad)


def randn(
    *size: Any,
    dtype: DTypeLike | None = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples of the given shape (``randn(2, 3)`` or ``randn((2, 3))``)."""
    dt = to_dtype(dtype or float32)
    if not dt.is_floating_point:
        raise TypeError(f"randn: dtype must be floating point, got {dt}")
    data = _rng.standard_normal(_shape_args(size)).astype(dt.np_dtype)
    return _finish(data, device, requires_grad)


def zeros(*size: Any, dtype: DTypeLike | None = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    data = np.zeros(_shape_args(size), dtype=to_dtype(dtype or float32).np_dtype)
    return _finish(data, device, requires_grad)


def ones(*size: Any, dtype: DTypeLike | None = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` says otherwise)."""
    data = np.ones(_shape_args(size), dtype=to_dtype(dtype or float32).np_dtype)
    return _finish(data, device, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *,
           dtype: DTypeLike | None = None, device: str | None = None) -> Tensor:
    """Evenly spaced values in [start, end); int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if all_int else float32
    return _finish(np.arange(start, end, step, dtype=to_dtype(dtype).np_dtype), device, False)
