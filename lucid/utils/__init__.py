"""Utilities around training: :mod:`lucid.utils.data` (datasets, samplers, DataLoader)."""

from lucid.utils import data

__all__ = ["data"]
