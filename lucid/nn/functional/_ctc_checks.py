"""Input checks shared by ctc_loss and the CTC decoders (greedy, forced alignment, beam search).

Each function takes the name of the calling function as ``fn`` and raises before anything is
computed; a message names the function and the argument, says what was expected and shows what
was got. The common, valid case costs a handful of numpy reductions: the positions of offending
values are only worked out once one is known to exist.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from lucid._tensor import Tensor

_INT64_MAX = np.iinfo(np.int64).max
# A log_softmax row's logsumexp is 0 to within ~1e-6 in float32 (~1e-3 for float16 output
# widened); raw logits are off by whole units. 0.01: the probabilities sum to 1 within 1%.
_LOG_PROBS_TOLERANCE = 1e-2
_SUM_LOW, _SUM_HIGH = np.exp(-_LOG_PROBS_TOLERANCE), np.exp(_LOG_PROBS_TOLERANCE)
# What of frame 0 is looked at: the first 64 samples', fewer when C is large (one for
# C >= 4096): microseconds, next to a ctc_loss forward that reads only the targets' classes.
_LOOK_ROWS, _LOOK_AT = 64, 4096


class LogProbsWarning(UserWarning):
    """log_probs that do not look like log-probabilities were passed (e.g. raw logits).

    Judged from the first frame only (of the first 64 samples, fewer when C is large): its
    probabilities should sum to 1. To pass unnormalised scores on purpose, filter the
    category::

        warnings.filterwarnings("ignore", category=lucid.LogProbsWarning)
    """


def reject_torch(value: Any, name: str, fn: str) -> None:
    """A TypeError for a torch tensor, told by its type's module (torch is never imported)."""
    module = type(value).__module__
    if module == "torch" or module.startswith("torch."):
        fix = ("lucid.tensor(x.detach().cpu().numpy())" if name == "log_probs"
               else "x.detach().cpu().numpy() (or a list)")
        raise TypeError(f"{fn}: {name} is a {module}.{type(value).__name__}; lucid does not "
                        f"read torch memory: pass {fix}")


def show_value(value: Any, limit: int = 60) -> str:
    """``type value`` for an error message, the repr cut to ``limit`` characters."""
    text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def check_log_probs(log_probs: Any, fn: str = "ctc_loss",
                    batch_first: bool = False) -> tuple[np.ndarray, bool]:
    """The (T, N, C) array behind log_probs and whether the input was unbatched (T, C).

    ``ctc_loss`` takes log_probs time first, (T, N, C), as PyTorch's does; the functions of
    ``lucid.ctc`` take them batch first, (N, T, C), as torchaudio's do (``batch_first=True``),
    and get a (T, N, C) view of them here, so that one set of checks and kernels serves both."""
    reject_torch(log_probs, "log_probs", fn)
    if not isinstance(log_probs, Tensor):
        hint = " (wrap it with lucid.tensor)" if isinstance(log_probs, np.ndarray) else ""
        raise TypeError(f"{fn}: log_probs must be a lucid.Tensor, got "
                        f"{type(log_probs).__name__}{hint}")
    lp = log_probs.numpy()
    if not isinstance(lp, np.ndarray):
        raise TypeError(f"{fn}: log_probs must hold a numpy array, got {type(lp).__name__}")
    if lp.dtype != np.float32 and lp.dtype != np.float64:  # also rejects non-native byte order
        raise TypeError(f"{fn}: log_probs must be float32 or float64, got {lp.dtype}")
    layout = "NTC" if batch_first else "TNC"
    if lp.ndim != 3 and lp.ndim != 2:
        raise ValueError(f"{fn}: log_probs must have shape ({', '.join(layout)}) or (T, C), got "
                         f"shape {lp.shape}")
    if 0 in lp.shape:
        dims = layout if lp.ndim == 3 else "TC"
        empty = ", ".join(f"{d} = 0" for d, size in zip(dims, lp.shape) if size == 0)
        raise ValueError(f"{fn}: log_probs must have T, N, C >= 1, got shape {lp.shape} "
                         f"({empty})")
    unbatched = lp.ndim == 2
    if unbatched:
        return lp[:, None, :], True
    return (lp.swapaxes(0, 1) if batch_first else lp), False


def check_blank(blank: Any, C: int, fn: str = "ctc_loss") -> int:
    if isinstance(blank, (bool, np.bool_)) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"{fn}: blank must be an int, got {show_value(blank)}")
    if not 0 <= blank < C:
        raise ValueError(f"{fn}: blank must be a class index in [0, {C}), got {blank}")
    return int(blank)


