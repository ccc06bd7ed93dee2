"""Padded and packed batches of variable-length sequences, as ``torch.nn.utils.rnn``.

A padded batch is one ``(T, N, *)`` tensor (or ``(N, T, *)`` with ``batch_first``) plus
each sequence's length. A :class:`PackedSequence` keeps only the valid frames, time-major: the
frames of step 0 of every sequence, then of step 1 of those still running, and so on, with the
sequences ordered longest first; ``batch_sizes[t]`` counts the sequences that reach step t.
:class:`lucid.nn.GRU` and :class:`lucid.nn.LSTM` take either form (a padded batch with
``lengths=``).

Every conversion here is one differentiable op: packing gathers rows of the padded tensor,
padding places rows into a block of ``padding_value``, and each gradient is the other way
round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from lucid._tensor import Tensor, cat, expect_tensor, record

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence"]


class PackedSequence(NamedTuple):
    """The valid frames of a batch of sequences, time-major, longest sequence first.

    ``data`` ``(sum of lengths, *)`` holds the frames; ``batch_sizes`` (int64, max length) how
    many sequences reach each step; ``sorted_indices`` the original batch position of each
    sequence in length order and ``unsorted_indices`` its inverse (both None when the batch
    was already sorted, ``enforce_sorted=True``). Made by :func:`pack_padded_sequence` and
    :func:`pack_sequence`, read back by :func:`pad_packed_sequence`.
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


# ------------------------------------------------------------------ the two differentiable ops
def _place(rows: Tensor, index: tuple, shape: tuple, padding_value: float) -> Tensor:
    """A block of ``padding_value`` of ``shape`` with ``rows[i]`` written at ``index[.][i]``."""
    out = np.full(shape, padding_value, dtype=rows._data.dtype)
    out[index] = rows._data
    return record(out, (rows,), lambda g: (g[index],), "PlaceRowsBackward", owned=True)


def _packed_index(lengths_sorted: np.ndarray, sorted_indices: np.ndarray) -> tuple:
    """(step, batch position) of every packed frame, in packed order: step by step, and
    within a step the sequences in length order."""
    steps = np.arange(lengths_sorted[0] if len(lengths_sorted) else 0)
    t, rank = np.nonzero(lengths_sorted[None, :] > steps[:, None])  # row-major: packed order
    return t, sorted_indices[rank]


def _lengths(packed: PackedSequence) -> tuple:
    """Each sequence's length in length order, and the sort order (identity if None)."""
    batch_sizes = np.asarray(packed.batch_sizes.numpy(), dtype=np.int64)
    n = int(batch_sizes[0]) if len(batch_sizes) else 0
    lengths_sorted = (batch_sizes[None, :] > np.arange(n)[:, None]).sum(axis=1)
    order = (np.arange(n) if packed.sorted_indices is None
             else np.asarray(packed.sorted_indices.numpy(), dtype=np.int64))
    return lengths_sorted, order


