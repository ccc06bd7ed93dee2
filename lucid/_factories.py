"""Ways to make tensors: from data, constant, ranges, random; and the global seed.

Defaults are lucid 3's (and PyTorch's): floating factories give the default dtype (float32,
see :func:`lucid.set_default_dtype`), integer ranges int64, ``device`` defaults to the default
device ("cpu", see :func:`lucid.set_default_device`). Random factories draw from
``generator=`` or from the default generator that :func:`manual_seed` seeds
(lucid/_random.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._device import DeviceLike, to_device
from lucid._dtype import DTypeLike, array_from, get_default_dtype, int64, to_dtype
from lucid._random import Generator, default_generator, resolve
from lucid._tensor import Tensor, expect_tensor, shape_args


def generator() -> np.random.Generator:
    """The NumPy generator behind the default :class:`lucid.Generator` (dropout masks and
    layer initialisation draw from it)."""
    return default_generator.numpy()


def get_rng_state() -> Tensor:
    """The default generator's state as an int64 tensor, for :func:`set_rng_state` (a training
    checkpoint can hold it: ``lucid.save`` keeps tensors).

    >>> import lucid
    >>> state = lucid.get_rng_state()
    >>> a = lucid.rand(3)
    >>> lucid.set_rng_state(state)
    >>> bool((lucid.rand(3) == a).all())
    True
    """
    return Tensor(default_generator.get_state(), device="cpu")


def set_rng_state(new_state: Tensor) -> None:
    """Continue the default generator from a state returned by :func:`get_rng_state`."""
    expect_tensor(new_state, "set_rng_state", "new_state")
    default_generator.set_state(new_state.numpy())


def _finish(data: np.ndarray, device: DeviceLike | None, requires_grad: bool) -> Tensor:
    return Tensor(data, device=to_device(device), requires_grad=requires_grad)


def _float_dtype(dtype: DTypeLike | None, name: str):
    dt = to_dtype(dtype or get_default_dtype())
    if not dt.is_floating_point:
        raise TypeError(f"{name}: dtype must be floating point, got {dt}")
    return dt.np_dtype


# ------------------------------------------------------------------------- from data
def tensor(
    data: Any,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
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
    return _finish(array_from(data, dtype), device, requires_grad)


def as_tensor(data: Any, dtype: DTypeLike | None = None,
              device: DeviceLike | None = None) -> Tensor:
    """A tensor sharing memory with ``data`` when it already is a tensor or numpy array of the
    right dtype; otherwise a new one, as :func:`tensor`."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    if isinstance(data, np.ndarray) and (dtype is None or to_dtype(dtype).np_dtype == data.dtype):
        to_dtype(data.dtype)
        return _finish(data, device, False)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array (writes to one show in the other).

    >>> import numpy as np, lucid
    >>> a = np.zeros(2, dtype=np.float32)
    >>> t = lucid.from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    Tensor([5., 0.])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    to_dtype(array.dtype)
    return Tensor(array)