def integer_array(value: Any, name: str, fn: str = "ctc_loss") -> np.ndarray:
    """value as a numpy integer array (no cast): floats, bools and non-numbers are a TypeError."""
    reject_torch(value, name, fn)
    arr = value.numpy() if isinstance(value, Tensor) else value
    if not isinstance(arr, np.ndarray):
        if isinstance(arr, (list, tuple)) and len(arr) == 0:
            return np.zeros(0, dtype=np.int64)  # numpy would make [] float64
        try:
            arr = np.asarray(arr)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. ragged nested lists
            kind = ValueError if isinstance(exc, ValueError) else TypeError
            raise kind(f"{fn}: {name} must be a rectangular array of integers, got "
                       f"{show_value(value)} ({exc})") from exc
        if arr.size == 0 and arr.dtype == np.float64:  # e.g. [[], []]: numpy's default dtype
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype == object:  # where Python ints beyond the 64-bit range end up
            for i, v in np.ndenumerate(arr):
                # numpy < 1.24 turns ragged nested lists into an object array of lists
                if isinstance(v, (list, tuple, np.ndarray)):
                    raise ValueError(f"{fn}: {name} must be a rectangular array of integers, "
                                     f"got {show_value(value)} (ragged)")
                if type(v) is int and not -(2**63) <= v < 2**63:
                    where = ", ".join(map(str, i))
                    raise ValueError(f"{fn}: {name}[{where}] must fit in int64, got {v}")
        raise TypeError(f"{fn}: {name} must have an integer dtype, got {arr.dtype}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def check_lengths(value: Any, name: str, N: int, unbatched: bool,
                   fn: str = "ctc_loss") -> np.ndarray:
    """The lengths as a contiguous int64 (N,) array (shape (1,) if unbatched), all >= 0."""
    if value is None:
        raise TypeError(f"{fn}: {name} is required, got None")
    arr = integer_array(value, name, fn)
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


def check_input_lengths_fit(il: np.ndarray, T: int, fn: str = "ctc_loss") -> None:
    """Every input length (checked >= 0 already) at most T."""
    if il.max() > T:
        n = int(np.argmax(il > T))
        raise ValueError(f"{fn}: input_lengths[{n}] = {il[n]} exceeds the {T} frames of "
                         f"log_probs")


@contextlib.contextmanager
def batch_first_hint(fn: str, lp: np.ndarray, unbatched: bool, name: str,
                     value: Any, batch_first: bool = False) -> Iterator[None]:
    """Adds the likely cause to a ValueError raised inside when value, input_lengths or padded
    targets, has an entry or row per frame of log_probs (the (T, N, C) view): log_probs in the
    other layout than fn takes, batch first for ctc_loss, time first for lucid.ctc."""
    try:
        yield
    except ValueError as exc:
        T, N = lp.shape[:2]
        shape = _shape(value)
        if unbatched or T == N or shape[:1] != (T,):
            raise
        axis = "second" if batch_first else "first"
        if name in ("input_lengths", "lengths") and len(shape) == 1:
            clue = f"{name} match the {axis} axis of log_probs (T = {T})"
        elif name == "targets" and len(shape) == 2:
            clue = f"targets have as many rows as the {axis} axis of log_probs (T = {T})"
        else:
            raise
        takes, other = (("(N, T, C), batch first", "time-first (T, N, C)") if batch_first else
                        ("(T, N, C), time first", "batch-first (N, T, C)"))
        raise ValueError(f"{exc}; {clue}: {fn} takes log_probs as {takes}; for {other} "
                         f"output pass log_probs.transpose(0, 1)") from None


def batch_first_lengths(lp: np.ndarray, unbatched: bool, lengths: Any, fn: str,
                        name: str = "input_lengths") -> np.ndarray:
    """The checked frame count of each sample of lucid.ctc's batch-first input (``lp`` its
    (T, N, C) view): T for all when ``lengths`` is None, else each in [0, T]."""
    T, N = lp.shape[:2]
    if lengths is None:
        lengths = T if unbatched else np.full(N, T)
    with batch_first_hint(fn, lp, unbatched, name, lengths, batch_first=True):
        checked = check_lengths(lengths, name, N, unbatched, fn)
        check_input_lengths_fit(checked, T, fn)
    return checked


def _shape(value: Any) -> tuple:
    value = value.numpy() if isinstance(value, Tensor) else value
    try:
        return np.shape(value)
    except (TypeError, ValueError):  # ragged: not a layout mix-up
        return ()


