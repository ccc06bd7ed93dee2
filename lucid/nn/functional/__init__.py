"""Functional ops: activations, the feed-forward layer ops, the CTC loss, CTC decoding and
alignment."""

from lucid.nn.functional.activation import log_softmax, relu, softmax, tanh
from lucid.nn.functional.align import TokenSpan, ctc_forced_align, merge_tokens
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.decode import ctc_greedy_decode
from lucid.nn.functional.linear import context_window, linear

__all__ = [
    "log_softmax", "softmax", "ctc_loss",
    "relu", "tanh", "linear", "context_window", "ctc_greedy_decode", "ctc_forced_align",
    "merge_tokens", "TokenSpan",
]
