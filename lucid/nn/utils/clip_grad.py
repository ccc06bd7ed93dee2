"""Gradient clipping: by the norm of all gradients together, or element by element.

Call between ``loss.backward()`` and ``optimizer.step()``. The norm is PyTorch's: the p-norm of
every gradient element of every parameter, as if they were one vector (computed in float64).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid._tensor import Tensor, expect_tensor

EPS = 1e-6  # added to the norm before dividing, as PyTorch does


def _tensors(parameters: Any, where: str) -> list:
    """A single tensor or an iterable of them, as a list."""
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(f"{where}: parameters must be a Tensor or an iterable of tensors, got "
                        f"{type(parameters).__name__}") from None
    for i, p in enumerate(items):
        expect_tensor(p, where, f"parameters[{i}]")
    return items


def _norm_type(norm_type: Any, where: str) -> float:
    try:
        p = float(norm_type)  # PyTorch accepts "inf" too
    except (TypeError, ValueError):
        p = math.nan
    if not p > 0:  # also refuses nan
        raise ValueError(f"{where}: norm_type must be a number > 0 or inf, got {norm_type!r}")
    return p


def _total_norm(grads: list, p: float, error_if_nonfinite: bool, where: str) -> Tensor:
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    data = [g.numpy().astype(np.float64, copy=False).ravel() for g in grads]
    if p == math.inf:
        total = float(np.max([np.abs(d).max(initial=0.0) for d in data]))  # nan propagates
    else:
        total = math.fsum(float(np.sum(np.abs(d) ** p)) for d in data) ** (1.0 / p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{where}: the total norm of order {p} of the gradients is "
                           f"non-finite ({total}), so it cannot be clipped; pass "
                           f"error_if_nonfinite=False to scale the gradients by it anyway")
    dtype = np.result_type(*(g.numpy().dtype for g in grads))
    return Tensor(np.array(total, dtype=dtype), device=grads[0].device)


def get_total_norm(tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all the given gradients together, as a 0-d tensor.

    ``tensors`` may be parameters, as in lucid 3 (a tensor that requires grad stands for its
    ``.grad``; those without one are skipped), or the gradient tensors themselves, as in
    PyTorch. ``foreach`` is accepted and ignored.

    >>> import lucid
    >>> from lucid.nn.utils import get_total_norm
    >>> get_total_norm([lucid.tensor([3.0]), lucid.tensor([4.0])])
    Tensor(5.)
    """
    items = _tensors(tensors, "get_total_norm")
    grads = [t.grad if t.requires_grad else t for t in items]
    p = _norm_type(norm_type, "get_total_norm")
    return _total_norm([g for g in grads if g is not None], p, error_if_nonfinite,
                       "get_total_norm")


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total norm (see
    :func:`get_total_norm`) is at most ``max_norm``; returns the norm from before, a 0-d
    tensor (lucid 3 returns it with shape (1,)).

    Every gradient is multiplied by ``min(1, max_norm / (total_norm + 1e-6))``, so their
    direction is kept. ``norm_type`` is p of the p-norm (``float("inf")`` for the largest
    absolute value). With a non-finite norm the gradients become non-finite too, unless
    ``error_if_nonfinite=True``, which raises RuntimeError instead. Parameters whose ``.grad``
    is None are skipped; ``foreach`` is accepted and ignored.

    >>> import lucid
    >>> from lucid.nn.utils import clip_grad_norm_
    >>> w = lucid.tensor([1.0, 1.0], requires_grad=True)
    >>> (w * lucid.tensor([3.0, 4.0])).sum().backward()
    >>> clip_grad_norm_([w], max_norm=1.0)
    Tensor(5.)
    >>> w.grad
    Tensor([0.6, 0.8])
    """
    items = _tensors(parameters, "clip_grad_norm_")
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.number)) \
            or not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm!r}")
    p = _norm_type(norm_type, "clip_grad_norm_")
    grads = [t.grad for t in items if t.grad is not None]
    total = _total_norm(grads, p, error_if_nonfinite, "clip_grad_norm_")
    with np.errstate(invalid="ignore"):  # inf * 0 and nan give nan, as in PyTorch
        coef = np.minimum(float(max_norm) / (float(total.item()) + EPS), 1.0)
        for g in grads:
            g.numpy()[...] *= coef
    return total


clip_grad_norm = clip_grad_norm_  # lucid 3's (and PyTorch's deprecated) name without "_"


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element of ``parameters`` to [-clip_value, clip_value] in place.

    >>> import lucid
    >>> from lucid.nn.utils import clip_grad_value_
    >>> w = lucid.tensor([1.0, 1.0], requires_grad=True)
    >>> (w * lucid.tensor([-3.0, 0.5])).sum().backward()
    >>> clip_grad_value_(w, 1.0)
    >>> w.grad
    Tensor([-1. ,  0.5])
    """
    items = _tensors(parameters, "clip_grad_value_")
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float, np.number)) \
            or not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a number >= 0, got "
                         f"{clip_value!r}")
    for t in items:
        if t.grad is not None:
            np.clip(t.grad.numpy(), -clip_value, clip_value, out=t.grad.numpy())
