"""Dropout: zero each element with probability p during training and scale the rest by
1 / (1 - p), so the expected value is unchanged; identity in evaluation."""

from __future__ import annotations

import numpy as np

from lucid import _factories
from lucid._tensor import Tensor, expect_tensor, record


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Randomly zero elements of ``input`` with probability ``p`` (when ``training``).

    The mask is drawn from lucid's global generator, so :func:`lucid.manual_seed` makes it
    reproducible. The gradient flows through the kept elements, scaled the same way.

    >>> import lucid
    >>> from lucid.nn.functional import dropout
    >>> x = lucid.ones(4)
    >>> dropout(x, p=0.5, training=False) is x
    True
    >>> sorted(set(dropout(x, p=0.5).tolist())) in ([0.0], [2.0], [0.0, 2.0])
    True
    """
    expect_tensor(input, "dropout", "input")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p!r}")
    if not training or p == 0:
        return input
    data = input.numpy()
    if p == 1:
        scale = np.zeros(data.shape, dtype=data.dtype)
    else:
        keep = _factories.generator().random(data.shape) >= p
        scale = (keep / (1 - p)).astype(data.dtype)
    return record(data * scale, (input,), lambda g: (g * scale,), "DropoutBackward")
