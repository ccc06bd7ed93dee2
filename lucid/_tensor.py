"""lucid.Tensor: a numpy array with a dtype tag, a device tag and reverse-mode autograd.

Every differentiable op is a primitive here: it computes its result with numpy and, when a
gradient is needed, records a Node whose ``backward`` maps the output gradient to the input
gradients (see lucid/autograd.py). Derived ops (``a - b``, ``mean``) are compositions of
primitives and need no backward of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Union

import numpy as np

from lucid import _dtype
from lucid._dtype import DType, DTypeLike, to_device, to_dtype
from lucid.autograd import Node, record, run_backward, unbroadcast

Scalar = Union[int, float, bool]
Dims = Union[int, Sequence[int], None]


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Build one with :func:`lucid.tensor`, :func:`lucid.randn` and friends rather than directly.

    >>> import lucid
    >>> x = lucid.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([[2., 4.],
            [6., 8.]])
    """

    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's reflected op

    def __init__(
        self, data: np.ndarray, *, device: str = "cpu", requires_grad: bool = False
    ) -> None:
        self._data = data
        self.device = device
        self.grad: Tensor | None = None
        self.grad_fn: Node | None = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple:
        """The size of each axis."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self._data.ndim

    @property
    def dtype(self) -> DType:
        """The element type, e.g. ``lucid.float32``."""
        return to_dtype(self._data.dtype)

    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded for backward (floating point only)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not self.dtype.is_floating_point:
            raise TypeError(
                "requires_grad: only floating-point tensors can require gradients, "
                f"got {self.dtype}"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot be switched off on a non-leaf tensor; "
                               "use .detach()")
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded op."""
        return self.grad_fn is None

    def size(self, dim: int | None = None) -> tuple | int:
        """The shape, or the size of axis ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --------------------------------------------------------------- conversions
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None:
            return self._data.copy() if copy else self._data
        return self._data.astype(dtype, copy=bool(copy) or self._data.dtype != np.dtype(dtype))

    def item(self) -> Scalar:
        """The single element as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: expected a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self._data, device=self.device)

    def to(self, target: str | DTypeLike) -> Tensor:
        """A copy on another device ("cpu"/"gpu") or of another dtype; ``self`` if nothing changes.

        A dtype change is differentiable for floating-point targets.
        """
        if isinstance(target, str) and not _dtype.is_dtype_name(target):
            if to_device(target) == self.device:
                return self
            out = record(self._data, (self,), lambda g: (g,), "ToBackward")
            out.device = target
            return out
        dtype = to_dtype(target)
        if dtype.np_dtype == self._data.dtype:
            return self
        data = self._data.astype(dtype.np_dtype)
        if not dtype.is_floating_point:
            return Tensor(data, device=self.device)
        return record(data, (self,), lambda g: (g,), "ToBackward")

    def float(self) -> Tensor:
        """``self.to(lucid.float32)``."""
        return self.to(_dtype.float32)

    def double(self) -> Tensor:
        """``self.to(lucid.float64)``."""
        return self.to(_dtype.float64)

    # -------------------------------------------------------------------- repr
    def __repr__(self) -> str:
        body = np.array2string(
            self._data, separator=", ", prefix="Tensor(", threshold=200, edgeitems=3, precision=4
        )
        extras = []
        if self.dtype is not _dtype.float32:
            extras.append(f"dtype={self.dtype!r}")
        if self.device != "cpu":
            extras.append(f"device={self.device!r}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    # --------------------------------------------------------------- autograd
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf it depends on.

        ``gradient`` is d(something)/d(self); it may be omitted only for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, got shape "
                    f"{self.shape}; pass gradient="
                )
            gradient = np.ones_like(self._data)
        else:
            gradient = np.asarray(gradient.numpy() if isinstance(gradient, Tensor) else gradient)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward: gradient must have shape {self.shape}, got {gradient.shape}"
                )
            gradient = gradient.astype(self._data.dtype, copy=False)
        run_backward(self, gradient, retain_graph)

    # --------------------------------------------------------- arithmetic ops
    def __add__(self, other: Any) -> Tensor:
        a, b = self, _as_tensor(other, self)
        return record(a._data + b._data, (a, b), lambda g: (g, g), "AddBackward", _device(a, b))

    def __mul__(self, other: Any) -> Tensor:
        a, b = self, _as_tensor(other, self)
        return record(
            a._data * b._data, (a, b), lambda g: (g * b._data, g * a._data), "MulBackward",
            _device(a, b),
        )

    def __truediv__(self, other: Any) -> Tensor:
        a, b = self, _as_tensor(other, self)
        out = a._data / b._data
        return record(
            out, (a, b), lambda g: (g / b._data, -g * out / b._data), "DivBackward", _device(a, b)
        )

    def __neg__(self) -> Tensor:
        return record(-self._data, (self,), lambda g: (-g,), "NegBackward")

    def __pow__(self, exponent: Scalar) -> Tensor:
        if isinstance(exponent, Tensor) or not np.isscalar(exponent):
            raise TypeError(f"pow: exponent must be a Python number, got {type(exponent).__name__}")
        x = self._data
        return record(
            x**exponent, (self,), lambda g: (g * exponent * x ** (exponent - 1),), "PowBackward"
        )

    def __matmul__(self, other: Any) -> Tensor:
        a, b = self, _as_tensor(other, self)
        return record(a._data @ b._data, (a, b), _matmul_backward(a._data, b._data),
                       "MatmulBackward", _device(a, b))

    def __sub__(self, other: Any) -> Tensor:
        return self + (-_as_tensor(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return _as_tensor(other, self) + self

    def __rsub__(self, other: Any) -> Tensor:
        return _as_tensor(other, self) - self

    def __rmul__(self, other: Any) -> Tensor:
        return _as_tensor(other, self) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return _as_tensor(other, self) / self

    def __rmatmul__(self, other: Any) -> Tensor:
        return _as_tensor(other, self) @ self

    # ------------------------------------------------------ elementwise math
    def exp(self) -> Tensor:
        """Elementwise exponential."""
        out = np.exp(self._data)
        return record(out, (self,), lambda g: (g * out,), "ExpBackward")

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        x = self._data
        return record(np.log(x), (self,), lambda g: (g / x,), "LogBackward")

    # -------------------------------------------------------------- reductions
    def sum(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an axis, a tuple of axes, or None for all)."""
        axes = _axes(dim, self.ndim)
        shape = self.shape

        def backward(g: np.ndarray):
            if not keepdim:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g, shape),)

        return record(self._data.sum(axis=axes, keepdims=keepdim), (self,), backward,
                       "SumBackward")

    def mean(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an axis, a tuple of axes, or None for all)."""
        count = int(np.prod([self.shape[a] for a in _axes(dim, self.ndim)]))
        return self.sum(dim, keepdim) / count

    def max(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Maximum values; the gradient is shared equally between tied maxima."""
        axes = _axes(dim, self.ndim)
        x = self._data
        out = x.max(axis=axes, keepdims=True)

        def backward(g: np.ndarray):
            if not keepdim:
                g = np.expand_dims(g, axes)
            hit = x == out
            return (g * hit / hit.sum(axis=axes, keepdims=True),)

        data = out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])
        return record(data, (self,), backward, "MaxBackward")

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``)."""
        shape = _shape_args(shape)
        old = self.shape
        return record(self._data.reshape(shape), (self,), lambda g: (g.reshape(old),),
                       "ReshapeBackward")

    view = reshape

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the axes: axis i of the result is axis ``dims[i]`` of self."""
        dims = _shape_args(dims)
        if sorted(d % self.ndim for d in dims) != list(range(self.ndim)):
            raise ValueError(
                f"permute: dims must be a permutation of 0..{self.ndim - 1}, got {dims}"
            )
        inverse = np.argsort([d % self.ndim for d in dims])
        return record(self._data.transpose(dims), (self,), lambda g: (g.transpose(inverse),),
                       "PermuteBackward")

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two axes."""
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    def __getitem__(self, index: Any) -> Tensor:
        """numpy indexing (slices, integers, arrays, Tensors), differentiable."""
        index = _unwrap_index(index)
        shape, dtype = self.shape, self._data.dtype

        def backward(g: np.ndarray):
            full = np.zeros(shape, dtype=dtype)
            np.add.at(full, index, g)  # add.at: repeated fancy indices must all receive
            return (full,)

        return record(self._data[index], (self,), backward, "IndexBackward")


# ---------------------------------------------------------------------- helpers
def _device(a: Tensor, b: Tensor) -> str:
    if a.device != b.device:
        raise ValueError(f"expected both tensors on one device, got {a.device!r} and {b.device!r}")
    return a.device


def _as_tensor(value: Any, like: Tensor) -> Tensor:
    """Tensors pass through; numbers and arrays become constants.

    A Python number takes like's dtype when that is floating point.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float, bool)):
        if like.dtype.is_floating_point:
            dtype = like._data.dtype
        else:  # as torch: int tensor (op) float -> float32, int (op) int stays int
            dtype = np.float32 if isinstance(value, float) else None
        return Tensor(np.asarray(value, dtype=dtype), device=like.device)
    return Tensor(np.asarray(value), device=like.device)


def _axes(dim: Dims, ndim: int) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    for d in dims:
        if not -ndim <= d < max(ndim, 1):
            raise ValueError(f"dim: expected a value in [{-ndim}, {ndim}), got {d}")
    return tuple(sorted(d % max(ndim, 1) for d in dims))


def _shape_args(args: tuple) -> tuple:
    """Accept f(2, 3) and f((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


def _matmul_backward(a: np.ndarray, b: np.ndarray) -> Callable:
    """Gradients of a @ b; 1-D operands are promoted to matrices and the result squeezed back."""

    def backward(g: np.ndarray):
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:  # restore b's column axis first: for 1-D @ 1-D g is 0-d
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = g2 @ np.swapaxes(b2, -1, -2)
        gb = np.swapaxes(a2, -1, -2) @ g2
        ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb

    return backward
