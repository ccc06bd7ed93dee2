"""Losses for regression and classification: mse_loss, nll_loss and cross_entropy.

They are compositions of differentiable tensor ops, so their gradients come from the ops'
own; cross_entropy runs the fused log-softmax kernel (lucid/_C/_softmax.pyx) underneath.
Arguments, defaults and reductions are PyTorch's (and lucid 3's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._tensor import Tensor, expect_tensor
from lucid.nn.functional.activation import log_softmax

REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str, name: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target) ** 2``, reduced by ``reduction``.

    >>> import lucid
    >>> from lucid.nn.functional import mse_loss
    >>> mse_loss(lucid.tensor([1.0, 2.0]), lucid.tensor([1.0, 4.0]))
    Tensor(2.)
    """
    expect_tensor(input, "mse_loss", "input")
    expect_tensor(target, "mse_loss", "target")
    _check_reduction(reduction, "mse_loss")
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"mse_loss: input of shape {input.shape} and target of shape "
                         f"{target.shape} do not broadcast") from None
    diff = input - target
    loss = diff * diff
    return loss if reduction == "none" else getattr(loss, reduction)()


def _class_last(input: Tensor, target: Any, name: str) -> tuple:
    """Input seen as (M, C) and target as M class indices, for input of shape (C,), (N, C) or
    (N, C, d1, ...) and target of shape (), (N,) or (N, d1, ...)."""
    expect_tensor(input, name, "input")
    tgt = np.asarray(target.numpy() if isinstance(target, Tensor) else target)
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold class indices (an integer dtype), got "
                        f"{tgt.dtype}; probabilities as targets are not supported")
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have shape (C,), (N, C) or (N, C, d1, ...), got "
                         f"a 0-d tensor")
    want = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if tgt.shape != want:
        raise ValueError(f"{name}: target must have shape {want} for input of shape "
                         f"{input.shape}, got {tgt.shape}")
    C = input.shape[1] if input.ndim > 1 else input.shape[0]
    flat = input.unsqueeze(0) if input.ndim == 1 else input
    flat = flat.permute([0] + list(range(2, flat.ndim)) + [1]).reshape(-1, C)
    return flat, tgt.reshape(-1).astype(np.int64), C, tgt.shape


def _target_weights(tgt: np.ndarray, C: int, weight: Tensor | None, ignore_index: int,
                    dtype: np.dtype, name: str) -> tuple:
    """(valid mask, class index with ignored entries set to 0, per-sample weight)."""
    valid = tgt != ignore_index
    bad = valid & ((tgt < 0) | (tgt >= C))
    if bad.any():
        raise ValueError(f"{name}: target values must be in [0, {C}) or ignore_index="
                         f"{ignore_index}, got {int(tgt[bad][0])}")
    safe = np.where(valid, tgt, 0)
    if weight is None:
        w = valid.astype(dtype)
    else:
        expect_tensor(weight, name, "weight")
        if weight.shape != (C,):
            raise ValueError(f"{name}: weight must have shape ({C},), got {weight.shape}")
        w = weight.numpy().astype(dtype)[safe] * valid
    return valid, safe, w


def _reduce(losses: Tensor, w: np.ndarray, reduction: str, shape: tuple) -> Tensor:
    if reduction == "none":
        return losses.reshape(shape)
    total = losses.sum()
    # mean divides by the summed weights of the counted samples (all ignored: 0/0 = NaN)
    return total if reduction == "sum" else total / w.sum()


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices: ``-weight[t] * input[n, t]``.

    Parameters
    ----------
    input : Tensor, shape (C,), (N, C) or (N, C, d1, ...)
        Log-probabilities, the class axis second (first when unbatched).
    target : Tensor or array of ints, shape (), (N,) or (N, d1, ...)
        Class indices in ``[0, C)``, or ``ignore_index``.
    weight : Tensor, shape (C,), optional
        A weight per class.
    ignore_index : int, default -100
        Targets with this value add nothing, neither to the loss nor to the mean's divisor.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the total weight of the counted targets.

    >>> import lucid
    >>> from lucid.nn.functional import nll_loss
    >>> nll_loss(lucid.tensor([[-1.0, -2.0], [-3.0, -4.0]]), lucid.tensor([1, 0]))
    Tensor(2.5)
    """
    _check_reduction(reduction, "nll_loss")
    flat, tgt, C, shape = _class_last(input, target, "nll_loss")
    _, safe, w = _target_weights(tgt, C, weight, ignore_index, flat.numpy().dtype, "nll_loss")
    losses = -flat[np.arange(len(safe)), safe] * w
    return _reduce(losses, w, reduction, shape)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) over the class axis and class-index targets:
    ``nll_loss(log_softmax(input, dim=1), target)``, optionally smoothed.

    With ``label_smoothing = e`` the target distribution is ``(1 - e)`` on the class plus
    ``e / C`` spread over all classes, as in PyTorch. Arguments as :func:`nll_loss`, with raw
    scores (logits) as ``input``.

    >>> import lucid
    >>> from lucid.nn.functional import cross_entropy
    >>> logits = lucid.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(cross_entropy(logits, lucid.tensor([0, 2])).item(), 4)
    0.6691
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing!r}")
    expect_tensor(input, "cross_entropy", "input")
    logp = log_softmax(input, dim=1 if input.ndim > 1 else 0)
    flat, tgt, C, shape = _class_last(logp, target, "cross_entropy")
    valid, safe, w = _target_weights(tgt, C, weight, ignore_index, flat.numpy().dtype,
                                     "cross_entropy")
    losses = -flat[np.arange(len(safe)), safe] * w
    loss = _reduce(losses, w, reduction, shape)
    if label_smoothing == 0:
        return loss
    class_w = 1.0 if weight is None else weight.numpy().astype(flat.numpy().dtype)
    smooth = -(flat * class_w).sum(dim=1) * valid.astype(flat.numpy().dtype)
    smooth = _reduce(smooth, w, reduction, shape)
    return (1 - label_smoothing) * loss + (label_smoothing / C) * smooth
