"""nn.Module and nn.Parameter: the containers a model is built from."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from lucid._tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module registers as trainable (``requires_grad=True``)."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        arr = data.numpy() if isinstance(data, Tensor) else np.asarray(data)
        device = data.device if isinstance(data, Tensor) else None
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

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) for this module's parameters, then its children's; a
        Parameter shared by two modules is given once."""
        seen = set()
        for name, m in self.named_modules(prefix) if recurse else [(prefix, self)]:
            for pname, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{name}.{pname}" if name else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module and (if ``recurse``) its descendants."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ("" or ``prefix``) and every descendant."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, depth first."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        yield from self._modules.values()

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a sub-module under ``name`` (as setting an attribute does)."""
        setattr(self, name, module)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set ``.grad`` to None (or fill it with zeros)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.numpy()[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient tracking of every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode, recursively; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move or cast every parameter in place (``to("metal")``, ``to(lucid.float64)``,
        ``to(device, dtype)``); the Parameter objects stay the same, so an optimizer built
        before keeps working. Integer dtypes are refused. Returns self."""
        for p in self.parameters():
            moved = p.detach().to(*args, **kwargs)
            if not moved.dtype.is_floating_point:
                raise TypeError(f"Module.to: parameters must stay floating point, got "
                                f"{moved.dtype}")
            p.data = moved
            if p.grad is not None:
                p.grad = p.grad.to(moved.device, moved.dtype)
        return self

    def cpu(self) -> Module:
        """``to("cpu")``."""
        return self.to("cpu")

    def metal(self) -> Module:
        """``to("metal")`` (a tag: computation stays on the CPU)."""
        return self.to("metal")

    def float(self) -> Module:
        """``to(lucid.float32)``."""
        return self.to("float32")

    def double(self) -> Module:
        """``to(lucid.float64)``."""
        return self.to("float64")

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Copies of every parameter, keyed by dotted name (detached tensors, as in lucid).

        >>> import lucid
        >>> model = lucid.nn.Linear(2, 1)
        >>> list(model.state_dict())
        ['weight', 'bias']
        >>> twin = lucid.nn.Linear(2, 1)
        >>> twin.load_state_dict(model.state_dict())
        >>> bool((twin.weight == model.weight).all())
        True
        """
        return OrderedDict((name, Tensor(p.numpy().copy(), device=p.device))
                           for name, p in self.named_parameters())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values (tensors or arrays) into the parameters in place, cast to each
        parameter's dtype. With ``strict`` the names must match exactly; shapes always must."""
        own = dict(self.named_parameters())
        missing, unexpected = set(own) - set(state), set(state) - set(own)
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {sorted(missing)}, "
                           f"unexpected keys {sorted(unexpected)}")
        for name, value in state.items():
            if name not in own:
                continue
            arr = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
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
