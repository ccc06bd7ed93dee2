"""Functional ops: activations, the feed-forward layer ops, losses, dropout, normalisation,
embedding, the CTC loss, CTC decoding and alignment."""

from lucid.nn.functional.activation import gelu, log_softmax, relu, sigmoid, softmax, tanh
from lucid.nn.functional.align import TokenSpan, ctc_forced_align, merge_tokens
from lucid.nn.functional.beam import CTCHypothesis, WordSpan, ctc_beam_search_decode
from lucid.nn.functional.conv import conv1d, max_pool1d
from lucid.nn.functional.ctc import ctc_loss
from lucid.nn.functional.decode import ctc_greedy_decode
from lucid.nn.functional.dropout import dropout
from lucid.nn.functional.linear import context_window, linear
from lucid.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from lucid.nn.functional.normalization import layer_norm
from lucid.nn.functional.recurrent import gru_layer, lstm_layer
from lucid.nn.functional.sparse import embedding

__all__ = [
    "log_softmax", "softmax", "ctc_loss",
    "relu", "tanh", "linear", "context_window", "ctc_greedy_decode", "ctc_forced_align",
    "merge_tokens", "TokenSpan",
    "sigmoid", "gelu", "dropout", "mse_loss", "nll_loss", "cross_entropy", "layer_norm",
    "embedding", "ctc_beam_search_decode", "CTCHypothesis", "WordSpan",
    "conv1d", "max_pool1d", "gru_layer", "lstm_layer",
]
