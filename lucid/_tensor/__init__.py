"""lucid.Tensor and the free functions that mirror its methods, split by op family."""

from lucid._tensor._base import Dims, expect_tensor, normalize_dims, shape_args
from lucid._tensor._compare import where
from lucid._tensor._graph import record
from lucid._tensor._shape import cat, stack
from lucid._tensor.tensor import Tensor

__all__ = ["Tensor", "Dims", "cat", "stack", "where", "expect_tensor", "normalize_dims",
           "shape_args", "record"]
