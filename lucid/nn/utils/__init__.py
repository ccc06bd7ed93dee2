"""Helpers for training loops: gradient clipping, parameters as one vector, and padded or
packed batches of variable-length sequences (:mod:`lucid.nn.utils.rnn`)."""

from lucid._missing import module_getattr
from lucid.nn.utils import rnn
from lucid.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
)
from lucid.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from lucid.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

__all__ = [
    "clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
    "parameters_to_vector", "vector_to_parameters",
    "PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
    "pad_sequence", "rnn",
]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
