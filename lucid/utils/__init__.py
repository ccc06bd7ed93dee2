"""Utilities around training: :mod:`lucid.utils.data` (datasets, samplers, DataLoader)."""

from lucid._missing import module_getattr
from lucid.utils import data

__all__ = ["data"]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
