"""Layers: Linear, the activations, context-window stacking over time, and Sequential."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from lucid import _factories
from lucid._dtype import DTypeLike, get_default_dtype, to_dtype
from lucid._tensor import Tensor
from lucid.nn import functional as F
from lucid.nn.module import Module, Parameter


def uniform_parameter(bound: float, shape: tuple, dtype: DTypeLike) -> Parameter:
    # Drawn from lucid's global generator, so lucid.manual_seed makes initialisation repeatable.
    data = _factories.generator().uniform(-bound, bound, size=shape)
    return Parameter(data.astype(to_dtype(dtype).np_dtype))


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis, initialised as PyTorch's ``nn.Linear``.

    ``weight`` (out_features, in_features) and ``bias`` (out_features,) are both drawn from
    U(-1/sqrt(in_features), 1/sqrt(in_features)); for the weight that is PyTorch's
    ``kaiming_uniform_(a=sqrt(5))``, whose bound ``sqrt(6 / ((1 + a**2) * fan_in))`` reduces to it.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output, each >= 1.
    bias : bool, default True
        Whether to add a learned bias.
    dtype : lucid dtype, default: the default dtype (float32)
        Floating-point dtype of the parameters.

    Examples
    --------
    >>> import lucid
    >>> layer = lucid.nn.Linear(3, 2)
    >>> layer(lucid.randn(5, 3)).shape
    (5, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        dtype = dtype or get_default_dtype()
        if not to_dtype(dtype).is_floating_point:
            raise TypeError(f"Linear: dtype must be floating point, got {to_dtype(dtype)}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = uniform_parameter(bound, (out_features, in_features), dtype)
        self.bias = uniform_parameter(bound, (out_features,), dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """Elementwise ``max(x, 0)``; see :func:`lucid.nn.functional.relu`.

    >>> import lucid
    >>> lucid.nn.ReLU()(lucid.tensor([-1.0, 3.0]))
    Tensor([0., 3.])
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Tanh(Module):
    """Elementwise hyperbolic tangent; see :func:`lucid.nn.functional.tanh`.

    >>> import lucid
    >>> lucid.nn.Tanh()(lucid.tensor([0.0]))
    Tensor([0.])
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ContextWindow(Module):
    """Stack each frame of a ``(T, *, F)`` input with its neighbours; see
    :func:`lucid.nn.functional.context_window`. Followed by :class:`Linear` it is a 1-D
    convolution over time.

    >>> import lucid
    >>> lucid.nn.ContextWindow(2, 1)(lucid.randn(7, 4, 5)).shape
    (7, 4, 20)
    """

    def __init__(self, left: int, right: int) -> None:
        super().__init__()
        self.left, self.right = left, right

    def forward(self, x: Tensor) -> Tensor:
        return F.context_window(x, self.left, self.right)

    def extra_repr(self) -> str:
        return f"left={self.left}, right={self.right}"


class Sequential(Module):
    """Modules applied one after the other; they are registered as "0", "1", ...

    >>> import lucid
    >>> model = lucid.nn.Sequential(lucid.nn.Linear(4, 8), lucid.nn.ReLU(), lucid.nn.Linear(8, 2))
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> model(lucid.randn(3, 4)).shape
    (3, 2)
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module, got "
                                f"{type(module).__name__}")
            setattr(self, str(i), module)

    def forward(self, x: Tensor) -> Tensor:
        for module in self:
            x = module(x)
        return x

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]