# ------------------------------------------------------------------------------ checks
def _check_lengths(lengths: Any, n: int, longest: int, where: str) -> np.ndarray:
    arr = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu" or arr.shape != (n,):
        raise ValueError(f"{where}: lengths must be {n} integers (one per sequence), got "
                         f"dtype {arr.dtype} and shape {arr.shape}")
    if n and (arr.min() <= 0 or arr.max() > longest):
        raise ValueError(f"{where}: every length must lie in [1, {longest}] (the padded "
                         f"length), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def _check_sequences(sequences: Any, where: str) -> list:
    if isinstance(sequences, Tensor) or not isinstance(sequences, (list, tuple)) \
            or not sequences:
        raise TypeError(f"{where}: sequences must be a non-empty list of tensors, got "
                        f"{type(sequences).__name__}")
    for i, s in enumerate(sequences):
        expect_tensor(s, where, f"sequences[{i}]")
        if s.ndim == 0 or s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(f"{where}: every sequence must be (L, *) with the same trailing "
                             f"shape, got {[tuple(q.shape) for q in sequences]}")
    return list(sequences)


# ------------------------------------------------------------------------------ the API
def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths, each ``(L_i, *)``, into one ``(T, N, *)``
    tensor (or ``(N, T, *)`` with ``batch_first``), T the longest length, filling with
    ``padding_value`` after each sequence (before it with ``padding_side="left"``).

    >>> import lucid
    >>> from lucid.nn.utils.rnn import pad_sequence
    >>> pad_sequence([lucid.tensor([1, 2, 3]), lucid.tensor([4])], batch_first=True)
    Tensor([[1, 2, 3],
            [4, 0, 0]], dtype=lucid.int64)
    """
    sequences = _check_sequences(sequences, "pad_sequence")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    lengths = np.array([s.shape[0] for s in sequences])
    T, N = int(lengths.max()), len(sequences)
    b = np.repeat(np.arange(N), lengths)
    t = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    if padding_side == "left":
        t += np.repeat(T - lengths, lengths)
    index, shape = ((b, t), (N, T)) if batch_first else ((t, b), (T, N))
    rows = sequences[0] if N == 1 else cat(sequences)
    return _place(rows, index, shape + sequences[0].shape[1:], padding_value)


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded ``(T, N, *)`` batch (or ``(N, T, *)`` with ``batch_first``) whose
    sequence n is ``lengths[n]`` frames long (each in [1, T]).

    With ``enforce_sorted`` (the default) the lengths must not increase along the batch;
    ``enforce_sorted=False`` sorts them itself (ties keep their batch order) and records the
    order, so :func:`pad_packed_sequence` and the recurrent layers give results back in the
    original order.

    >>> import lucid
    >>> from lucid.nn.utils.rnn import pack_padded_sequence
    >>> padded = lucid.tensor([[1, 4], [2, 5], [3, 0]])  # (T=3, N=2)
    >>> packed = pack_padded_sequence(padded, [3, 2])
    >>> packed.data.tolist(), packed.batch_sizes.tolist()
    ([1, 4, 2, 5, 3], [2, 2, 1])
    """
    expect_tensor(input, "pack_padded_sequence", "input")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be (T, N, *) or (N, T, *), got "
                         f"shape {input.shape}")
    T, N = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if N == 0:
        raise ValueError(f"pack_padded_sequence: input holds no sequence (shape {input.shape})")
    lengths = _check_lengths(lengths, N, T, "pack_padded_sequence")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"pack_padded_sequence: lengths must be sorted in decreasing order "
                             f"when enforce_sorted=True, got {lengths.tolist()}; pass "
                             f"enforce_sorted=False to pack an unsorted batch")
        order = np.arange(N)
    else:
        order = np.argsort(-lengths, kind="stable")
    t, b = _packed_index(lengths[order], order)
    data = input[(b, t) if batch_first else (t, b)]
    return _packed(data, lengths[order], None if enforce_sorted else order)


def _packed(data: Tensor, lengths_sorted: np.ndarray, order: np.ndarray | None) -> PackedSequence:
    steps = np.arange(lengths_sorted[0])
    batch_sizes = _int64((lengths_sorted[None, :] > steps[:, None]).sum(axis=1))
    if order is None:
        return PackedSequence(data, batch_sizes)
    return PackedSequence(data, batch_sizes, _int64(order), _int64(np.argsort(order)))


def _int64(values: np.ndarray) -> Tensor:
    return Tensor(values.astype(np.int64), device="cpu")


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences, each ``(L_i, *)``: ``pack_padded_sequence(pad_sequence(...))``.

    >>> import lucid
    >>> from lucid.nn.utils.rnn import pack_sequence
    >>> pack_sequence([lucid.tensor([1, 2]), lucid.tensor([3, 4, 5])],
    ...               enforce_sorted=False).data.tolist()
    [3, 1, 4, 2, 5]
    """
    sequences = _check_sequences(sequences, "pack_sequence")
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Unpack to a padded ``(T, N, *)`` batch (or ``(N, T, *)``) in the original batch
    order, and the int64 lengths. T is the longest length, or ``total_length`` when given
    (at least the longest).

    >>> import lucid
    >>> from lucid.nn.utils.rnn import pack_sequence, pad_packed_sequence
    >>> packed = pack_sequence([lucid.tensor([1, 2]), lucid.tensor([3, 4, 5])],
    ...                        enforce_sorted=False)
    >>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
    >>> padded.tolist(), lengths.tolist()
    ([[1, 2, 0], [3, 4, 5]], [2, 3])
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: sequence must be a PackedSequence, got "
                        f"{type(sequence).__name__}")
    lengths_sorted, order = _lengths(sequence)
    longest = len(sequence.batch_sizes)
    if total_length is None:
        total_length = longest
    elif total_length < longest:
        raise ValueError(f"pad_packed_sequence: total_length must be at least {longest} (the "
                         f"longest sequence), got {total_length}")
    t, b = _packed_index(lengths_sorted, order)
    index, shape = ((b, t), (len(order), total_length)) if batch_first else (
        (t, b), (total_length, len(order)))
    data = sequence.data
    padded = _place(data, index, shape + data.shape[1:], padding_value)
    lengths = np.empty_like(lengths_sorted)
    lengths[order] = lengths_sorted
    return padded, _int64(lengths)


def repack_like(padded: Tensor, like: PackedSequence, batch_first: bool = False) -> PackedSequence:
    """Pack ``padded`` (in the original batch order) with the lengths and order of ``like``:
    how a recurrent layer returns its output for a packed input."""
    lengths_sorted, order = _lengths(like)
    t, b = _packed_index(lengths_sorted, order)
    return like._replace(data=padded[(b, t) if batch_first else (t, b)])
