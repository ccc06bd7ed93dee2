"""Convolution and pooling layers over (N, C, L) inputs: Conv1d and MaxPool1d."""

from __future__ import annotations

import math

import numpy as np

from lucid._dtype import DTypeLike, get_default_dtype, to_dtype
from lucid._tensor import Tensor
from lucid.nn import functional as F
from lucid.nn.layers import uniform_parameter
from lucid.nn.module import Module


class Conv1d(Module):
    """1-D convolution over the last axis, as ``torch.nn.Conv1d`` (groups=1, zero padding).

    ``weight`` (out_channels, in_channels, kernel_size) and ``bias`` (out_channels,) are drawn
    from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kernel_size: PyTorch's
    initialisation. See :func:`lucid.nn.functional.conv1d` for the arithmetic.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride, dilation : int, default 1
    padding : int or "valid" or "same", default 0
    bias : bool, default True
    dtype : lucid dtype, default: the default dtype (float32)

    Examples
    --------
    >>> import lucid
    >>> conv = lucid.nn.Conv1d(8, 16, kernel_size=3, padding=1)
    >>> conv(lucid.randn(2, 8, 30)).shape
    (2, 16, 30)
    >>> conv
    Conv1d(8, 16, kernel_size=3, stride=1, padding=1, dilation=1, bias=True)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | str = 0, dilation: int = 1, bias: bool = True,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Conv1d: {name} must be a positive int, got {value!r}")
        dtype = dtype or get_default_dtype()
        if not to_dtype(dtype).is_floating_point:
            raise TypeError(f"Conv1d: dtype must be floating point, got {to_dtype(dtype)}")
        # stride, padding and dilation are checked by conv1d, with the input's length at hand
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = k = int(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        bound = 1.0 / math.sqrt(in_channels * k)
        self.weight = uniform_parameter(bound, (out_channels, in_channels, k), dtype)
        self.bias = uniform_parameter(bound, (out_channels,), dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"bias={self.bias is not None}")


class MaxPool1d(Module):
    """Maximum over windows of the last axis; see :func:`lucid.nn.functional.max_pool1d`.

    >>> import lucid
    >>> lucid.nn.MaxPool1d(2)(lucid.randn(2, 4, 9)).shape
    (2, 4, 4)
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 dilation: int = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")
