"""ctc_loss: input checking and the autograd node around the Cython kernel (lucid/_C/_ctc.pyx).

Everything the kernel assumes is established here, before it runs: dtypes, ranks, sizes,
every length in range and every label (within its target's length) a non-blank class.
The kernel then sees the log-probabilities as they are (any strides), the labels of all
samples concatenated as int64 with per-sample offsets, and int64 lengths.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from lucid import _threads
from lucid._C import _ctc
from lucid._tensor import Tensor, _record
from lucid.autograd import is_grad_enabled

_REDUCTIONS = ("none", "mean", "sum")


def ctc_loss(
    log_probs: Tensor,
    targets: Any,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist Temporal Classification loss (Graves et al., 2006).

    For each sample, the negative log of the total probability of all frame-level
    alignments (label sequences with blanks and repeats) that collapse to the target,
    computed by the forward-backward dynamic programme.

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (T, N, C) or (T, C)
        Per-frame log-probabilities over C classes, usually from ``log_softmax(..., dim=2)``.
        Treated as free variables: the gradient is exact even if they are not normalised.
        Non-contiguous views (e.g. ``x.transpose(0, 1)``) are fine. ``-inf`` marks an
        impossible emission.
    targets : Tensor or numpy array of int32/int64
        Padded, shape (N, S_max): row n holds sample n's labels in its first
        ``target_lengths[n]`` entries; the rest are ignored whatever they hold. Or
        concatenated, shape (sum(target_lengths),). For unbatched input, shape (S,).
    input_lengths : Tensor, array, list or tuple of ints, shape (N,)
        Frames used of each sample, each in [0, T]. An int or 0-d for unbatched input.
    target_lengths : Tensor, array, list or tuple of ints, shape (N,)
        Labels in each target. An int or 0-d for unbatched input.
    blank : int, default 0
        Index of the blank class, in [0, C). Targets may not contain it.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none" gives the per-sample losses, shape (N,) (0-d when unbatched); "sum" their sum;
        "mean" their plain mean over the batch.
    zero_infinity : bool, default False
        Replace infinite losses (a target that cannot fit in its frames) and their
        gradients by 0, so that such samples are skipped.

    Returns
    -------
    Tensor
        Of ``log_probs``' dtype and device: scalar for "mean"/"sum", else per sample.

    Notes
    -----
    Differs from PyTorch in three ways, on purpose:

    - ``reduction="mean"`` is the plain batch mean of the per-sample losses, as lucid's
      spec says; PyTorch first divides each loss by its target length.
    - The gradient is the exact derivative with respect to ``log_probs``: minus the
      posterior probability that frame t emits class c. PyTorch returns
      ``exp(log_probs) - posterior``, which is right only when a log_softmax follows in the
      backward pass (through log_softmax both give the same gradient for the logits).
    - Bad input (labels outside [0, C) or equal to blank, float targets, lengths out of
      range) raises ValueError/TypeError instead of returning a number.

    The DP runs in double precision whatever the input dtype, in probability space with
    per-frame rescaling, falling back to log space for any sample where that could lose
    precision. Samples are spread over ``lucid.get_num_threads()`` OpenMP threads; results do
    not depend on the thread count.

    Examples
    --------
    >>> import lucid
    >>> from lucid.nn.functional import ctc_loss, log_softmax
    >>> # T=4 frames, N=1 batch, C=3 classes (blank=0)
    >>> logits = lucid.randn(4, 1, 3)
    >>> log_p = log_softmax(logits, dim=2)
    >>> targets = lucid.tensor([[1, 2]], dtype=lucid.int32)
    >>> il = lucid.tensor([4], dtype=lucid.int32)
    >>> tl = lucid.tensor([2], dtype=lucid.int32)
    >>> ctc_loss(log_p, targets, il, tl)
    Tensor(...)
    """
    lp, unbatched = _check_log_probs(log_probs)
    T, N, C = lp.shape
    blank = _check_blank(blank, C)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    il = _check_lengths(input_lengths, "input_lengths", N, unbatched)
    tl = _check_lengths(target_lengths, "target_lengths", N, unbatched)
    if (il > T).any():
        n = int(np.argmax(il > T))
        raise ValueError(f"ctc_loss: input_lengths[{n}] = {il[n]} exceeds the {T} frames of "
                         f"log_probs")
    labels, offsets = _flatten_targets(targets, tl, N, C, blank, unbatched)

    want_grad = is_grad_enabled() and log_probs.requires_grad
    loss = np.empty(N, dtype=np.float64)
    grad = np.empty(lp.shape, dtype=lp.dtype) if want_grad else None
    _ctc.ctc_loss_forward(lp, labels, offsets, il, tl, blank, loss, grad,
                          _threads.get_num_threads())
    if zero_infinity:
        infinite = np.isinf(loss)
        loss[infinite] = 0.0
        if want_grad and infinite.any():
            grad[:, infinite, :] = 0.0

    if reduction == "none":
        out = loss[0] if unbatched else loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.mean()
    out = np.asarray(out, dtype=lp.dtype)
    if not want_grad:
        return Tensor(out, device=log_probs.device)

    def backward(g: np.ndarray):
        weight = g.reshape(-1) if reduction == "none" else g.reshape(1) / (N if reduction ==
                                                                           "mean" else 1)
        scaled = grad if (weight == 1).all() else grad * weight.astype(grad.dtype)[:, None]
        return (scaled.reshape(log_probs.shape),)

    return _record(out, (log_probs,), backward, "CtcLossBackward")


