"""The ops behind the feed-forward layers: an affine map and context-window stacking over time."""

from __future__ import annotations

import numpy as np

from lucid._tensor import Tensor, expect_tensor, record


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` over the last axis of ``x``, as ``torch.nn.functional.linear``.

    Parameters
    ----------
    x : Tensor, shape ``(*, in_features)``
    weight : Tensor, shape (out_features, in_features)
    bias : Tensor, shape (out_features,), optional

    Returns
    -------
    Tensor, shape ``(*, out_features)``

    Examples
    --------
    >>> import lucid
    >>> from lucid.nn.functional import linear
    >>> linear(lucid.ones(2, 3), lucid.ones(4, 3), lucid.zeros(4)).shape
    (2, 4)
    """
    expect_tensor(x, "linear", "x")
    expect_tensor(weight, "linear", "weight")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x must have shape (*, {weight.shape[1]}) to match weight of "
                         f"shape {weight.shape}, got shape {x.shape}")
    lead = x.shape[:-1]
    # One 2-D matmul: a batched one would make the weight gradient a stack of matmuls to sum.
    out = x.reshape(-1, x.shape[-1]) @ weight.transpose(0, 1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight.shape[0])


def context_window(x: Tensor, left: int, right: int) -> Tensor:
    """Stack each frame with its ``left`` predecessors and ``right`` successors along features.

    Frame ``t`` of the output is ``concat(x[t - left], ..., x[t], ..., x[t + right])`` over the
    last axis, frames outside ``[0, T)`` reading as zeros. Followed by :func:`linear`, this is a
    1-D convolution over time with kernel ``left + right + 1`` and zero padding ``(left, right)``.

    Parameters
    ----------
    x : Tensor, shape ``(T, *, F)``
        Time first, features last, as ``ctc_loss``'s ``(T, N, C)`` layout.
    left, right : int
        Frames of past and future context, each >= 0.

    Returns
    -------
    Tensor, shape ``(T, *, (left + right + 1) * F)``

    Examples
    --------
    >>> import lucid
    >>> from lucid.nn.functional import context_window
    >>> context_window(lucid.tensor([[1.0], [2.0], [3.0]]), left=1, right=1)
    Tensor([[0., 1., 2.],
            [1., 2., 3.],
            [2., 3., 0.]])
    """
    for name, value in (("left", left), ("right", right)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"context_window: {name} must be an int >= 0, got {value!r}")
    if x.ndim < 2:
        raise ValueError(f"context_window: x must have shape (T, *, F), got shape {x.shape}")
    data = x.numpy()
    T, F, width = data.shape[0], data.shape[-1], left + 1 + right
    padded = np.zeros((T + left + right,) + data.shape[1:], dtype=data.dtype)
    padded[left:left + T] = data
    out = np.concatenate([padded[k:k + T] for k in range(width)], axis=-1)

    def backward(g: np.ndarray):
        grad = np.zeros_like(padded)
        for k in range(width):
            grad[k:k + T] += g[..., k * F:(k + 1) * F]
        return (grad[left:left + T],)

    return record(out, (x,), backward, "ContextWindowBackward")
