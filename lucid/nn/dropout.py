"""nn.Dropout: :func:`lucid.nn.functional.dropout` while the module is training."""

from __future__ import annotations

from lucid._tensor import Tensor
from lucid.nn import functional as F
from lucid.nn.module import Module


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode; the identity after ``eval()``.

    >>> import lucid
    >>> drop = lucid.nn.Dropout(p=0.2)
    >>> x = lucid.ones(3)
    >>> drop.eval()(x) is x
    True
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
