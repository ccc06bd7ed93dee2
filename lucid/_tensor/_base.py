"""What every op family shares: the tensor marker class, argument checks, dims and operands.

The family modules (_arith.py, _reduce.py, ...) are mixed into :class:`lucid.Tensor`, which is
defined after them; they recognise tensors through :class:`TensorBase` instead of importing
the class they are part of.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid._dtype import array_from

Dims = int | Sequence[int] | None


class TensorBase:
    """The root of :class:`lucid.Tensor`'s bases; see the module docstring."""

    __slots__ = ()


def foreign_tensor_hint(value: object) -> str:
    """For a PyTorch (or other framework's) tensor, how to make it a lucid one; else ''."""
    cls = type(value)
    qualified = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.split(".")[0] in ("torch", "jax", "jaxlib", "tensorflow", "mlx"):
        return (f"; got a {qualified}: lucid does not take other frameworks' tensors, convert "
                f"with lucid.tensor(t.numpy())")
    return ""


def expect_tensor(value: Any, where: str, arg: str) -> None:
    """TypeError unless ``value`` is a lucid.Tensor, naming the function and the argument."""
    if not isinstance(value, TensorBase):
        hint = foreign_tensor_hint(value)
        raise TypeError(f"{where}: {arg} must be a lucid.Tensor"
                        + (hint or f", got {type(value).__module__}.{type(value).__qualname__}"))


def as_operand(value: Any, like: TensorBase, where: str) -> Any:
    """A tensor or a Python/numpy number passes through; an array or nested list becomes a
    constant tensor on ``like``'s device; another framework's tensor is refused with a hint."""
    if isinstance(value, TensorBase) or isinstance(value, (bool, int, float, np.number,
                                                           np.bool_)):
        return value
    hint = foreign_tensor_hint(value)
    if hint:
        raise TypeError(f"{where}: expected a lucid.Tensor or a number{hint}")
    try:
        return like._wrap(array_from(value))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: expected a lucid.Tensor or a number, got "
                        f"{type(value).__name__}") from err


def check_devices(where: str, *tensors: TensorBase):
    """The one device all tensor operands share (ops never mix device tags)."""
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise ValueError(f"{where}: expected all tensors on one device, got "
                             f"{str(dev)!r} and {str(t.device)!r}")
    return dev


def normalize_dims(dim: Dims, ndim: int, where: str = "dim") -> tuple:
    """``dim`` (None, an int or a sequence of ints, negative counting from the end) as a
    sorted tuple of axes. A 0-d tensor accepts dim 0 and -1, meaning no axis, as PyTorch."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    span = max(ndim, 1)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{where}: expected an int or a tuple of ints, got {dim!r}")
        if not -span <= d < span:
            raise IndexError(f"{where}: dimension out of range (expected to be in range of "
                             f"[{-span}, {span - 1}], but got {d})")
    axes = sorted({int(d) % span for d in dims})
    if len(axes) != len(dims):
        raise ValueError(f"{where}: dim {dim!r} names an axis twice")
    return tuple(axes) if ndim else ()


def normalize_dim(dim: int, ndim: int, where: str = "dim") -> int:
    """One axis, negative counting from the end."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{where}: expected an int, got {dim!r}")
    span = max(ndim, 1)
    if not -span <= dim < span:
        raise IndexError(f"{where}: dimension out of range (expected to be in range of "
                         f"[{-span}, {span - 1}], but got {dim})")
    return int(dim) % span


def shape_args(args: tuple) -> tuple:
    """Accept f(2, 3) and f((2, 3)) (and a torch-style Size or list)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for n in args:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"size: expected ints, got {args!r}")
    return tuple(int(n) for n in args)
