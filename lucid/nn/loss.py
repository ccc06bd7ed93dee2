"""Loss modules: CTCLoss, MSELoss, NLLLoss, CrossEntropyLoss."""

from __future__ import annotations

from typing import Any

from lucid._tensor import Tensor
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.loss import cross_entropy, mse_loss, nll_loss
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


class MSELoss(Module):
    """Module form of :func:`lucid.nn.functional.mse_loss`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class NLLLoss(Module):
    """Module form of :func:`lucid.nn.functional.nll_loss`."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class CrossEntropyLoss(Module):
    """Module form of :func:`lucid.nn.functional.cross_entropy`.

    >>> import lucid
    >>> loss_fn = lucid.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> loss_fn(lucid.randn(4, 3), lucid.tensor([0, 1, 2, 0])).shape
    ()
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                             self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")
