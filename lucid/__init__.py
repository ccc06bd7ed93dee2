"""lucid-ctc: a small, readable slice of the lucid deep learning API built around a fast CTC loss.

>>> import lucid
>>> lucid.manual_seed(0)
>>> lucid.randn(2, 3).shape
(2, 3)
"""

from lucid import _C
from lucid._C import show_config
from lucid._dtype import DType, bool_, float32, float64, int32, int64
from lucid._factories import arange, manual_seed, ones, randn, tensor, zeros
from lucid._tensor import Tensor
from lucid._threads import get_num_threads, set_num_threads
from lucid.autograd import is_grad_enabled, no_grad

# isort: split
from lucid import nn, optim  # after the core names, which they build on

__version__ = "0.1.0"

__all__ = [
    "Tensor", "DType", "float32", "float64", "int32", "int64", "bool_",
    "tensor", "randn", "zeros", "ones", "arange", "manual_seed",
    "no_grad", "is_grad_enabled", "set_num_threads", "get_num_threads", "nn", "_C",
    "show_config",
    "optim",
]
