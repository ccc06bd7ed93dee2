"""dtype and device tags.

A lucid dtype is a named singleton wrapping a numpy dtype; a device is just a name. There is
no GPU code: a "gpu" tensor is computed on the CPU, as the spec says of lucid's own GPU stream.
"""

from __future__ import annotations

from typing import Union

import numpy as np


class DType:
    """A tensor element type, e.g. ``lucid.float32``."""

    __slots__ = ("name", "np_dtype")

    def __init__(self, name: str, np_dtype: type) -> None:
        self.name = name
        self.np_dtype = np.dtype(np_dtype)

    def __repr__(self) -> str:
        return f"lucid.{self.name}"

    @property
    def is_floating_point(self) -> bool:
        return self.np_dtype.kind == "f"


float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
bool_ = DType("bool_", np.bool_)

_ALL = (float32, float64, int32, int64, bool_)
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME["bool"] = bool_
_BY_NUMPY = {d.np_dtype: d for d in _ALL}

DTypeLike = Union[DType, str, np.dtype, type]

DEVICES = ("cpu", "gpu")


def to_dtype(dtype: DTypeLike) -> DType:
    """Resolve a DType, its name ("float32") or a numpy dtype to the lucid singleton."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype]
    try:
        return _BY_NUMPY[np.dtype(dtype)]
    except (TypeError, KeyError):
        pass
    names = ", ".join(d.name for d in _ALL)
    raise TypeError(f"dtype: expected one of {names}, got {dtype!r}")


def is_dtype_name(name: str) -> bool:
    return name in _BY_NAME


def to_device(device: str | None) -> str:
    """Check a device name; None means "cpu"."""
    if device is None:
        return "cpu"
    if isinstance(device, str) and device in DEVICES:
        return device
    raise ValueError(f"device: expected one of {', '.join(map(repr, DEVICES))}, got {device!r}")
