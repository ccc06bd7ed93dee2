"""nn.Module and nn.Parameter: the containers a model is built from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lucid._tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module registers as trainable (``requires_grad=True``)."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        arr = data.numpy() if isinstance(data, Tensor) else np.asarray(data)
        device = data.device if isinstance(data, Tensor) else "cpu"
        super().__init__(arr, device=device, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class for layers and models: holds Parameters and sub-Modules set as attributes.

    Subclasses define ``forward``; calling the module calls it.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before setting {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) for this module's parameters, then its children's."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> Iterator[Parameter]:
        """Every Parameter of this module and its children."""
        for _, p in self.named_parameters():
            yield p

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        yield from self._modules.values()

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode, recursively."""
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's array, keyed by dotted name."""
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into the parameters in place; names and shapes must match exactly."""
        own = dict(self.named_parameters())
        missing, unexpected = set(own) - set(state), set(state) - set(own)
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {sorted(missing)}, "
                           f"unexpected keys {sorted(unexpected)}")
        for name, value in state.items():
            arr = np.asarray(value)
            if arr.shape != own[name].shape:
                raise ValueError(f"load_state_dict: {name} expects shape {own[name].shape}, "
                                 f"got {arr.shape}")
            own[name].numpy()[...] = arr

    def extra_repr(self) -> str:
        """What the repr shows between the parentheses."""
        return ""

    def __repr__(self) -> str:
        lines = [
            f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()
        ]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")
