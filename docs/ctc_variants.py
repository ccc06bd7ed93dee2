"""The CTC variants of docs/ctc_variants.rst, each composed from lucid's public API.

Every function takes time-first log-probabilities (T, N, C), padded or concatenated targets
and the lengths, as :func:`lucid.nn.functional.ctc_loss` does, and returns one loss per
sample, shape (N,), for the caller to weight, mask or average. The page shows these functions
and imports them, and tests/ctc/test_ctc_variants.py checks each one, value and gradient,
against a sum over every path, so the code a reader sees is the code that was tested.
"""

from __future__ import annotations

import warnings

import numpy as np

import lucid
from lucid.ctc import forced_align
from lucid.nn.functional import ctc_loss


def frames_inside(input_lengths, T):
    """(T, N) bool tensor: True where frame t lies within sample n's input length."""
    return lucid.arange(T)[:, None] < lucid.tensor(input_lengths)[None, :]


def ctc_of_scores(scores, targets, input_lengths, target_lengths, blank=0):
    """Per-sample ctc_loss of frame scores that are not log-probabilities, on purpose."""
    with warnings.catch_warnings():  # the warning is for raw logits passed by mistake
        warnings.simplefilter("ignore", lucid.LogProbsWarning)
        return ctc_loss(scores, targets, input_lengths, target_lengths, blank, reduction="none")


def frame_log_prior(log_probs, input_lengths):
    """log of each class's mean posterior over the frames within the input lengths, (C,);
    outside the graph, so no gradient flows into the prior."""
    inside = frames_inside(input_lengths, log_probs.shape[0])[:, :, None]
    probs = lucid.where(inside, log_probs.detach().exp(), 0.0)
    return (probs.sum((0, 1)) / inside.sum()).log()


def prior_ctc_loss(log_probs, targets, input_lengths, target_lengths, log_prior,
                   prior_weight=0.3, blank=0):
    """CTC over the paths scored by prod_t p_t(k) / prior(k) ** prior_weight."""
    scores = log_probs - prior_weight * log_prior
    return ctc_of_scores(scores, targets, input_lengths, target_lengths, blank)


def delay_penalized_ctc_loss(log_probs, targets, input_lengths, target_lengths, penalty=0.01,
                             blank=0):
    """CTC with every non-blank frame t of sample n scored penalty * (L_n // 2 - t) higher."""
    T, N, C = log_probs.shape
    lateness = np.arange(T)[:, None] - np.asarray(input_lengths)[None, :] // 2  # (T, N)
    is_token = np.arange(C) != blank
    bonus = -penalty * lateness[:, :, None] * is_token  # (T, N, C)
    scores = log_probs + lucid.tensor(bonus, dtype=log_probs.dtype)
    return ctc_of_scores(scores, targets, input_lengths, target_lengths, blank)


def focal_ctc_loss(log_probs, targets, input_lengths, target_lengths, alpha=0.5, gamma=2.0,
                   blank=0):
    """alpha * (1 - p) ** gamma * loss per sample, p = exp(-loss) the target's probability."""
    loss = ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction="none")
    return alpha * (1 - (-loss).exp()) ** gamma * loss


def max_path_loss(log_probs, targets, input_lengths, target_lengths, blank=0):
    """Minus the log-probability of each sample's best path (inf where there is none)."""
    T, N, _ = log_probs.shape
    batch_first = log_probs.transpose(0, 1)  # forced_align's layout, (N, T, C)
    labels, scores = forced_align(batch_first.detach(), targets, input_lengths, target_lengths,
                                  blank)
    on_path = batch_first[np.arange(N)[:, None], np.arange(T), labels]  # (N, T)
    inside = frames_inside(input_lengths, T).T
    loss = -lucid.where(inside, on_path, 0.0).sum(1)
    has_path = scores.sum(1) > -np.inf
    return lucid.where(has_path, loss, np.inf)


def intermediate_ctc_loss(log_probs, inter_log_probs, targets, input_lengths, target_lengths,
                          weight=0.3, blank=0):
    """(1 - weight) * CTC of the last layer + weight * CTC of an intermediate layer."""
    final = ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction="none")
    inter = ctc_loss(inter_log_probs, targets, input_lengths, target_lengths, blank,
                     reduction="none")
    return (1 - weight) * final + weight * inter
