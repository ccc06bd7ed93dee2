"""Layer normalisation (Ba et al., 2016) over the trailing axes."""

from __future__ import annotations

from collections.abc import Sequence

from lucid._tensor import Tensor, expect_tensor


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last ``len(normalized_shape)``
    axes, with the biased variance, as PyTorch. A composition of tensor ops: its gradient is
    theirs.

    >>> import lucid
    >>> from lucid.nn.functional import layer_norm
    >>> y = layer_norm(lucid.tensor([[1.0, 3.0]]), 2)
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.0, 1.0]
    """
    expect_tensor(input, "layer_norm", "input")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ValueError(f"layer_norm: input must end in shape {shape}, got {input.shape}")
    dims = tuple(range(-len(shape), 0))
    centred = input - input.mean(dims, keepdim=True)
    var = (centred * centred).mean(dims, keepdim=True)
    out = centred / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
