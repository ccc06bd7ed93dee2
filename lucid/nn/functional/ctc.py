"""ctc_loss: input checking and the autograd node around the Cython kernel (lucid/_C/_ctc.pyx).

Everything the kernel assumes is established here, before it runs: dtypes, ranks, sizes,
every length in range and every label (within its target's length) a non-blank class.
The kernel then sees the log-probabilities as they are (any strides), the labels of all
samples concatenated as int64 with per-sample offsets, and int64 lengths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid import _threads
from lucid._C import _ctc
from lucid._tensor import Tensor
from lucid.autograd import is_grad_enabled, record
from lucid.nn.functional.activation import LogSoftmaxBackward

_REDUCTIONS = ("none", "mean", "sum")
_INT64_MAX = np.iinfo(np.int64).max
# Off only in tests, which compare the fused log_softmax -> ctc_loss gradient with the plain
# composition of the two backward passes.
_fuse_log_softmax = True


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

    The gradient is written during the forward, already multiplied by the reduction's weight
    (1/N for "mean"), so the usual ``loss.backward()`` costs no further pass. When log_probs
    is ``log_softmax(logits)`` over the class axis, the gradient goes straight to ``logits``
    as ``weight * (exp(log_probs) - posterior)`` in the same pass (as warp-ctc does): the
    numbers the log-softmax backward would give, without its pass and its array. Other uses
    of log_probs still send their gradients through log_softmax; they add up at ``logits``.

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
    if type(reduction) is not str:
        raise TypeError(f"ctc_loss: reduction must be a str, one of {_REDUCTIONS}, got "
                        f"{_show(reduction)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(zero_infinity, (bool, np.bool_)):
        raise TypeError(f"ctc_loss: zero_infinity must be a bool, got {_show(zero_infinity)}")
    il = _check_lengths(input_lengths, "input_lengths", N, unbatched)
    tl = _check_lengths(target_lengths, "target_lengths", N, unbatched)
    _check_input_lengths_fit(il, T)
    labels, offsets = _flatten_targets(targets, tl, N, C, blank, unbatched)

    want_grad = is_grad_enabled() and log_probs.requires_grad
    logits = _log_softmax_input(log_probs) if want_grad else None
    # d out / d loss[n] for the plain loss.backward(): the kernel writes it into the gradient
    weight = 1.0 / N if reduction == "mean" else 1.0
    loss = np.empty(N, dtype=np.float64)
    grad = np.empty(lp.shape, dtype=lp.dtype) if want_grad else None
    _ctc.ctc_loss_forward(lp, labels, offsets, il, tl, blank, loss, grad,
                          _threads.get_num_threads(), weight, logits is not None)
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
    if lp.dtype == np.float32:
        with np.errstate(over="ignore"):  # a loss beyond float32's range is inf, as it should be
            out = np.asarray(out, dtype=np.float32)
    else:
        out = np.asarray(out)
    if not want_grad:
        return Tensor(out, device=log_probs.device)

    source = log_probs if logits is None else logits

    def backward(g: np.ndarray):
        g = g.reshape(-1)  # (N,) for "none", else (1,)
        scaled = grad if (g == 1).all() else grad * g.astype(grad.dtype)[:, None]
        return (scaled.reshape(source.shape),)

    return record(out, (source,), backward, "CtcLossBackward")


def _log_softmax_input(log_probs: Tensor) -> Tensor | None:
    """z if log_probs was computed as log_softmax(z) over its class (last) axis, else None."""
    node = log_probs.grad_fn
    step = node.backward if node is not None else None  # None too once a backward freed it
    if (_fuse_log_softmax and isinstance(step, LogSoftmaxBackward)
            and step.axis == log_probs.ndim - 1):
        return node.inputs[0]
    return None


# ----------------------------------------------------------------------------- input checks
# Shared with lucid/nn/functional/decode.py, whose functions pass their own name as ``fn``.
# Each raises before anything is computed; a message names the function and the argument, says
# what was expected and shows what was got. The common, valid case costs a handful of numpy
# reductions: the positions of offending values are only worked out once one is known to exist.


def _show(value: Any, limit: int = 60) -> str:
    """``type value`` for an error message, the repr cut to ``limit`` characters."""
    text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def _check_log_probs(log_probs: Any, fn: str = "ctc_loss") -> tuple[np.ndarray, bool]:
    """The (T, N, C) array behind log_probs and whether the input was unbatched (T, C)."""
    if not isinstance(log_probs, Tensor):
        hint = " (wrap it with lucid.tensor)" if isinstance(log_probs, np.ndarray) else ""
        raise TypeError(f"{fn}: log_probs must be a lucid.Tensor, got "
                        f"{type(log_probs).__name__}{hint}")
    lp = log_probs.numpy()
    if not isinstance(lp, np.ndarray):
        raise TypeError(f"{fn}: log_probs must hold a numpy array, got {type(lp).__name__}")
    if lp.dtype != np.float32 and lp.dtype != np.float64:  # also rejects non-native byte order
        raise TypeError(f"{fn}: log_probs must be float32 or float64, got {lp.dtype}")
    if lp.ndim != 3 and lp.ndim != 2:
        raise ValueError(f"{fn}: log_probs must have shape (T, N, C) or (T, C), got shape "
                         f"{lp.shape}")
    if 0 in lp.shape:
        dims = "TNC" if lp.ndim == 3 else "TC"
        empty = ", ".join(f"{d} = 0" for d, size in zip(dims, lp.shape) if size == 0)
        raise ValueError(f"{fn}: log_probs must have T, N, C >= 1, got shape {lp.shape} "
                         f"({empty})")
    unbatched = lp.ndim == 2
    return (lp[:, None, :] if unbatched else lp), unbatched


def _check_blank(blank: Any, C: int, fn: str = "ctc_loss") -> int:
    if isinstance(blank, (bool, np.bool_)) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"{fn}: blank must be an int, got {_show(blank)}")
    if not 0 <= blank < C:
        raise ValueError(f"{fn}: blank must be a class index in [0, {C}), got {blank}")
    return int(blank)


def _integer_array(value: Any, name: str, fn: str = "ctc_loss") -> np.ndarray:
    """value as a numpy integer array (no cast): floats, bools and non-numbers are a TypeError."""
    arr = value.numpy() if isinstance(value, Tensor) else value
    if not isinstance(arr, np.ndarray):
        if isinstance(arr, (list, tuple)) and len(arr) == 0:
            return np.zeros(0, dtype=np.int64)  # numpy would make [] float64
        try:
            arr = np.asarray(arr)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. ragged nested lists
            kind = ValueError if isinstance(exc, ValueError) else TypeError
            raise kind(f"{fn}: {name} must be a rectangular array of integers, got "
                       f"{_show(value)} ({exc})") from exc
    if arr.dtype.kind not in "iu":
        if arr.dtype == object:  # where Python ints beyond the 64-bit range end up
            for i, v in np.ndenumerate(arr):
                if type(v) is int and not -(2**63) <= v < 2**63:
                    where = ", ".join(map(str, i))
                    raise ValueError(f"{fn}: {name}[{where}] must fit in int64, got {v}")
        raise TypeError(f"{fn}: {name} must have an integer dtype, got {arr.dtype}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check_lengths(value: Any, name: str, N: int, unbatched: bool,
                   fn: str = "ctc_loss") -> np.ndarray:
    """The lengths as a contiguous int64 (N,) array (shape (1,) if unbatched), all >= 0."""
    if value is None:
        raise TypeError(f"{fn}: {name} is required, got None")
    arr = _integer_array(value, name, fn)
    if unbatched:
        if arr.ndim > 1 or arr.size != 1:
            raise ValueError(f"{fn}: {name} must be an int or 0-d for unbatched log_probs, "
                             f"got shape {arr.shape}")
        arr = arr.reshape(1)
    elif arr.shape != (N,):
        raise ValueError(f"{fn}: {name} must have shape ({N},) to match the batch of "
                         f"log_probs, got shape {arr.shape}")
    if arr.dtype.kind == "u":
        if arr.max() > _INT64_MAX:
            n = int(np.argmax(arr > _INT64_MAX))
            raise ValueError(f"{fn}: {_at(name, n, unbatched)} must fit in int64, got {arr[n]}")
    elif arr.min() < 0:
        n = int(np.argmax(arr < 0))
        raise ValueError(f"{fn}: {_at(name, n, unbatched)} must be >= 0, got {arr[n]}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _at(name: str, n: int, unbatched: bool) -> str:
    return name if unbatched else f"{name}[{n}]"


def _check_input_lengths_fit(il: np.ndarray, T: int, fn: str = "ctc_loss") -> None:
    """Every input length (checked >= 0 already) at most T."""
    if il.max() > T:
        n = int(np.argmax(il > T))
        raise ValueError(f"{fn}: input_lengths[{n}] = {il[n]} exceeds the {T} frames of "
                         f"log_probs")


def _flatten_targets(targets: Any, tl: np.ndarray, N: int, C: int, blank: int,
                     unbatched: bool, fn: str = "ctc_loss") -> tuple[np.ndarray, np.ndarray]:
    """Every sample's labels, concatenated as int64, and where each sample starts; all checked.

    Only the labels within the target lengths are looked at: padding may hold anything.
    """
    if targets is None:
        raise TypeError(f"{fn}: targets is required, got None")
    arr = _integer_array(targets, "targets", fn)
    within = None  # for padded targets: which entries are labels, to locate a bad one
    if unbatched:
        if arr.ndim != 1:
            raise ValueError(f"{fn}: targets must be 1-D (S,) for unbatched log_probs, got shape "
                             f"{arr.shape}")
        if tl[0] > arr.shape[0]:
            raise ValueError(f"{fn}: target_lengths must be at most the {arr.shape[0]} entries "
                             f"of targets, got {tl[0]}")
        labels = arr[: tl[0]]
    elif arr.ndim == 2:
        if arr.shape[0] != N:
            raise ValueError(f"{fn}: padded targets must have N = {N} rows (the batch of "
                             f"log_probs), got shape {arr.shape}")
        width = arr.shape[1]
        if tl.max() > width:
            n = int(np.argmax(tl > width))
            raise ValueError(f"{fn}: target_lengths[{n}] must be at most the width {width} of "
                             f"the padded targets, got {tl[n]}")
        if tl.min() == width:
            labels = arr.reshape(-1)
        else:
            within = np.arange(width) < tl[:, None]
            labels = arr[within]
    elif arr.ndim == 1:
        M = arr.shape[0]
        if tl.max() > M:
            n = int(np.argmax(tl > M))
            raise ValueError(f"{fn}: target_lengths[{n}] must be at most the {M} labels of the "
                             f"concatenated targets, got {tl[n]}")
        # Each length is at most M, so the int64 sum cannot wrap around unless N * M >= 2**63
        # (e.g. 2 * (2**63 - 1) + 5 is 3 in int64).
        total = int(tl.sum()) if M <= _INT64_MAX // N else sum(map(int, tl))
        if total != M:
            raise ValueError(f"{fn}: concatenated targets must hold sum(target_lengths) = {total} "
                             f"labels, got {M}")
        labels = arr
    else:
        raise ValueError(f"{fn}: targets must be padded (N, S_max) or concatenated "
                         f"(sum(target_lengths),), got shape {arr.shape}")

    # Seen as unsigned, a negative label is huge: one comparison checks the range [0, C).
    unsigned = labels if labels.dtype.kind == "u" else labels.view(f"u{labels.dtype.itemsize}")
    bad = (unsigned >= C) | (labels == blank)
    if bad.any():
        i = int(np.argmax(bad))
        if within is not None:
            position = tuple(np.argwhere(within)[i])
        elif arr.ndim == 2:
            position = divmod(i, arr.shape[1])
        else:
            position = (i,)
        where = ", ".join(map(str, position))
        if labels[i] == blank:
            raise ValueError(f"{fn}: targets[{where}] = {blank} is the blank label; targets "
                             f"may not contain blank")
        raise ValueError(f"{fn}: targets[{where}] = {labels[i]} is not a class index in "
                         f"[0, {C})")
    offsets = np.cumsum(tl) - tl
    return np.ascontiguousarray(labels, dtype=np.int64), offsets
