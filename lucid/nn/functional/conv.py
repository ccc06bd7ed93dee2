"""1-D convolution and max pooling over the last axis of an (N, C, L) input.

Both see the input through a strided window view (no copy until the convolution gathers its
columns for one matmul); their backwards add each kernel tap's gradient back with one
strided slice per tap, so the Python loop is over the kernel width, never over positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._tensor import Tensor, record


def _positive_int(value: Any, name: str, fn: str, minimum: int = 1) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:  # PyTorch accepts (k,) too
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_input(x: Tensor, fn: str) -> np.ndarray:
    if not isinstance(x, Tensor) or x.ndim != 3:
        raise ValueError(f"{fn}: input must be a Tensor of shape (N, C, L), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{fn}: input must be float32 or float64, got {x.dtype}")
    return x.numpy()


def _windows(padded: np.ndarray, width: int, stride: int, dilation: int,
             out_len: int) -> np.ndarray:
    """View (N, C, out_len, width): window i, tap j reads padded[..., i*stride + j*dilation]."""
    N, C, Lp = padded.shape
    s = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded, (N, C, out_len, width), (s[0], s[1], s[2] * stride, s[2] * dilation),
        writeable=False)


def _scatter_taps(grad_windows: np.ndarray, padded_shape: tuple, stride: int, dilation: int,
                  dtype: np.dtype) -> np.ndarray:
    """The adjoint of _windows: add grad_windows[..., i, j] back at i*stride + j*dilation."""
    out_len, width = grad_windows.shape[2:]
    grad = np.zeros(padded_shape, dtype)
    for j in range(width):
        start = j * dilation
        grad[:, :, start:start + stride * (out_len - 1) + 1:stride] += grad_windows[..., j]
    return grad


def _output_length(L: int, padding: int, dilation: int, width: int, stride: int,
                   fn: str) -> int:
    span = dilation * (width - 1) + 1
    if L + 2 * padding < span:
        raise ValueError(f"{fn}: input length {L} with padding {padding} is shorter than the "
                         f"kernel's span {span} (dilation * (kernel_size - 1) + 1)")
    return (L + 2 * padding - span) // stride + 1


def conv1d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
    padding: int | str = 0, dilation: int = 1,
) -> Tensor:
    """1-D cross-correlation over the last axis, as ``torch.nn.functional.conv1d`` (groups=1).

    ``out[n, o, i] = bias[o] + sum_{c, j} weight[o, c, j] * x_pad[n, c, i*stride + j*dilation]``
    where ``x_pad`` is the input with ``padding`` zeros on both ends.

    Parameters
    ----------
    input : Tensor, shape (N, C_in, L)
    weight : Tensor, shape (C_out, C_in, kernel_size)
    bias : Tensor, shape (C_out,), optional
    stride, dilation : int, default 1
    padding : int or "valid" or "same", default 0
        Zeros added at both ends. "same" (stride 1 only) pads so the output has length L,
        the extra zero going to the right when the total is odd, as PyTorch does.

    Returns
    -------
    Tensor, shape (N, C_out, L_out)
        ``L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1``.

    Examples
    --------
    >>> import lucid
    >>> from lucid.nn.functional import conv1d
    >>> conv1d(lucid.tensor([[[1.0, 2.0, 3.0, 4.0]]]), lucid.tensor([[[1.0, -1.0]]]))
    Tensor([[[-1., -1., -1.]]])
    """
    fn = "conv1d"
    x = _check_input(input, fn)
    if not isinstance(weight, Tensor) or weight.ndim != 3 or weight.shape[1] != x.shape[1]:
        raise ValueError(f"{fn}: weight must have shape (C_out, {x.shape[1]}, kernel_size) for "
                         f"an input with {x.shape[1]} channels, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != weight.shape[:1]):
        raise ValueError(f"{fn}: bias must have shape ({weight.shape[0]},), got "
                         f"{getattr(bias, 'shape', type(bias).__name__)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{fn}: {name} has dtype {t.dtype}, but input has {input.dtype}")
    stride = _positive_int(stride, "stride", fn)
    dilation = _positive_int(dilation, "dilation", fn)
    C_out, C_in, width = weight.shape
    left, right = _padding(padding, stride, dilation, width, fn)
    N, _, L = x.shape
    out_len = _output_length(L + left + right, 0, dilation, width, stride, fn)

    padded = np.pad(x, ((0, 0), (0, 0), (left, right))) if left or right else x
    # columns (N * out_len, C_in * width): one matmul against the flattened kernel
    cols = _windows(padded, width, stride, dilation, out_len).transpose(0, 2, 1, 3)
    cols = cols.reshape(N * out_len, C_in * width)
    w2 = weight.numpy().reshape(C_out, C_in * width)
    out = cols @ w2.T
    if bias is not None:
        out += bias.numpy()
    out = out.reshape(N, out_len, C_out).transpose(0, 2, 1)

    def backward(g: np.ndarray):
        g2 = g.transpose(0, 2, 1).reshape(N * out_len, C_out)
        grad_w = (g2.T @ cols).reshape(weight.shape)
        grad_cols = (g2 @ w2).reshape(N, out_len, C_in, width).transpose(0, 2, 1, 3)
        grad_x = _scatter_taps(grad_cols, padded.shape, stride, dilation, x.dtype)
        grad_x = grad_x[:, :, left:left + L]
        return (grad_x, grad_w) + ((g2.sum(axis=0),) if bias is not None else ())

    inputs = (input, weight) + ((bias,) if bias is not None else ())
    return record(np.ascontiguousarray(out), inputs, backward, "ConvolutionBackward",
                  owned=True)


def _padding(padding: int | str, stride: int, dilation: int, width: int, fn: str) -> tuple:
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != 1:
                raise ValueError(f"{fn}: padding='same' needs stride 1, got stride {stride}")
            total = dilation * (width - 1)
            return total // 2, total - total // 2
        raise ValueError(f"{fn}: padding must be an int >= 0, 'valid' or 'same', got "
                         f"{padding!r}")
    p = _positive_int(padding, "padding", fn, minimum=0)
    return p, p


def max_pool1d(
    input: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0,
    dilation: int = 1, ceil_mode: bool = False,
) -> Tensor:
    """The maximum of each window over the last axis, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : Tensor, shape (N, C, L)
    kernel_size : int
    stride : int, default kernel_size
    padding : int, default 0
        Implicit -inf at both ends, at most half the kernel size.
    dilation : int, default 1
    ceil_mode : bool, default False
        Round the output length up instead of down (the last window may overhang the end,
        but must start inside the input or its left padding).

    Returns
    -------
    Tensor, shape (N, C, L_out)
        The gradient goes to the first maximum of each window, as in PyTorch.

    Examples
    --------
    >>> import lucid
    >>> from lucid.nn.functional import max_pool1d
    >>> max_pool1d(lucid.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]), 2)
    Tensor([[[3., 2.]]])
    """
    fn = "max_pool1d"
    x = _check_input(input, fn)
    width = _positive_int(kernel_size, "kernel_size", fn)
    stride = width if stride is None else _positive_int(stride, "stride", fn)
    dilation = _positive_int(dilation, "dilation", fn)
    padding = _positive_int(padding, "padding", fn, minimum=0)
    if padding > width // 2:
        raise ValueError(f"{fn}: padding must be at most half of kernel_size ({width // 2}), got "
                         f"{padding}")
    N, C, L = x.shape
    span = dilation * (width - 1) + 1
    out_len = _output_length(L, padding, dilation, width, stride, fn)
    if ceil_mode:
        out_len = -(-(L + 2 * padding - span) // stride) + 1
        if (out_len - 1) * stride >= L + padding:  # the last window would start in the padding
            out_len -= 1
    right = max(0, (out_len - 1) * stride + span - L - padding)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, right)), constant_values=-np.inf)
    windows = _windows(padded, width, stride, dilation, out_len)
    which = windows.argmax(axis=3)  # first maximum, as PyTorch; NaN counts as the maximum
    out = np.take_along_axis(windows, which[..., None], axis=3)[..., 0]

    def backward(g: np.ndarray):
        taps = (which[..., None] == np.arange(width)) * g[..., None]
        grad = _scatter_taps(taps, padded.shape, stride, dilation, x.dtype)
        return (grad[:, :, padding:padding + L],)

    return record(out, (input,), backward, "MaxPool1DBackward")
