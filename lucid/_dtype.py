"""dtypes, and the one place that decides the dtype of an op's result.

A lucid dtype is a named singleton wrapping a numpy dtype. The promotion rules below are
PyTorch's (which lucid 3 follows), not numpy's: they are applied by the ops before they
compute, so graph recording never changes a dtype and an explicit conversion
(``.double()``, ``.to(lucid.float64)``) always gives what it asks for.
"""

from __future__ import annotations

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

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.np_dtype.itemsize


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
bool_ = DType("bool", np.bool_)

# lucid 3's (and PyTorch's) short names
half, double, short, long = float16, float64, int16, int64

ALL = (float16, float32, float64, int8, int16, int32, int64, bool_)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(bool_=bool_, half=half, double=double, short=short, long=long,
                float=float32, int=int32)
_BY_NUMPY = {d.np_dtype: d for d in ALL}

DTypeLike = DType | str | np.dtype | type

DEFAULT_INT = np.dtype(np.int64)
_default_float = float32  # the dtype of Python floats and floating factories; see below


def get_default_dtype() -> DType:
    """The floating-point dtype that factories, Python floats and new layers' parameters get
    when no dtype is given (``float32`` unless :func:`set_default_dtype` changed it)."""
    return _default_float


def set_default_dtype(d: DTypeLike) -> None:
    """Make ``d`` (float16, float32 or float64) the default floating-point dtype: of
    ``lucid.tensor([1.5])``, of ``zeros``, ``randn`` and the other floating factories, of
    integer tensors divided or averaged, and of layers' parameters. Existing tensors keep
    theirs.

    >>> import lucid
    >>> lucid.set_default_dtype(lucid.float64)
    >>> lucid.tensor([1.5]).dtype, lucid.zeros(2).dtype
    (lucid.float64, lucid.float64)
    >>> lucid.set_default_dtype(lucid.float32)
    """
    global _default_float
    dt = to_dtype(d)
    if not dt.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, "
                        f"got {dt}")
    _default_float = dt


def to_dtype(dtype: DTypeLike) -> DType:
    """Resolve a DType, its name ("float32", "long") or a numpy dtype to the lucid singleton."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype]
    if dtype is float:
        return float32
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    try:
        return _BY_NUMPY[np.dtype(dtype)]
    except (TypeError, KeyError):
        pass
    names = ", ".join(d.name for d in ALL)
    raise TypeError(f"dtype: expected one of {names}, got {dtype!r}")


def is_dtype_name(name: str) -> bool:
    return name in _BY_NAME


# ------------------------------------------------------------------- promotion rules
_KIND_RANK = {"b": 0, "i": 1, "u": 1, "f": 2}


def _scalar_kind(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "b"
    if isinstance(value, (int, np.integer)):
        return "i"
    return "f"


def result_type(*operands: object) -> np.dtype:
    """The dtype of an elementwise op on arrays and Python numbers, by PyTorch's rules.

    - Arrays promote by kind first (bool < integer < float), then by size within the highest
      kind: float32 with float64 gives float64, int32 with int64 gives int64, but float32
      with int64 stays float32 (numpy would say float64).
    - A Python number only matters when its kind is higher than every array's: an int32 array
      plus 1 stays int32, a float32 array times 2.5 stays float32, but an integer array plus
      0.5 becomes float32 (the default float) and a bool array plus 1 becomes int64.

    >>> import numpy as np
    >>> result_type(np.zeros(2, np.int32), 1), result_type(np.zeros(2, np.int64), 0.5)
    (dtype('int32'), dtype('float32'))
    """
    if len(operands) == 2:  # the common cases first: one dtype, or a number that fits
        a, b = operands
        if isinstance(a, np.ndarray):
            if isinstance(b, np.ndarray):
                if a.dtype == b.dtype:
                    return a.dtype
            elif _KIND_RANK[_scalar_kind(b)] <= _KIND_RANK[a.dtype.kind]:
                return a.dtype
    arrays = [a.dtype for a in operands if isinstance(a, np.ndarray)]
    scalars = [_scalar_kind(s) for s in operands if not isinstance(s, np.ndarray)]
    out = None
    if arrays:
        top = max(_KIND_RANK[d.kind] for d in arrays)
        out = np.result_type(*(d for d in arrays if _KIND_RANK[d.kind] == top))
    top_scalar = max(scalars, key=_KIND_RANK.__getitem__, default=None)
    if out is None or (top_scalar and _KIND_RANK[top_scalar] > _KIND_RANK[out.kind]):
        out = {"b": np.dtype(np.bool_), "i": DEFAULT_INT, "f": _default_float.np_dtype}[top_scalar]
    return out


def float_result(dtype: np.dtype) -> np.dtype:
    """The dtype of a floating-point op (exp, sqrt, true division, mean) on ``dtype``:
    floats keep theirs, integers and bools give the default dtype (float32), as in PyTorch."""
    return dtype if dtype.kind == "f" else _default_float.np_dtype


def array_from(data: object, dtype: DTypeLike | None = None) -> np.ndarray:
    """A new numpy array from a number, a nested list, an array or a tensor, with lucid's
    default dtypes: Python floats give the default dtype (float32) and Python ints int64;
    arrays keep theirs."""
    if dtype is not None:
        return np.array(data, dtype=to_dtype(dtype).np_dtype)
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__array__"):
        arr = np.array(data)
        to_dtype(arr.dtype)  # unsupported numpy dtypes raise here
        return arr
    arr = np.array(data)
    if arr.dtype.kind == "f":
        return arr.astype(_default_float.np_dtype)
    if arr.dtype.kind in "iu":
        return arr.astype(DEFAULT_INT)
    if arr.dtype.kind != "b":
        raise TypeError(f"tensor: expected numbers, got data of numpy kind {arr.dtype}")
    return arr
