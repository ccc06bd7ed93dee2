"""Softmax and log-softmax: numerically stable, dtype-preserving, with a cheap closed-form backward."""

from __future__ import annotations

from typing import Optional

import numpy as np

from lucid._tensor import Tensor, _axes, _record


def _log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    # Subtracting the max keeps exp() in range for logits of any size (+-1e4 included).
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax(x: Tensor, dim: Optional[int] = None) -> Tensor:
    """``x - log(sum(exp(x), dim))``, computed stably. ``dim=None`` means the last axis.

    The backward is ``g - exp(out) * g.sum(dim)``, one pass with no graph of primitives.

    >>> import lucid
    >>> from lucid.nn.functional import log_softmax
    >>> log_softmax(lucid.tensor([0.0, 0.0])).exp()
    Tensor([0.5, 0.5])
    """
    axis = _axes(-1 if dim is None else dim, x.ndim)[0] if x.ndim else 0
    out = _log_softmax_array(x.numpy(), axis) if x.ndim else np.zeros_like(x.numpy())

    def backward(g: np.ndarray):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return _record(out, (x,), backward, "LogSoftmaxBackward")


def softmax(x: Tensor, dim: Optional[int] = None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, computed stably. ``dim=None`` means the last axis.

    >>> import lucid
    >>> from lucid.nn.functional import softmax
    >>> softmax(lucid.tensor([[1.0, 1.0, 1.0, 1.0]]), dim=1)
    Tensor([[0.25, 0.25, 0.25, 0.25]])
    """
    axis = _axes(-1 if dim is None else dim, x.ndim)[0] if x.ndim else 0
    out = np.exp(_log_softmax_array(x.numpy(), axis)) if x.ndim else np.ones_like(x.numpy())

    def backward(g: np.ndarray):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return _record(out, (x,), backward, "SoftmaxBackward")
