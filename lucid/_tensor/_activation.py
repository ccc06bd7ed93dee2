"""Activation methods: ``t.relu()``, ``t.sigmoid()``, ``t.tanh()``, ``t.softmax(dim)``,
``t.log_softmax(dim)``. Each forwards to :mod:`lucid.nn.functional`, where the op and its
gradient live."""

from __future__ import annotations

from typing import Any


def _functional():
    # nn.functional builds on Tensor, so it is looked up when a method is first called
    from lucid.nn import functional

    return functional


class ActivationMixin:
    """Activation methods of :class:`lucid.Tensor`."""

    def relu(self) -> Any:
        """:func:`lucid.nn.functional.relu`."""
        return _functional().relu(self)

    def sigmoid(self) -> Any:
        """:func:`lucid.nn.functional.sigmoid`."""
        return _functional().sigmoid(self)

    def tanh(self) -> Any:
        """:func:`lucid.nn.functional.tanh`."""
        return _functional().tanh(self)

    def softmax(self, dim: int = -1) -> Any:
        """:func:`lucid.nn.functional.softmax` along ``dim`` (default: the last axis)."""
        return _functional().softmax(self, dim)

    def log_softmax(self, dim: int = -1) -> Any:
        """:func:`lucid.nn.functional.log_softmax` along ``dim`` (default: the last axis)."""
        return _functional().log_softmax(self, dim)