def check_no_nan(lp: np.ndarray, il: np.ndarray, unbatched: bool, fn: str,
                 frame_max: np.ndarray | None = None, batch_first: bool = False) -> None:
    """NaN and +inf are errors (-inf, log 0, is fine) in the frames within the input lengths.

    One reduction over the whole array in the common case: its maximum is NaN or +inf exactly
    when one of those is somewhere. A caller that has each frame's maximum (greedy decoding's
    argmax: numpy's argmax finds the first NaN, else the first +inf) passes it as frame_max,
    and only that is reduced. Frames past the lengths are told apart only once a bad value
    is known to exist."""
    if (lp if frame_max is None else frame_max).max() < np.inf:
        return
    bad = ~(lp < np.inf)
    bad &= (np.arange(lp.shape[0])[:, None] < il)[:, :, None]
    if bad.any():
        t, n, c = np.argwhere(bad)[0]
        raise bad_value_error(lp, int(t), int(n), int(c), unbatched, fn, batch_first)


def bad_value_error(lp: np.ndarray, t: int, n: int, c: int, unbatched: bool,
                    fn: str, batch_first: bool = False) -> ValueError:
    """The error for the NaN or +inf at frame t, sample n, class c of the (T, N, C) view,
    named by the caller's indices: [t, n, c], [n, t, c] if batch first, [t, c] unbatched."""
    where = f"{t}, {c}" if unbatched else f"{n}, {t}, {c}" if batch_first else f"{t}, {n}, {c}"
    return ValueError(f"{fn}: log_probs must not contain NaN or +inf (-inf, log 0, is fine) "
                      f"within the input lengths, got log_probs[{where}] = {lp[t, n, c]}")


def warn_if_not_log_probs(lp: np.ndarray, il: np.ndarray, fn: str) -> None:
    """LogProbsWarning if a sample's first frame is not a distribution: raw logits, say.

    Only frame 0 is looked at, of the first samples (a batch is one model's output): at most
    _LOOK_ROWS rows and about _LOOK_AT values, never a pass over the input. The message is
    the same on every call, so Python's default filter shows it once per line of the caller's
    code."""
    rows = max(1, min(_LOOK_ROWS, _LOOK_AT // lp.shape[2]))
    # The common case in three numpy calls: every row's probabilities sum to 1 within the
    # tolerance. Clipped at 1, exp cannot overflow, and a row holding a value above 1 sums
    # to more than e.
    sums = np.add.reduce(np.exp(np.minimum(lp[0, :rows], 1.0)), axis=1).tolist()
    if all(_SUM_LOW <= total <= _SUM_HIGH for total in sums):
        return
    # Otherwise the exact logsumexp, of samples that have frames (padding may hold anything).
    first = lp[0, np.flatnonzero(il > 0)[:rows]].astype(np.float64)
    if first.size == 0:
        return
    top = first.max(axis=1)
    shift = np.where(np.isfinite(top), top, 0.0)[:, None]  # a frame of -inf stays -inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logsumexp = np.log(np.exp(first - shift).sum(axis=1)) + shift[:, 0]
    if not (np.abs(logsumexp) > _LOG_PROBS_TOLERANCE).any():  # NaN is not judged here
        return
    warnings.warn(f"{fn}: log_probs do not look like log-probabilities: the probabilities of "
                  f"a sample's first frame do not sum to 1. Raw scores? Pass "
                  f"log_softmax(x, dim=-1). Unnormalised on purpose? Silence this with "
                  f"warnings.filterwarnings('ignore', category=lucid.LogProbsWarning)",
                  LogProbsWarning, stacklevel=_caller_outside_lucid())


def _caller_outside_lucid() -> int:
    """The stacklevel of the first caller outside the lucid package (e.g. past
    nn.CTCLoss.forward), seen from the function that calls warnings.warn."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "lucid":
        frame, level = frame.f_back, level + 1
    return level


def flatten_targets(targets: Any, tl: np.ndarray, N: int, C: int, blank: int,
                     unbatched: bool, fn: str = "ctc_loss") -> tuple[np.ndarray, np.ndarray]:
    """Every sample's labels, concatenated as int64, and where each sample starts; all checked.

    Only the labels within the target lengths are looked at: padding may hold anything.
    """
    if targets is None:
        raise TypeError(f"{fn}: targets is required, got None")
    arr = integer_array(targets, "targets", fn)
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


def check_penalty(value: Any, name: str, fn: str) -> float | None:
    """A log-score penalty (star_penalty, skip_penalty): None, or a finite real number <= 0."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.numpy()
        if value.ndim != 0:
            raise ValueError(f"{fn}: {name} must be a number or None, got a Tensor of shape "
                             f"{value.shape}")
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number <= 0 or None, got "
                        f"{show_value(value)}")
    if not np.isfinite(value) or value > 0:
        raise ValueError(f"{fn}: {name} must be a finite log-score <= 0 (or None), got {value}")
    return float(value)