def _check_log_probs(log_probs: Any) -> Tuple[np.ndarray, bool]:
    """The (T, N, C) array behind log_probs and whether the input was unbatched (T, C)."""
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"ctc_loss: log_probs must be a lucid.Tensor, got "
                        f"{type(log_probs).__name__}")
    lp = log_probs.numpy()
    if lp.dtype not in (np.float32, np.float64):
        raise TypeError(f"ctc_loss: log_probs must be float32 or float64, got {log_probs.dtype}")
    if lp.ndim not in (2, 3):
        raise ValueError(f"ctc_loss: log_probs must have shape (T, N, C) or (T, C), got shape "
                         f"{lp.shape}")
    if 0 in lp.shape:
        raise ValueError(f"ctc_loss: log_probs must not be empty, got shape {lp.shape}")
    unbatched = lp.ndim == 2
    return (lp[:, None, :] if unbatched else lp), unbatched


def _check_blank(blank: Any, C: int) -> int:
    if isinstance(blank, (bool, np.bool_)) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"ctc_loss: blank must be an int, got {type(blank).__name__}")
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank must be a class index in [0, {C}), got {blank}")
    return int(blank)


def _integer_array(value: Any, name: str) -> np.ndarray:
    """value as a numpy integer array; floats, bools and non-numbers are a TypeError."""
    arr = value.numpy() if isinstance(value, Tensor) else value
    if isinstance(arr, (list, tuple)) and len(arr) == 0:
        arr = np.zeros(0, dtype=np.int64)
    try:
        arr = np.asarray(arr)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"ctc_loss: {name} must be integers, got {type(value).__name__}") from exc
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must have an integer dtype, got {arr.dtype}")
    return arr


def _check_lengths(value: Any, name: str, N: int, unbatched: bool) -> np.ndarray:
    if value is None:
        raise TypeError(f"ctc_loss: {name} is required, got None")
    arr = _integer_array(value, name)
    if unbatched:
        if arr.size != 1 or arr.ndim > 1:
            raise ValueError(f"ctc_loss: {name} must be an int or 0-d for unbatched log_probs, "
                             f"got shape {arr.shape}")
    elif arr.shape != (N,):
        raise ValueError(f"ctc_loss: {name} must have shape ({N},) to match the batch of "
                         f"log_probs, got shape {arr.shape}")
    arr = arr.reshape(-1)
    if (arr < 0).any():
        n = int(np.argmax(arr < 0))
        raise ValueError(f"ctc_loss: {name}[{n}] = {arr[n]} is negative")
    if arr.dtype == np.uint64 and (arr > np.iinfo(np.int64).max).any():
        raise ValueError(f"ctc_loss: {name} holds values too large for int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _flatten_targets(targets: Any, tl: np.ndarray, N: int, C: int, blank: int,
                     unbatched: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Every sample's labels, concatenated as int64, and where each sample starts; all checked."""
    if targets is None:
        raise TypeError("ctc_loss: targets is required, got None")
    arr = _integer_array(targets, "targets")
    total = int(tl.sum())
    if unbatched and arr.ndim != 1:
        raise ValueError(f"ctc_loss: targets must be 1-D for unbatched log_probs, got shape "
                         f"{arr.shape}")
    if arr.ndim == 2 or unbatched:
        padded = arr[None, :] if unbatched else arr
        if padded.shape[0] != N:
            raise ValueError(f"ctc_loss: padded targets must have {N} rows (the batch size), got "
                             f"shape {arr.shape}")
        if tl.size and tl.max() > padded.shape[1]:
            n = int(np.argmax(tl))
            raise ValueError(f"ctc_loss: target_lengths[{n}] = {tl[n]} exceeds the width "
                             f"{padded.shape[1]} of targets")
        within = np.arange(padded.shape[1]) < tl[:, None]
        labels = padded[within]
        positions = np.argwhere(within)[:, 1:] if unbatched else np.argwhere(within)
    elif arr.ndim == 1:
        if arr.shape[0] != total:
            raise ValueError(f"ctc_loss: concatenated targets must hold sum(target_lengths) = "
                             f"{total} labels, got {arr.shape[0]}")
        labels = arr
        positions = np.arange(total)[:, None]
    else:
        raise ValueError(f"ctc_loss: targets must be padded (N, S) or concatenated 1-D, got shape "
                         f"{arr.shape}")
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        i = int(np.argmax(bad))
        where = ", ".join(map(str, positions[i]))
        raise ValueError(f"ctc_loss: targets[{where}] = {labels[i]} is not a class index in "
                         f"[0, {C})")
    if (labels == blank).any():
        i = int(np.argmax(labels == blank))
        where = ", ".join(map(str, positions[i]))
        raise ValueError(f"ctc_loss: targets[{where}] = {blank} is the blank label; targets may "
                         f"not contain blank")
    offsets = np.cumsum(tl) - tl
    return np.ascontiguousarray(labels, dtype=np.int64), offsets
