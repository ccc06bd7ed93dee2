"""The Optimizer base class: the parameter list, per-parameter state, ``step`` and ``zero_grad``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid._tensor import Tensor


class Optimizer:
    """Holds the parameters to update and one state dict per parameter.

    Subclasses implement :meth:`_update`, which changes one parameter's array in place, so a
    model's Parameters stay the same objects. Parameters whose ``.grad`` is None are skipped.
    """

    def __init__(self, params: Iterable[Tensor]) -> None:
        name = type(self).__name__
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params[{i}] must be a lucid.Tensor, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: params[{i}] is not a leaf tensor; only leaves can be "
                                 f"optimised")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: a parameter appears more than once in params")
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, once."""
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.numpy(), p.grad.numpy(), state)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError


def check_non_negative(owner: str, **values: float) -> None:
    """Reject negative (or NaN) hyperparameters, naming the argument."""
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
