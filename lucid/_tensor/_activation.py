"""Activations, the ops and their gradients: softmax and log-softmax (stable, with a cheap
closed-form backward), ReLU, tanh, sigmoid and GELU; and the tensor methods that call them
(``t.relu()``, ``t.log_softmax(dim)``, ...). :mod:`lucid.nn.functional` exports the same
functions: the op lives with the tensor, the functional namespace wraps it, as in PyTorch."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lucid import _buffers
from lucid._C import _softmax
from lucid._tensor._base import normalize_dim
from lucid._tensor._graph import record
from lucid._threads import get_num_threads

if TYPE_CHECKING:  # for the annotations only: Tensor is made of this module's mixin
    from lucid._tensor.tensor import Tensor


def _along_rows(kernel, axis: int, *arrays: np.ndarray) -> np.ndarray:
    """Apply a row kernel of lucid/_C/_softmax.pyx along ``axis`` of same-shaped arrays.

    The axis is moved last and made contiguous (a no-op for the usual last-axis case), the
    arrays are seen as (rows, C), and the result is moved back.
    """
    last = axis == arrays[0].ndim - 1  # the usual case, spared moveaxis' cost per call
    moved = [np.ascontiguousarray(a if last else np.moveaxis(a, axis, -1)) for a in arrays]
    out = _buffers.empty(moved[0].shape, moved[0].dtype)
    if out.size:
        C = out.shape[-1]
        kernel(*(m.reshape(-1, C) for m in moved), out.reshape(-1, C), get_num_threads())
    return out if last else np.moveaxis(out, -1, axis)


def _float_data(x: Tensor, name: str) -> np.ndarray:
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a float32 or float64 tensor, got {x.dtype}")
    return x.numpy()


def _softmax_axis(x: Tensor, dim: int | None) -> int:
    # one int axis, as PyTorch: a tuple is a TypeError (normalize_dims would take its first)
    return normalize_dim(-1 if dim is None else dim, max(x.ndim, 1))


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """``x - log(sum(exp(x), dim))``, computed stably. ``dim=None`` means the last axis.

    Runs in a fused kernel (lucid/_C/_softmax.pyx): the row maximum is subtracted first, so
    logits of any finite size are fine; float32 stays float32 (sums are taken in double).
    The backward is ``g - exp(out) * g.sum(dim)``, one fused pass too.

    >>> import lucid
    >>> from lucid.nn.functional import log_softmax
    >>> log_softmax(lucid.tensor([0.0, 0.0])).exp()
    Tensor([0.5, 0.5])
    """
    data = _float_data(x, "log_softmax")
    axis = _softmax_axis(x, dim)
    out = _along_rows(_softmax.log_softmax_rows, axis, data.reshape(data.shape or (1,)))
    out = out.reshape(data.shape)
    return record(out, (x,), LogSoftmaxBackward(out, axis), "LogSoftmaxBackward",
                  owned=True)


class LogSoftmaxBackward:
    """The backward of ``out = log_softmax(x, axis)``: ``g - exp(out) * g.sum(axis)``.

    A class rather than a closure so that a consumer of ``out`` can recognise where it came
    from: ctc_loss then writes the gradient with respect to ``x`` in one pass.
    """

    __slots__ = ("out", "axis")

    def __init__(self, out: np.ndarray, axis: int) -> None:
        self.out = out
        self.axis = axis

    def __call__(self, g: np.ndarray):
        shape = g.shape or (1,)
        grad = _along_rows(_softmax.log_softmax_backward_rows, self.axis,
                           g.astype(self.out.dtype, copy=False).reshape(shape),
                           self.out.reshape(shape))
        return (grad.reshape(g.shape),)


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, computed stably. ``dim=None`` means the last axis.

    >>> import lucid
    >>> from lucid.nn.functional import softmax
    >>> softmax(lucid.tensor([[1.0, 1.0, 1.0, 1.0]]), dim=1)
    Tensor([[0.25, 0.25, 0.25, 0.25]])
    """
    axis = _softmax_axis(x, dim)
    out = np.exp(log_softmax(x.detach(), dim).numpy())

    def backward(g: np.ndarray):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return record(out, (x,), backward, "SoftmaxBackward", owned=True)


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)`` elementwise; the gradient at 0 is taken as 0, as in PyTorch.

    >>> import lucid
    >>> from lucid.nn.functional import relu
    >>> relu(lucid.tensor([-1.0, 0.0, 2.0]))
    Tensor([0., 0., 2.])
    """
    data = x.numpy()
    return record(np.maximum(data, 0), (x,), lambda g: (g * (data > 0),), "ReluBackward")


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise; the backward reuses the output: ``g * (1 - out**2)``.

    >>> import lucid
    >>> from lucid.nn.functional import tanh
    >>> tanh(lucid.tensor([0.0]))
    Tensor([0.])
    """
    out = np.tanh(x.numpy())
    return record(out, (x,), lambda g: (g * (1 - out * out),), "TanhBackward")


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))`` elementwise, without overflow for large ``|x|``; the backward
    reuses the output: ``g * out * (1 - out)``.

    >>> import lucid
    >>> from lucid.nn.functional import sigmoid
    >>> sigmoid(lucid.tensor([0.0, 1000.0, -1000.0]))
    Tensor([0.5, 1. , 0. ])
    """
    data = _float_data(x, "sigmoid")
    e = np.exp(-np.abs(data))  # <= 1: no overflow on either side
    out = np.where(data >= 0, 1 / (1 + e), e / (1 + e)).astype(data.dtype, copy=False)
    return record(out, (x,), lambda g: (g * out * (1 - out),), "SigmoidBackward")


# numpy has no erf; math.erf is exact to double rounding, applied element by element
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, ``x * Phi(x)`` with Phi the standard normal CDF; with
    ``approximate="tanh"`` the tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    >>> import lucid
    >>> from lucid.nn.functional import gelu
    >>> gelu(lucid.tensor([0.0, 1.0]))
    Tensor([0.    , 0.8413])
    """
    data = _float_data(x, "gelu").astype(np.float64)
    if approximate == "none":
        cdf = 0.5 * (1 + _erf(data / math.sqrt(2)))
        slope = cdf + data * np.exp(-0.5 * data * data) / math.sqrt(2 * math.pi)
    elif approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        inner = np.tanh(k * (data + 0.044715 * data**3))
        cdf = 0.5 * (1 + inner)
        slope = cdf + 0.5 * data * (1 - inner**2) * k * (1 + 3 * 0.044715 * data**2)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    dtype = x.numpy().dtype
    return record((data * cdf).astype(dtype), (x,), lambda g: (g * slope.astype(dtype),),
                  "GeluBackward")


class ActivationMixin:
    """Activation methods of :class:`lucid.Tensor`: each is the function of the same name
    above, which :mod:`lucid.nn.functional` exports."""

    def relu(self) -> Tensor:
        """:func:`lucid.nn.functional.relu`."""
        return relu(self)

    def sigmoid(self) -> Tensor:
        """:func:`lucid.nn.functional.sigmoid`."""
        return sigmoid(self)

    def tanh(self) -> Tensor:
        """:func:`lucid.nn.functional.tanh`."""
        return tanh(self)

    def softmax(self, dim: int = -1) -> Tensor:
        """:func:`lucid.nn.functional.softmax` along ``dim`` (default: the last axis)."""
        return softmax(self, dim)

    def log_softmax(self, dim: int = -1) -> Tensor:
        """:func:`lucid.nn.functional.log_softmax` along ``dim`` (default: the last axis)."""
        return log_softmax(self, dim)
