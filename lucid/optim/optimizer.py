"""The Optimizer base class: parameter groups, per-parameter state, ``step``, ``zero_grad`` and
``state_dict``, as torch.optim (and lucid 3's optim) lay them out."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from lucid._tensor import Tensor, expect_tensor


class Optimizer:
    """Holds parameter groups and one state dict per parameter.

    ``params`` is an iterable of tensors or of dicts ``{"params": [...], "lr": ...}``; each
    dict is a group whose missing hyperparameters take the constructor's values
    (``defaults``). Subclasses implement :meth:`_update`, which changes one parameter's array in
    place, so a model's Parameters stay the same objects. Parameters whose ``.grad`` is None
    are skipped.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors or of dicts, got a "
                            f"single Tensor; pass [tensor]")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            self.add_param_group(group)
        self.state: dict[Tensor, dict[str, Any]] = {}

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        name = type(self).__name__
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            expect_tensor(p, name, f"params[{i}]")
            if not p.is_leaf:
                raise ValueError(f"{name}: params[{i}] is not a leaf tensor; only leaves can be "
                                 f"optimised")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen & set(ids):
            raise ValueError(f"{name}: a parameter appears more than once in params")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{name}: unknown hyperparameters {sorted(unknown)} in a param group")
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyperparameters (subclasses)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set ``.grad`` to None (or fill it with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.numpy()[...] = 0

    def step(self) -> None:
        """Update every parameter that has a gradient, once."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.numpy(), p.grad.numpy(), self.state.setdefault(p, {}),
                                 group)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state (copied), with parameters named by their position, as in
        PyTorch: ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``."""
        index, groups, position = {}, [], 0
        for group in self.param_groups:
            ids = list(range(position, position + len(group["params"])))
            index.update({id(p): i for p, i in zip(group["params"], ids)})
            position += len(ids)
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` of an optimizer over
        parameters of the same shapes, in the same order."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"])
                for g, own in zip(groups, self.param_groups)):
            raise ValueError(f"{name}.load_state_dict: the saved groups do not match this "
                             f"optimizer's parameter groups in number or size")
        by_index = {i: p for g, own in zip(groups, self.param_groups)
                    for i, p in zip(g["params"], own["params"])}
        for g, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter {i}")
            self.state[p] = {k: np.array(v, dtype=p.numpy().dtype) if isinstance(v, np.ndarray)
                             else v for k, v in copy.deepcopy(s).items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def check_non_negative(owner: str, **values: float) -> None:
    """Reject negative (or NaN) hyperparameters, naming the argument."""
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
