"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), with PyTorch's placement of
eps and optional AMSGrad."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid.optim.optimizer import Optimizer, check_non_negative


class Adam(Optimizer):
    """``torch.optim.Adam``'s update, step for step.

    At step ``k`` (from 1), with gradient ``g`` of parameter ``p``::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g            (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                      (amsgrad only; then v_max replaces v below)
        p = p - lr / (1 - beta1**k) * m / (sqrt(v) / sqrt(1 - beta2**k) + eps)

    Parameters
    ----------
    params : iterable of Tensor, or of dicts (parameter groups)
        Typically ``model.parameters()``.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root of ``v``.
    weight_decay : float, default 0
        L2 penalty coefficient (added to the gradient; this is Adam, not AdamW).
    amsgrad : bool, default False
        Divide by the running maximum of ``v`` (Reddi et al., 2018).

    Examples
    --------
    >>> import lucid
    >>> w = lucid.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = lucid.optim.Adam([w], lr=0.1)
    >>> (w * 3.0).sum().backward()
    >>> opt.step()  # the first step moves each entry by about lr, against its gradient's sign
    >>> w
    Tensor([ 0.9, -1.1], requires_grad=True)
    """

    decoupled = False  # AdamW: weight decay shrinks p directly instead of entering g

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_non_negative(name, lr=group["lr"], eps=group["eps"],
                           weight_decay=group["weight_decay"])
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {beta!r}")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        k = state["step"]
        if wd and self.decoupled:
            param *= 1 - lr * wd
        elif wd:
            grad = grad + wd * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)  # PyTorch's lerp form of beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.sqrt(v) / math.sqrt(1 - beta2**k) + group["eps"]
        param -= (lr / (1 - beta1**k)) * m / denom


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay. Before the Adam step each
    parameter is shrunk, ``p = p * (1 - lr * weight_decay)``, instead of the decay entering
    the gradient. Arguments as :class:`Adam`, but ``weight_decay`` defaults to 0.01.

    >>> import lucid
    >>> w = lucid.tensor([1.0], requires_grad=True)
    >>> opt = lucid.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = lucid.zeros(1)
    >>> opt.step()  # zero gradient: only the decay acts, 1 * (1 - 0.1 * 0.5)
    >>> w
    Tensor([0.95], requires_grad=True)
    """

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
