"""nn.Embedding: a learned lookup table of vectors, one per index."""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid import _factories
from lucid._dtype import DTypeLike, get_default_dtype, to_dtype
from lucid._tensor import Tensor
from lucid.nn import functional as F
from lucid.nn.module import Module, Parameter


class Embedding(Module):
    """``weight[indices]`` with ``weight`` of shape (num_embeddings, embedding_dim), drawn from
    N(0, 1) as in PyTorch; the ``padding_idx`` row starts at zero and gets no gradient.

    >>> import lucid
    >>> emb = lucid.nn.Embedding(10, 3)
    >>> emb(lucid.tensor([[1, 2, 4]])).shape
    (1, 3, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: DTypeLike | None = None) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Embedding: {name} must be a positive int, got {value!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        data = _factories.generator().standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            data[padding_idx] = 0
        self.weight = Parameter(data.astype(to_dtype(dtype or get_default_dtype()).np_dtype))

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
