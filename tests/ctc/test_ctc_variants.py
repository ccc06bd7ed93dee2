"""The CTC variants of docs/ctc_variants.rst (label priors, delay penalty, focal, max-path,
intermediate CTC), as the page composes them in docs/ctc_variants.py, against direct
references: every path of a tiny lattice enumerated and weighted as the variant's paper says,
in plain numpy. Gradients with respect to the logits are checked against central differences
of those references, and with respect to the log-probabilities against the closed forms
(minus the reweighted path posterior; minus a one-hot along the best path)."""

import functools
import itertools

import numpy as np
import pytest
from helpers.ctc_reference import collapse
from helpers.examples import DOCS, load_example
from helpers.gradcheck import central_difference

import lucid
from lucid.nn.functional import log_softmax

variants = load_example("ctc_variants", DOCS)

# Three samples of up to 5 frames over blank and two labels: a repeat that needs the blank
# between, a single label in 4 of the 5 frames, two different labels.
C = 3
TARGETS = [[1, 1], [2, 0], [1, 2]]
TARGET_LENGTHS = [2, 1, 2]
INPUT_LENGTHS = [5, 4, 5]
T, N = max(INPUT_LENGTHS), len(TARGETS)
LOG_PRIOR = np.log([0.6, 0.15, 0.25])
PRIOR_WEIGHT, PENALTY, ALPHA, GAMMA, INTER_WEIGHT = 0.4, 0.3, 0.7, 1.5, 0.3


def np_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@functools.cache
def valid_paths(frames, target):
    """Every path of `frames` classes that collapses to `target`, as an (P, frames) array."""
    paths = [p for p in itertools.product(range(C), repeat=frames) if collapse(p) == list(target)]
    return np.array(paths, dtype=np.int64).reshape(len(paths), frames)


def samples(lp):
    """Each sample's frames (L_n, C) and paths (P, L_n)."""
    for n in range(N):
        L, S = INPUT_LENGTHS[n], TARGET_LENGTHS[n]
        yield n, lp[:L, n], valid_paths(L, tuple(TARGETS[n][:S]))


def path_sum(lp, path_score):
    """Per sample: -log sum over its paths of exp(sum_t lp[t, pi_t] + path_score(n, pi)), and
    d/d lp = minus the probability, under those weights, that a path emits k at frame t."""
    loss, grad = np.zeros(N), np.zeros_like(lp)
    for n, frames, paths in samples(lp):
        steps = np.arange(frames.shape[0])
        log_w = np.array([frames[steps, p].sum() + path_score(n, p) for p in paths])
        top = log_w.max()
        weights = np.exp(log_w - top)
        loss[n] = -(top + np.log(weights.sum()))
        posterior = weights / weights.sum()
        for p, w in zip(paths, posterior):
            grad[steps, n, p] -= w
    return loss, grad


def plain(lp):
    return path_sum(lp, lambda n, p: 0.0)


def with_priors(lp):
    """Huang et al. (2024): each path scored by prod_t p_t(pi_t) / prior(pi_t) ** w."""
    return path_sum(lp, lambda n, p: -PRIOR_WEIGHT * LOG_PRIOR[p].sum())


