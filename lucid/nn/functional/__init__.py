"""Functional ops: activations, the feed-forward layer ops, the CTC loss, CTC decoding."""

from lucid.nn.functional.activation import log_softmax, relu, softmax, tanh
from lucid.nn.functional.conv import conv1d, max_pool1d
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.decode import ctc_forced_align, ctc_greedy_decode
from lucid.nn.functional.linear import context_window, linear
from lucid.nn.functional.recurrent import gru_layer, lstm_layer

__all__ = [
    "log_softmax", "softmax", "ctc_loss",
    "relu", "tanh", "linear", "context_window", "ctc_greedy_decode", "ctc_forced_align",
    "conv1d", "max_pool1d", "gru_layer", "lstm_layer",
]
