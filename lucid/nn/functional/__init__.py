"""Functional ops: activations, the feed-forward layer ops, losses, dropout, normalisation,
embedding, the CTC loss, CTC decoding."""

from lucid.nn.functional.activation import gelu, log_softmax, relu, sigmoid, softmax, tanh
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.decode import ctc_forced_align, ctc_greedy_decode
from lucid.nn.functional.dropout import dropout
from lucid.nn.functional.linear import context_window, linear
from lucid.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from lucid.nn.functional.normalization import layer_norm
from lucid.nn.functional.sparse import embedding

__all__ = [
    "log_softmax", "softmax", "ctc_loss",
    "relu", "tanh", "linear", "context_window", "ctc_greedy_decode", "ctc_forced_align",
    "sigmoid", "gelu", "dropout", "mse_loss", "nll_loss", "cross_entropy", "layer_norm",
    "embedding",
]
