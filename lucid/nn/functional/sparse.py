"""Embedding lookup: rows of a weight matrix picked by integer indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._tensor import Tensor, expect_tensor, record


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """``weight[input]``: for indices of any shape S, a tensor of shape ``S + (dim,)``.

    Repeated indices add their gradients into the same row; the row ``padding_idx`` receives
    none, as in PyTorch.

    >>> import lucid
    >>> from lucid.nn.functional import embedding
    >>> embedding(lucid.tensor([[0, 2]]), lucid.eye(3)).shape
    (1, 2, 3)
    """
    expect_tensor(weight, "embedding", "weight")
    idx = np.asarray(input.numpy() if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must have shape (num_embeddings, embedding_dim), "
                         f"got {weight.shape}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: indices must be in [0, {n}), got values from "
                         f"{idx.min()} to {idx.max()}")
    table = weight.numpy()

    def backward(g: np.ndarray):
        grad = np.zeros_like(table)
        np.add.at(grad, idx, g)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return record(table[idx], (weight,), backward, "EmbeddingBackward", owned=True)
