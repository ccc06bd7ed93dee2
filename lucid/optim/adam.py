"""Adam (Kingma & Ba, 2015), with PyTorch's placement of eps and optional AMSGrad."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid._tensor import Tensor
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
    params : iterable of Tensor
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

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params)
        check_non_negative("Adam", lr=lr, eps=eps, weight_decay=weight_decay)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam: betas[{i}] must be in [0, 1), got {beta!r}")
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.weight_decay, self.amsgrad = weight_decay, amsgrad

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        k = state["step"]
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)  # PyTorch's lerp form of beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * grad * grad
        if self.amsgrad:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.sqrt(v) / math.sqrt(1 - beta2**k) + self.eps
        param -= (self.lr / (1 - beta1**k)) * m / denom
