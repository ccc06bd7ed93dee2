"""Functional ops: activations and the CTC loss."""

from lucid.nn.functional.activation import log_softmax, softmax
from lucid.nn.functional.ctc import ctc_loss

__all__ = ["log_softmax", "softmax", "ctc_loss"]
