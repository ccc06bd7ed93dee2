"""Activations: softmax and log-softmax (stable, with a cheap closed-form backward), ReLU, tanh,
sigmoid and GELU. They live with the tensor (lucid/_tensor/_activation.py), whose methods
``t.relu()``, ``t.log_softmax(dim)``, ... call them too; this module gives them their
``lucid.nn.functional`` names."""

from lucid._tensor._activation import (
    LogSoftmaxBackward,
    gelu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)

__all__ = ["gelu", "log_softmax", "relu", "sigmoid", "softmax", "tanh", "LogSoftmaxBackward"]
