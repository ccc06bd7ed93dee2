"""Neural-network building blocks."""

from lucid._missing import module_getattr
from lucid.nn import functional, utils
from lucid.nn.activation import GELU, Sigmoid
from lucid.nn.conv import Conv1d, MaxPool1d
from lucid.nn.dropout import Dropout
from lucid.nn.layers import ContextWindow, Linear, ReLU, Sequential, Tanh
from lucid.nn.loss import CrossEntropyLoss, CTCLoss, MSELoss, NLLLoss
from lucid.nn.module import Module, Parameter
from lucid.nn.normalization import LayerNorm
from lucid.nn.rnn import GRU, LSTM
from lucid.nn.sparse import Embedding

__all__ = [
    "functional", "Module", "Parameter", "CTCLoss", "MSELoss", "NLLLoss", "CrossEntropyLoss",
    "Linear", "ReLU", "Tanh", "Sigmoid", "GELU", "ContextWindow", "Sequential", "Dropout",
    "LayerNorm", "Embedding",
    "Conv1d", "MaxPool1d", "GRU", "LSTM", "utils",
]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
