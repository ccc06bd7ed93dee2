"""nn.LayerNorm: normalisation over the trailing axes with a learned scale and shift."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lucid._dtype import DTypeLike, get_default_dtype, to_dtype
from lucid._tensor import Tensor
from lucid.nn import functional as F
from lucid.nn.module import Module, Parameter


class LayerNorm(Module):
    """:func:`lucid.nn.functional.layer_norm` with ``weight`` (ones) and ``bias`` (zeros) of
    shape ``normalized_shape`` when ``elementwise_affine``.

    >>> import lucid
    >>> lucid.nn.LayerNorm(4)(lucid.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        dt = to_dtype(dtype or get_default_dtype()).np_dtype
        self.weight = Parameter(np.ones(shape, dtype=dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype=dt)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
