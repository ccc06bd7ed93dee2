"""Independent CTC references for the tests: plain numpy, float64, one sample at a time.

Nothing here shares code or structure with the kernel in ``lucid/_C/_ctc.pyx``, so the two can
disagree. ``log_probs`` are treated as free variables (they need not be normalised), and the
gradient is the exact ``d loss / d log_probs[t, c] = -gamma_t(c)``: minus the posterior
probability, over all valid alignments, that frame ``t`` emits class ``c`` (Graves et al. 2006).

- ``brute_force_ctc`` enumerates every one of the ``C**T`` frame paths; it is the definition
  itself, usable only for tiny ``T`` and ``C``.
- ``numpy_ctc`` is the log-space forward-backward recursion over the extended target
  ``l' = (blank, l_1, blank, l_2, ..., l_S, blank)``, vectorised over ``s`` and looping over ``t``.
- ``ctc_batch_reference`` applies ``numpy_ctc`` to each sample of a (T, N, C) batch.
"""

import itertools

import numpy as np

MAX_BRUTE_FORCE_PATHS = 200_000


def collapse(path, blank=0):
    """The CTC many-to-one map B: merge runs of equal labels, then drop blanks."""
    return [label for label, _ in itertools.groupby(path) if label != blank]


def _logsumexp(x):
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return -np.inf
    m = np.max(x)
    if not np.isfinite(m):
        return m  # all -inf (or a NaN/+inf that should propagate as is)
    return m + np.log(np.sum(np.exp(x - m)))


def _shifted(x, k):
    """x moved k places to the right (k < 0: to the left), the vacated places holding -inf."""
    out = np.full_like(x, -np.inf)
    if k >= 0:
        out[k:] = x[: x.size - k]
    else:
        out[:k] = x[-k:]
    return out


def brute_force_ctc(log_probs, target, blank=0):
    """Loss and exact gradient by enumerating every frame path (tiny T, C only).

    Returns ``(loss, grad)`` with ``loss = -log sum_{pi: B(pi) = target} exp(sum_t lp[t, pi_t])``
    and ``grad[t, c] = -(sum of the probabilities of valid paths with pi_t = c) / p``.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, C = lp.shape
    target = [int(c) for c in target]
    assert C**T <= MAX_BRUTE_FORCE_PATHS, f"{C}**{T} paths is too many to enumerate"

    all_paths = itertools.product(range(C), repeat=T)
    valid = [path for path in all_paths if collapse(path, blank) == target]
    grad = np.zeros((T, C))
    if not valid:
        return np.inf, grad
    paths = np.array(valid, dtype=np.int64).reshape(len(valid), T)
    path_lp = lp[np.arange(T), paths].sum(axis=1)  # log-probability of each valid path
    log_p = _logsumexp(path_lp)
    for t in range(T):
        for c in range(C):
            through = path_lp[paths[:, t] == c]
            grad[t, c] = -np.exp(_logsumexp(through) - log_p)
    return -log_p, grad


def numpy_ctc(log_probs, target, blank=0):
    """Loss and exact gradient by the log-space forward-backward recursion.

    ``alpha[t, s]``: log-probability of the prefixes of the extended target ending in ``l'_s`` at
    frame ``t``, including frame ``t``'s emission. ``beta[t, s]``: log-probability of completing
    the target from ``l'_s`` at frame ``t``, *excluding* frame ``t``'s emission, so
    ``alpha + beta`` is the log-probability of the paths through ``(t, s)`` and no division by the
    emission is ever needed (which keeps ``-inf`` entries harmless).
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, C = lp.shape
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    grad = np.zeros((T, C))
    if T == 0:
        return (0.0 if target.size == 0 else np.inf), grad

    ext = np.full(2 * target.size + 1, blank, dtype=np.int64)
    ext[1::2] = target
    L = ext.size
    # A skip s-2 -> s is allowed into a label that differs from the label two places back.
    can_skip = np.zeros(L, dtype=bool)
    can_skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    skip_from = np.zeros(L, dtype=bool)  # the backward view: s may skip forward to s + 2
    skip_from[:-2] = can_skip[2:]
    emit = lp[:, ext]  # (T, L): emission log-probability of l'_s at frame t

    alpha = np.full((T, L), -np.inf)
    alpha[0, :2] = emit[0, :2]  # Graves et al. 2006, eq. 5 (start on the blank or on l_1)
    for t in range(1, T):  # eqs. 6-7
        prev = alpha[t - 1]
        skip = np.where(can_skip, _shifted(prev, 2), -np.inf)
        alpha[t] = np.logaddexp(np.logaddexp(prev, _shifted(prev, 1)), skip) + emit[t]

    beta = np.full((T, L), -np.inf)
    beta[T - 1, -2:] = 0.0  # the same two end points
    for t in range(T - 2, -1, -1):  # eqs. 10-11, with the emission moved out of beta
        nxt = beta[t + 1] + emit[t + 1]
        skip = np.where(skip_from, _shifted(nxt, -2), -np.inf)
        beta[t] = np.logaddexp(np.logaddexp(nxt, _shifted(nxt, -1)), skip)

    log_p = (
        np.logaddexp(alpha[T - 1, L - 1], alpha[T - 1, L - 2]) if L > 1 else alpha[T - 1, 0]
    )  # eq. 8
    if np.isnan(log_p):
        return np.nan, np.full((T, C), np.nan)
    if log_p == -np.inf:
        return np.inf, grad
    # eqs. 14-15: the posterior of being at l'_s at frame t; gamma_t(c) sums it over l'_s = c
    occupancy = np.exp(alpha + beta - log_p)
    for c in np.unique(ext):
        grad[:, c] = -occupancy[:, ext == c].sum(axis=1)
    return -log_p, grad


def ctc_batch_reference(log_probs, targets, input_lengths, target_lengths, blank=0):
    """Per-sample losses (N,) and per-sample gradients (T, N, C) of a batch, via ``numpy_ctc``.

    ``targets`` is a list of label lists; only the first ``target_lengths[n]`` labels of each are
    used. Gradient rows at ``t >= input_lengths[n]`` are zero.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, N, C = lp.shape
    losses = np.zeros(N)
    grad = np.zeros((T, N, C))
    for n in range(N):
        length = int(input_lengths[n])
        target = list(targets[n])[: int(target_lengths[n])]
        losses[n], grad[:length, n] = numpy_ctc(lp[:length, n], target, blank)
    return losses, grad
