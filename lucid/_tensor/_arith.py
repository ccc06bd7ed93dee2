"""Arithmetic: + - * / ** @, negation, and the elementwise math (exp, log, sqrt, abs, clamp,
maximum, minimum), each with its gradient beside it.

Binary ops follow PyTorch's dtype promotion (:func:`lucid._dtype.result_type`) and numpy's
broadcasting; the autograd engine sums each gradient back over the broadcast axes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lucid._dtype import float_result, result_type
from lucid._tensor._base import TensorBase, as_operand, check_devices
from lucid._tensor._graph import record
from lucid.autograd import unbroadcast


def binary(left: Any, right: Any, name: str, forward: Callable, backward: Callable,
           floating: bool = False, owned: bool = False):
    """Apply ``forward(x, y)`` to two operands, at least one a tensor, and record
    ``backward(g, x, y, out) -> (gx, gy)``; the gradient of a number operand is dropped.
    ``floating=True`` gives integer inputs a float result (true division); ``owned`` is
    record's (backward returns new arrays)."""
    tensors = [v for v in (left, right) if isinstance(v, TensorBase)]
    dev = check_devices(name.removesuffix("Backward").lower(), *tensors)
    raw = [v._data if isinstance(v, TensorBase) else v for v in (left, right)]
    dtype = result_type(*raw)
    if floating:
        dtype = float_result(dtype)
    x = np.asarray(raw[0]).astype(dtype, copy=False)
    y = np.asarray(raw[1]).astype(dtype, copy=False)
    out = np.asarray(forward(x, y)).astype(dtype, copy=False)

    def grads(g: np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            pair = backward(g, x, y, out)
        return tuple(gr for v, gr in zip((left, right), pair) if isinstance(v, TensorBase))

    return record(out, tensors, grads, name, device=dev, owned=owned)


def quiet(fn: Callable) -> Callable:
    """``fn`` without numpy's warnings for inf and NaN results (PyTorch returns them silently);
    only the ops that can make them pay for the context switch."""

    def wrapped(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(*args)

    return wrapped


_true_divide, _power = quiet(np.true_divide), quiet(np.power)


def unary(t: TensorBase, name: str, forward: Callable, backward: Callable,
          floating: bool = True):
    """Apply ``forward(x)`` and record ``backward(g, x, out) -> gx``. Integer tensors give a
    float32 result when ``floating`` (exp, log, sqrt), as in PyTorch."""
    x = t._data
    if floating:
        x = x.astype(float_result(x.dtype), copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(forward(x)).astype(x.dtype, copy=False)

    def grads(g: np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (backward(g, x, out),)

    return record(out, (t,), grads, name)


# ---------------------------------------------------------------------- gradients
def _add(g, x, y, out):
    return g, g


def _sub(g, x, y, out):
    return g, -g


def _mul(g, x, y, out):
    return g * y, g * x


def _div(g, x, y, out):
    return g / y, -g * out / y


def _pow(g, x, y, out):
    # d/dx x**y = y * x**(y-1), taken as 0 where y == 0 (x**0 is constant, even at x = 0,
    # where the formula would give 0 * inf); d/dy = out * log(x), taken as 0 at x == 0, y >= 0.
    gx = np.where(y == 0, 0.0, g * y * np.power(x, y - 1))
    gy = np.where((x == 0) & (y >= 0), 0.0, g * out * np.log(np.where(x == 0, 1, x)))
    return gx, gy


def _maximum(g, x, y, out):
    # ties share the gradient equally, as PyTorch's maximum
    wx = (x > y) + 0.5 * (x == y)
    return g * wx, g * (1 - wx)


def _minimum(g, x, y, out):
    wx = (x < y) + 0.5 * (x == y)
    return g * wx, g * (1 - wx)


def _matmul_backward(g, a, b, out):
    """Gradients of a @ b; 1-D operands are promoted to matrices and the result squeezed back."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if b.ndim == 1:  # restore b's column axis first: for 1-D @ 1-D g is 0-d
        g2 = np.expand_dims(g2, -1)
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
    return ga, gb


class ArithMixin:
    """Arithmetic operators and elementwise math of :class:`lucid.Tensor`."""

    def add(self, other: Any) -> Any:
        """``self + other`` (broadcasting)."""
        return binary(self, as_operand(other, self, "add"), "AddBackward", np.add, _add)

    def sub(self, other: Any) -> Any:
        """``self - other`` (broadcasting)."""
        return binary(self, as_operand(other, self, "sub"), "SubBackward", np.subtract, _sub)

    def mul(self, other: Any) -> Any:
        """``self * other`` (broadcasting)."""
        return binary(self, as_operand(other, self, "mul"), "MulBackward", np.multiply, _mul)

    def div(self, other: Any) -> Any:
        """``self / other``: true division, so integer tensors give float32."""
        return binary(self, as_operand(other, self, "div"), "DivBackward", _true_divide,
                      _div, floating=True)

    def pow(self, exponent: Any) -> Any:
        """``self ** exponent``; the exponent may be a number or a tensor."""
        return binary(self, as_operand(exponent, self, "pow"), "PowBackward", _power, _pow)

    def matmul(self, other: Any) -> Any:
        """Matrix product with numpy's ``@`` rules (1-D operands, batch broadcasting)."""
        other = as_operand(other, self, "matmul")
        if not isinstance(other, TensorBase):
            raise TypeError("matmul: both operands must be tensors, got a number")
        return binary(self, other, "MatmulBackward", np.matmul, _matmul_backward, owned=True)

    def maximum(self, other: Any) -> Any:
        """Elementwise larger of the two operands; ties share the gradient."""
        return binary(self, as_operand(other, self, "maximum"), "MaximumBackward", np.maximum,
                      _maximum)

    def minimum(self, other: Any) -> Any:
        """Elementwise smaller of the two operands; ties share the gradient."""
        return binary(self, as_operand(other, self, "minimum"), "MinimumBackward", np.minimum,
                      _minimum)

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __pow__ = pow
    __matmul__ = matmul

    def __radd__(self, other: Any) -> Any:
        return binary(as_operand(other, self, "add"), self, "AddBackward", np.add, _add)

    def __rsub__(self, other: Any) -> Any:
        return binary(as_operand(other, self, "sub"), self, "SubBackward", np.subtract, _sub)

    def __rmul__(self, other: Any) -> Any:
        return binary(as_operand(other, self, "mul"), self, "MulBackward", np.multiply, _mul)

    def __rtruediv__(self, other: Any) -> Any:
        return binary(as_operand(other, self, "div"), self, "DivBackward", _true_divide,
                      _div, floating=True)

    def __rpow__(self, other: Any) -> Any:
        return binary(as_operand(other, self, "pow"), self, "PowBackward", _power, _pow)

    def __rmatmul__(self, other: Any) -> Any:
        return as_operand(other, self, "matmul").matmul(self)

    def __neg__(self) -> Any:
        return unary(self, "NegBackward", np.negative, lambda g, x, out: -g, floating=False)

    neg = __neg__

    def __pos__(self) -> Any:
        return self

    def abs(self) -> Any:
        """Elementwise absolute value; the gradient at 0 is 0, as in PyTorch."""
        return unary(self, "AbsBackward", np.abs, lambda g, x, out: g * np.sign(x),
                     floating=False)

    __abs__ = abs

    def exp(self) -> Any:
        """Elementwise exponential."""
        return unary(self, "ExpBackward", np.exp, lambda g, x, out: g * out)

    def log(self) -> Any:
        """Elementwise natural logarithm."""
        return unary(self, "LogBackward", np.log, lambda g, x, out: g / x)

    def sqrt(self) -> Any:
        """Elementwise square root."""
        return unary(self, "SqrtBackward", np.sqrt, lambda g, x, out: g / (2 * out))

    def square(self) -> Any:
        """Elementwise ``self * self``."""
        return unary(self, "SquareBackward", np.square, lambda g, x, out: 2 * g * x,
                     floating=False)

    def clamp(self, min: float | None = None, max: float | None = None) -> Any:
        """Limit every element to ``[min, max]`` (either bound may be None). The gradient passes
        where ``min <= x <= max``, bounds included, as in PyTorch."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        lo = -np.inf if min is None else min
        hi = np.inf if max is None else max
        return unary(self, "ClampBackward", lambda x: np.clip(x, lo, hi),
                     lambda g, x, out: g * ((x >= lo) & (x <= hi)), floating=False)

    clip = clamp
