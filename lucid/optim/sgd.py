"""Stochastic gradient descent with optional momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid.optim.optimizer import Optimizer, check_non_negative


class SGD(Optimizer):
    """``torch.optim.SGD``'s update, step for step.

    With gradient ``g`` of parameter ``p``, learning rate ``lr``, momentum ``mu``, dampening
    ``tau`` and weight decay ``lambda``::

        g = g + lambda * p
        b = g                          on the first step
        b = mu * b + (1 - tau) * g     after it        (only when mu != 0)
        g = g + mu * b  if nesterov else  b
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Tensor
        Typically ``model.parameters()``.
    lr : float
        Required, as in lucid and PyTorch.
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
        L2 penalty coefficient (added to the gradient).
    nesterov : bool, default False
        Needs ``momentum > 0`` and ``dampening == 0``.

    Examples
    --------
    >>> import lucid
    >>> w = lucid.tensor([1.0], requires_grad=True)
    >>> opt = lucid.optim.SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     w.sum().backward()  # gradient 1 each time
    ...     opt.step()
    >>> w  # 1 - 0.5 * 1, then - 0.5 * (0.9 * 1 + 1)
    Tensor([-0.45], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_non_negative("SGD", lr=group["lr"], momentum=group["momentum"],
                           weight_decay=group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening == 0, got "
                             f"momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r}")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param -= group["lr"] * grad
