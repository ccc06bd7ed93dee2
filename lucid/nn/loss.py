"""Loss modules."""

from __future__ import annotations

from typing import Any

from lucid._tensor import Tensor
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.module import Module


class CTCLoss(Module):
    """Module form of :func:`lucid.nn.functional.ctc_loss`.

    >>> import lucid
    >>> lucid.nn.CTCLoss(reduction="sum")
    CTCLoss(blank=0, reduction='sum', zero_infinity=False)
    """

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__()
        self.blank = blank
        self.reduction = reduction
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Any, input_lengths: Any,
                target_lengths: Any) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                        reduction=self.reduction, zero_infinity=self.zero_infinity)

    def extra_repr(self) -> str:
        return (f"blank={self.blank}, reduction={self.reduction!r}, "
                f"zero_infinity={self.zero_infinity}")
