"""lucid-ctc: a small, readable slice of the lucid 3 deep learning API built around a fast
CTC loss.

>>> import lucid
>>> lucid.manual_seed(0)
>>> lucid.randn(2, 3).shape
(2, 3)
"""

from lucid import _C
from lucid._config import show_config
from lucid._device import device, get_default_device, set_default_device
from lucid._dtype import (
    DType,
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
)
from lucid._factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from lucid._functions import (
    abs,
    argmax,
    argmin,
    clamp,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    permute,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    std,
    sum,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
)
from lucid._missing import module_getattr
from lucid._random import Generator, initial_seed, manual_seed, seed
from lucid._serialization import load, save
from lucid._tensor import Tensor, cat, stack, where
from lucid._threads import get_num_threads, set_num_threads
from lucid._version import __version__ as __version__
from lucid.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

# isort: split
from lucid import (  # after the core names, which they build on
    ctc,  # after nn.functional, whose checks it shares
    metal,
    nn,
    optim,
    utils,
)
from lucid.nn.functional._ctc_checks import LogProbsWarning

LUCID_VERSION = "3.8.0"  # the lucid release whose API this package mirrors

dtype = DType  # lucid 3's name for the dtype class

__all__ = [
    "Tensor", "DType", "dtype", "device", "LUCID_VERSION",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "bool_",
    "half", "double", "short", "long",
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "eye", "arange",
    "linspace", "randn", "rand", "randint", "zeros_like", "ones_like", "full_like",
    "empty_like", "randn_like", "rand_like", "randperm",
    "Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
    "set_default_dtype", "get_default_dtype", "set_default_device", "get_default_device",
    "sum", "mean", "var", "std", "max", "min", "argmax", "argmin", "topk", "exp", "log", "sqrt",
    "abs", "clamp", "maximum", "minimum", "matmul", "reshape", "flatten", "squeeze",
    "unsqueeze", "permute", "transpose", "sigmoid", "tanh", "softmax", "log_softmax",
    "cat", "stack", "where", "save", "load",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "set_num_threads", "get_num_threads", "show_config", "metal", "nn", "optim", "utils", "ctc",
    "_C",
    "LogProbsWarning",
]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
