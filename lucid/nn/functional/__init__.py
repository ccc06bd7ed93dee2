"""Functional ops: activations, the feed-forward layer ops, losses, dropout, normalisation,
embedding and the CTC loss. Decoding and alignment of CTC outputs are in :mod:`lucid.ctc`."""

from lucid._missing import module_getattr
from lucid.nn.functional.activation import gelu, log_softmax, relu, sigmoid, softmax, tanh
from lucid.nn.functional.conv import conv1d, max_pool1d
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.dropout import dropout
from lucid.nn.functional.linear import context_window, linear
from lucid.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from lucid.nn.functional.normalization import layer_norm
from lucid.nn.functional.recurrent import gru_layer, lstm_layer
from lucid.nn.functional.sparse import embedding

__all__ = [
    "log_softmax", "softmax", "ctc_loss",
    "relu", "tanh", "linear", "context_window",
    "sigmoid", "gelu", "dropout", "mse_loss", "nll_loss", "cross_entropy", "layer_norm",
    "embedding",
    "conv1d", "max_pool1d", "gru_layer", "lstm_layer",
]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