def delay_penalized(lp):
    """Every non-blank frame t of sample n costs PENALTY * (t - L_n // 2)."""
    def late(n, p):
        t = np.flatnonzero(p != 0)
        return -PENALTY * (t - INPUT_LENGTHS[n] // 2).sum()
    return path_sum(lp, late)


def focal(lp):
    """Feng et al. (2019): alpha (1 - p) ** gamma * (-log p), p the target's probability."""
    loss, grad = plain(lp)
    p = np.exp(-loss)
    outer = ALPHA * ((1 - p) ** GAMMA + GAMMA * (1 - p) ** (GAMMA - 1) * p * loss)
    return ALPHA * (1 - p) ** GAMMA * loss, grad * outer[:, None]


def max_path(lp):
    """-log of the best path's probability; d/d lp = -1 on the path's class at each frame."""
    loss, grad = np.zeros(N), np.zeros_like(lp)
    for n, frames, paths in samples(lp):
        steps = np.arange(frames.shape[0])
        scores = frames[steps, paths].sum(axis=1)
        best = paths[np.argmax(scores)]
        assert np.sort(scores)[-2] < scores.max() - 1e-6, "a tie: pick other inputs"
        loss[n] = -scores.max()
        grad[steps, n, best] = -1.0
    return loss, grad


def intermediate(lp, inter_lp):
    """Lee & Watanabe (2021): (1 - w) CTC(last layer) + w CTC(intermediate layer)."""
    return (1 - INTER_WEIGHT) * plain(lp)[0] + INTER_WEIGHT * plain(inter_lp)[0]


ARGS = (TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)
CASES = {  # the page's composition, and the reference of the same loss
    "priors": (lambda lp: variants.prior_ctc_loss(
        lp, *ARGS, lucid.tensor(LOG_PRIOR, dtype=lp.dtype),
        prior_weight=PRIOR_WEIGHT), with_priors),
    "delay": (lambda lp: variants.delay_penalized_ctc_loss(lp, *ARGS, penalty=PENALTY),
              delay_penalized),
    "focal": (lambda lp: variants.focal_ctc_loss(lp, *ARGS, alpha=ALPHA, gamma=GAMMA), focal),
    "max_path": (lambda lp: variants.max_path_loss(lp, *ARGS), max_path),
}


def logits(seed):
    # Padding frames hold random values too: the variants must not read them.
    return np.random.default_rng(seed).normal(scale=1.5, size=(T, N, C))


def leaf(array):
    return lucid.tensor(array, dtype=lucid.float64, requires_grad=True)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_with_respect_to_log_probs(name, seed):
    composed, reference = CASES[name]
    lp = np_log_softmax(logits(seed))
    want_loss, want_grad = reference(lp)
    weight = np.array([0.7, 1.3, 1.0])
    x = leaf(lp)
    loss = composed(x)
    (loss * lucid.tensor(weight)).sum().backward()
    np.testing.assert_allclose(loss.numpy(), want_loss, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), want_grad * weight[:, None], rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_through_log_softmax_matches_central_differences(name):
    composed, reference = CASES[name]
    z = logits(2)
    weight = np.array([0.7, 1.3, 1.0])
    x = leaf(z)
    (composed(log_softmax(x, dim=2)) * lucid.tensor(weight)).sum().backward()
    numeric = central_difference(lambda v: weight @ reference(np_log_softmax(v))[0], z)
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_intermediate_ctc():
    z, inter_z = logits(3), logits(4)
    weight = np.array([0.7, 1.3, 1.0])
    x, y = leaf(z), leaf(inter_z)
    loss = variants.intermediate_ctc_loss(log_softmax(x, dim=2), log_softmax(y, dim=2), *ARGS,
                                          weight=INTER_WEIGHT)
    (loss * lucid.tensor(weight)).sum().backward()
    np.testing.assert_allclose(loss.numpy(),
                               intermediate(np_log_softmax(z), np_log_softmax(inter_z)),
                               rtol=1e-12)
    numeric_x = central_difference(
        lambda v: weight @ intermediate(np_log_softmax(v), np_log_softmax(inter_z)), z)
    numeric_y = central_difference(
        lambda v: weight @ intermediate(np_log_softmax(z), np_log_softmax(v)), inter_z)
    np.testing.assert_allclose(x.grad.numpy(), numeric_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(y.grad.numpy(), numeric_y, rtol=1e-6, atol=1e-8)


def test_frame_log_prior_is_the_mean_posterior_over_the_frames_inside():
    z = logits(5)
    probs = np.exp(np_log_softmax(z))
    inside = np.arange(T)[:, None] < np.array(INPUT_LENGTHS)
    want = np.log(probs[inside].mean(axis=0))
    x = leaf(z)
    got = variants.frame_log_prior(log_softmax(x, dim=2), INPUT_LENGTHS)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    assert not got.requires_grad


def test_max_path_of_a_sample_without_a_path_is_inf_with_zero_gradient():
    x = leaf(np_log_softmax(logits(6)))
    loss = variants.max_path_loss(x, [[1, 1, 1], [2, 0, 0], [1, 2, 0]], [4, 4, 5], [3, 1, 2])
    assert loss.numpy()[0] == np.inf and np.isfinite(loss.numpy()[1:]).all()
    loss.backward(gradient=np.array([0.0, 1.0, 1.0]))  # the inf left out
    assert not x.grad.numpy()[:, 0].any()
    assert (x.grad.numpy()[:, 1:].sum(axis=2)[:4] == -1).all()  # one -1 per frame inside


@pytest.mark.parametrize("name", list(CASES))
def test_float32_in_float32_out(name):
    composed, _ = CASES[name]
    lp = np_log_softmax(logits(7))
    single = composed(lucid.tensor(lp, dtype=lucid.float32))
    assert single.dtype == lucid.float32
    np.testing.assert_allclose(single.numpy(), composed(lucid.tensor(lp)).numpy(), rtol=1e-5)