# --------------------------------------------------------------------------- constant
def zeros(*size: Any, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    data = np.zeros(shape_args(size), dtype=to_dtype(dtype or get_default_dtype()).np_dtype)
    return _finish(data, device, requires_grad)


def ones(*size: Any, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` says otherwise)."""
    data = np.ones(shape_args(size), dtype=to_dtype(dtype or get_default_dtype()).np_dtype)
    return _finish(data, device, requires_grad)


def empty(*size: Any, dtype: DTypeLike | None = None, device: DeviceLike | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor whose values are not set (they are whatever the memory held)."""
    data = np.empty(shape_args(size), dtype=to_dtype(dtype or get_default_dtype()).np_dtype)
    return _finish(data, device, requires_grad)


def full(size: Any, fill_value: float, *, dtype: DTypeLike | None = None,
         device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; the dtype follows the value
    (float32 for a float, int64 for an int, bool for a bool) unless ``dtype`` is given.

    >>> import lucid
    >>> lucid.full((2,), 7)
    Tensor([7, 7], dtype=lucid.int64)
    """
    dt = to_dtype(dtype) if dtype is not None else array_from(fill_value).dtype
    data = np.full(shape_args((size,)), fill_value, dtype=to_dtype(dt).np_dtype)
    return _finish(data, device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: DTypeLike | None = None,
        device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (``m`` defaults to ``n``)."""
    data = np.eye(n, m, dtype=to_dtype(dtype or get_default_dtype()).np_dtype)
    return _finish(data, device, requires_grad)


# ----------------------------------------------------------------------------- ranges
def arange(start: float, end: float | None = None, step: float = 1, *,
           dtype: DTypeLike | None = None, device: DeviceLike | None = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, end); int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if all_int else get_default_dtype()
    data = np.arange(start, end, step, dtype=to_dtype(dtype).np_dtype)
    return _finish(data, device, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: DTypeLike | None = None,
             device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (float32).

    >>> import lucid
    >>> lucid.linspace(0, 1, 5)
    Tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be an int >= 0, got {steps!r}")
    data = np.linspace(start, end, steps, dtype=np.float64)
    dt = to_dtype(dtype or get_default_dtype()).np_dtype
    return _finish(data.astype(dt), device, requires_grad)


# ----------------------------------------------------------------------------- random
def randn(*size: Any, generator: Generator | None = None, dtype: DTypeLike | None = None,
          device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of the given shape (``randn(2, 3)`` or ``randn((2, 3))``)."""
    dt = _float_dtype(dtype, "randn")
    data = resolve(generator, "randn").standard_normal(shape_args(size)).astype(dt)
    return _finish(data, device, requires_grad)


def rand(*size: Any, generator: Generator | None = None, dtype: DTypeLike | None = None,
         device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples from [0, 1) of the given shape."""
    dt = _float_dtype(dtype, "rand")
    return _finish(resolve(generator, "rand").random(shape_args(size)).astype(dt), device,
                   requires_grad)


def randint(low: int, high: int | None = None, size: Any = None, *,
            generator: Generator | None = None, dtype: DTypeLike | None = None,
            device: DeviceLike | None = None) -> Tensor:
    """Integers drawn uniformly from [low, high) (``randint(high, size)`` means low = 0);
    int64 unless ``dtype`` says otherwise.

    >>> import lucid
    >>> lucid.randint(0, 10, (2, 3)).shape
    (2, 3)
    """
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: missing the size argument, e.g. randint(0, 10, (2, 3))")
    if high is None or high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    data = resolve(generator, "randint").integers(low, high, size=shape_args((size,)))
    return _finish(data.astype(to_dtype(dtype or int64).np_dtype), device, False)


def randperm(n: int, *, generator: Generator | None = None, dtype: DTypeLike | None = None,
             device: DeviceLike | None = None) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 unless ``dtype`` says otherwise).

    >>> import lucid
    >>> sorted(lucid.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be an int >= 0, got {n!r}")
    data = resolve(generator, "randperm").permutation(int(n))
    return _finish(data.astype(to_dtype(dtype or int64).np_dtype), device, False)


# --------------------------------------------------------------------------- *_like
def _like(name: str, t: Tensor, dtype: DTypeLike | None,
          device: DeviceLike | None) -> tuple:
    expect_tensor(t, name, "input")
    return t.shape, dtype or t.dtype, device if device is not None else t.device


def zeros_like(input: Tensor, *, dtype: DTypeLike | None = None,
               device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("zeros_like", input, dtype, device)
    return zeros(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(input: Tensor, *, dtype: DTypeLike | None = None,
              device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("ones_like", input, dtype, device)
    return ones(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value: float, *, dtype: DTypeLike | None = None,
              device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("full_like", input, dtype, device)
    return full(shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(input: Tensor, *, dtype: DTypeLike | None = None,
               device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Unset values with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("empty_like", input, dtype, device)
    return empty(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: DTypeLike | None = None,
               device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("randn_like", input, dtype, device)
    return randn(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def rand_like(input: Tensor, *, dtype: DTypeLike | None = None,
              device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples with ``input``'s shape, dtype and device."""
    shape, dt, dev = _like("rand_like", input, dtype, device)
    return rand(shape, dtype=dt, device=dev, requires_grad=requires_grad)
