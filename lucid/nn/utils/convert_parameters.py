"""All parameters as one vector and back, as ``torch.nn.utils.parameters_to_vector``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lucid._tensor import Tensor, cat, expect_tensor
from lucid._tensor._base import check_devices


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined into one 1-D tensor, in order (differentiable).

    >>> import lucid
    >>> from lucid.nn.utils import parameters_to_vector
    >>> parameters_to_vector([lucid.ones(2, 2), lucid.zeros(1)])
    Tensor([1., 1., 1., 1., 0.])
    """
    params = _checked(parameters, "parameters_to_vector")
    check_devices("parameters_to_vector", *params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Give the parameters, in order, the values of consecutive slices of ``vec`` (a 1-D
    tensor of exactly as many elements), replacing their data as ``p.data = ...`` would.

    >>> import lucid
    >>> from lucid.nn.utils import vector_to_parameters
    >>> a, b = lucid.zeros(2, requires_grad=True), lucid.zeros(1, requires_grad=True)
    >>> vector_to_parameters(lucid.tensor([1.0, 2.0, 3.0]), [a, b])
    >>> a, b
    (Tensor([1., 2.], requires_grad=True), Tensor([3.], requires_grad=True))
    """
    expect_tensor(vec, "vector_to_parameters", "vec")
    params = _checked(parameters, "vector_to_parameters")
    sizes = [p.numel() for p in params]
    if vec.ndim != 1 or vec.numel() != sum(sizes):
        raise ValueError(f"vector_to_parameters: vec must be 1-D with {sum(sizes)} elements "
                         f"(the parameters' total), got shape {vec.shape}")
    pieces = np.split(vec.numpy(), np.cumsum(sizes)[:-1])
    for p, piece in zip(params, pieces):
        p.data = Tensor(piece.reshape(p.shape).astype(p.numpy().dtype), device=p.device)


def _checked(parameters: Iterable[Tensor], where: str) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError(f"{where}: got no parameters")
    for i, p in enumerate(params):
        expect_tensor(p, where, f"parameters[{i}]")
    return params
