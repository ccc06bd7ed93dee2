"""Neural-network building blocks."""

from lucid.nn import functional
from lucid.nn.conv import Conv1d, MaxPool1d
from lucid.nn.layers import ContextWindow, Linear, ReLU, Sequential, Tanh
from lucid.nn.loss import CTCLoss
from lucid.nn.module import Module, Parameter
from lucid.nn.rnn import GRU, LSTM

__all__ = [
    "functional", "Module", "Parameter", "CTCLoss",
    "Linear", "ReLU", "Tanh", "ContextWindow", "Sequential",
    "Conv1d", "MaxPool1d", "GRU", "LSTM",
]
