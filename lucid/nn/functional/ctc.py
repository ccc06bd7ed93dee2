"""ctc_loss: the autograd node around the Cython kernel (lucid/_C/_ctc.pyx).

Everything the kernel assumes is established here, by the checks in _ctc_checks.py, before it
runs: dtypes, ranks, sizes, every length in range and every label (within its target's length)
a non-blank class. The kernel then sees the log-probabilities as they are (any strides), the
labels of all samples concatenated as int64 with per-sample offsets, and int64 lengths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid import _buffers, _threads
from lucid._C import _ctc
from lucid._tensor import Tensor, record
from lucid.autograd import is_grad_enabled
from lucid.nn.functional._ctc_checks import (
    batch_first_hint,
    check_blank,
    check_input_lengths_fit,
    check_lengths,
    check_log_probs,
    check_penalty,
    flatten_targets,
    show_value,
    warn_if_not_log_probs,
)
from lucid.nn.functional.activation import LogSoftmaxBackward

_REDUCTIONS = ("none", "mean", "sum")
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
    *,
    star_penalty: float | None = None,
) -> Tensor:
    """Connectionist Temporal Classification loss (Graves et al., 2006).

    For each sample, the negative log of the total probability of all frame-level
    alignments (label sequences with blanks and repeats) that collapse to the target,
    computed by the forward-backward dynamic programme.

    Parameters
    ----------
    log_probs : Tensor, float32 or float64, shape (T, N, C) or (T, C)
        Per-frame log-probabilities over C classes, usually from ``log_softmax(..., dim=2)``.
        Treated as free variables: the gradient is exact even if they are not normalised, but
        a first frame whose probabilities do not sum to 1 (raw logits, say) draws a
        :class:`lucid.LogProbsWarning`, unless log_probs come straight from log_softmax.
        Non-contiguous views (e.g. ``x.transpose(0, 1)``) are fine. ``-inf`` marks an
        impossible emission; a NaN the DP reads gives that sample a NaN loss.
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
    star_penalty : float <= 0, optional, keyword only
        Star Temporal Classification (Pratap et al., 2022): a wildcard may absorb frames
        before the first label, between any two labels and after the last, for speech the
        transcript leaves out. Each wildcard frame scores ``star_penalty`` plus the log of
        the frame's total probability (0 for normalised log_probs), and the loss sums over
        every path of this larger lattice, so it never exceeds the plain loss and tends to it
        as the penalty goes to -inf. None (the default): the plain CTC loss, computed exactly
        as without the argument. See :doc:`alignment` for the lattice and why there is no
        ``skip_penalty`` here.

    Returns
    -------
    Tensor
        Of ``log_probs``' dtype and device: scalar for "mean"/"sum", else per sample.

    Notes
    -----
    Differs from PyTorch in three ways, on purpose:

    - ``reduction="mean"`` is the plain batch mean of the per-sample losses, as lucid's
      ctc_loss documentation says; PyTorch first divides each loss by its target length.
    - The gradient is the exact derivative with respect to ``log_probs``: minus the
      posterior probability that frame t emits class c. PyTorch returns
      ``exp(log_probs) - posterior``, which is right only when a log_softmax follows in the
      backward pass (through log_softmax both give the same gradient for the logits).
    - Bad input (labels outside [0, C) or equal to blank, float targets, lengths out of
      range) raises ValueError/TypeError instead of returning a number.

    The DP runs in double precision whatever the input dtype, in probability space with
    per-frame rescaling, falling back to log space for any sample where that could lose
    precision (with ``star_penalty``: always in log space). Samples are spread over
    ``lucid.get_num_threads()`` OpenMP threads; results do not depend on the thread count.

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
    if type(reduction) is not str:
        raise TypeError(f"ctc_loss: reduction must be a str, one of {_REDUCTIONS}, got "
                        f"{show_value(reduction)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(zero_infinity, (bool, np.bool_)):
        raise TypeError(f"ctc_loss: zero_infinity must be a bool, got {show_value(zero_infinity)}")
    star = check_penalty(star_penalty, "star_penalty", "ctc_loss")
    lp, unbatched, kernel_args = _checked(log_probs, targets, input_lengths, target_lengths,
                                          blank)
    N = lp.shape[1]

    want_grad = is_grad_enabled() and log_probs.requires_grad
    logits = _log_softmax_input(log_probs) if want_grad else None
    if logits is None:  # log_softmax's output needs no look
        warn_if_not_log_probs(lp, kernel_args[2], "ctc_loss")
    # d out / d loss[n] for the plain loss.backward(): the kernel writes it into the gradient
    weight = 1.0 / N if reduction == "mean" else 1.0
    loss = np.empty(N, dtype=np.float64)
    grad = _buffers.empty(lp.shape, lp.dtype) if want_grad else None
    _ctc.ctc_loss_forward(lp, *kernel_args, loss, grad, _threads.get_num_threads(), weight,
                          logits is not None, None, np.nan if star is None else star)
    if zero_infinity:
        # infinite in the output dtype: a float32 loss beyond float32's range counts too
        with np.errstate(over="ignore"):
            infinite = np.isinf(loss.astype(lp.dtype))
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

    return record(out, (source,), backward, "CtcLossBackward", owned=True)


def _log_softmax_input(log_probs: Tensor) -> Tensor | None:
    """z if log_probs was computed as log_softmax(z) over its class (last) axis, else None."""
    node = log_probs.grad_fn
    if log_probs._grad_hooks or log_probs._retains_grad:  # its gradient must exist to be seen
        return None
    step = node.backward if node is not None else None  # None too once a backward freed it
    if (_fuse_log_softmax and isinstance(step, LogSoftmaxBackward)
            and step.axis == log_probs.ndim - 1):
        return node.inputs[0]
    return None


def _checked(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any,
             blank: Any) -> tuple[np.ndarray, bool, tuple]:
    """The (T, N, C) array, whether the input was unbatched, and the kernel's target arguments
    (labels, offsets, input lengths, target lengths, blank), all checked."""
    lp, unbatched = check_log_probs(log_probs)
    T, N, C = lp.shape
    blank = check_blank(blank, C)
    with batch_first_hint("ctc_loss", lp, unbatched, "input_lengths", input_lengths):
        il = check_lengths(input_lengths, "input_lengths", N, unbatched)
        tl = check_lengths(target_lengths, "target_lengths", N, unbatched)
    check_input_lengths_fit(il, T)
    with batch_first_hint("ctc_loss", lp, unbatched, "targets", targets):
        labels, offsets = flatten_targets(targets, tl, N, C, blank, unbatched)
    return lp, unbatched, (labels, offsets, il, tl, blank)


def _branches(log_probs: Tensor, targets: Any, input_lengths: Any, target_lengths: Any,
              blank: int = 0, grad: bool = True,
              star_penalty: float | None = None) -> tuple[np.ndarray, np.ndarray | None, list]:
    """For the tests: per-sample losses, the gradient (or None; with respect to the logits when
    log_probs is their log_softmax, as in ctc_loss) and, per sample, the names of the kernel
    branches that gave the answer ("fast", "guard (a)", ..., plus "partial" when
    gradient rows were written and then zeroed before falling back to log space)."""
    lp, _, kernel_args = _checked(log_probs, targets, input_lengths, target_lengths, blank)
    loss = np.empty(lp.shape[1], dtype=np.float64)
    out = np.empty(lp.shape, dtype=lp.dtype) if grad else None
    paths = np.empty(lp.shape[1], dtype=np.intc)
    fused = grad and _log_softmax_input(log_probs) is not None  # as ctc_loss would run it
    _ctc.ctc_loss_forward(lp, *kernel_args, loss, out, _threads.get_num_threads(), 1.0, fused,
                          paths, np.nan if star_penalty is None else star_penalty)
    partial = _ctc.PATH_PARTIAL_CODE
    names = [[_ctc.PATHS[code & ~partial]] + (["partial"] if code & partial else [])
             for code in paths.tolist()]
    return loss, out, names
