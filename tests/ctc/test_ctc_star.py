"""ctc_loss with a wildcard (star_penalty): Star Temporal Classification.

The judges: enumeration of every frame-level labelling over the classes and the wildcard on tiny
cases (loss and gradient); an explicit-graph forward recursion for larger ones; central finite
differences; the plain loss (the wildcard only adds paths; a very negative penalty tends to it);
the stored outputs of the code before the wildcard existed, for None.
"""

import numpy as np
import pytest
from helpers import plain_outputs
from helpers.ctc_cases import GRAD_ATOL, LOSS_RTOL, LUCID_DTYPE, Batch
from helpers.gradcheck import check_gradients
from helpers.star_reference import brute_force_star_loss, graph_star_loss

import lucid
from lucid.nn.functional import ctc_loss, log_softmax
from lucid.nn.functional.ctc import _branches

pytestmark = pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")


def star_loss(lp, targets, il, tl, star, dtype=np.float64, fused=False, **kwargs):
    """Per-sample losses and the gradient of their sum, w.r.t. lp (or the logits lp, fused)."""
    x = lucid.tensor(np.asarray(lp), dtype=LUCID_DTYPE[dtype], requires_grad=True)
    inp = log_softmax(x, dim=-1) if fused else x
    losses = ctc_loss(inp, targets, il, tl, reduction="none", star_penalty=star, **kwargs)
    losses.sum().backward()
    return losses.numpy().astype(np.float64), x.grad.numpy().astype(np.float64)


def tiny_case(rng):
    T, C, S = int(rng.integers(1, 7)), int(rng.integers(2, 5)), int(rng.integers(0, 4))
    while (C + 1) ** T > 8000:
        T -= 1
    return rng.normal(scale=2.0, size=(T, C)), rng.integers(1, C, size=S)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fused", [False, True], ids=["log_probs", "through_log_softmax"])
def test_loss_and_gradient_against_enumeration(dtype, fused):
    rng = np.random.default_rng(1)
    for _ in range(60):
        x, target = tiny_case(rng)
        x = x.astype(dtype).astype(np.float64)
        star = -float(rng.uniform(0, 4))
        T = x.shape[0]
        loss, grad = star_loss(x[:, None], target[None], [T], [len(target)], star, dtype, fused)
        if fused:
            lp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
            want, want_grad = brute_force_star_loss(lp, target, 0, star)
            # through log_softmax: g - softmax sum(g)
            want_grad = want_grad - np.exp(lp) * want_grad.sum(axis=1, keepdims=True)
        else:
            want, want_grad = brute_force_star_loss(x, target, 0, star)
        if want == np.inf:
            assert loss[0] == np.inf and (grad == 0).all()
            continue
        np.testing.assert_allclose(loss[0], want, rtol=LOSS_RTOL[dtype], atol=1e-12)
        np.testing.assert_allclose(grad[:, 0], want_grad, rtol=0, atol=GRAD_ATOL[dtype])


def test_explicit_graph_agrees_with_enumeration():
    rng = np.random.default_rng(2)
    for _ in range(40):
        x, target = tiny_case(rng)
        star = -float(rng.uniform(0, 4))
        want, _ = brute_force_star_loss(x, target, 0, star)
        assert graph_star_loss(x, target, 0, star) == pytest.approx(want, rel=1e-12)


def test_batches_against_the_explicit_graph(threads):
    for seed in range(6):
        batch = Batch(seed, T=30, N=4, C=5, S_max=10, repeat_heavy=seed % 2 == 0)
        star = [-0.1, -1.0, -5.0][seed % 3]
        loss, _ = star_loss(batch.lp, batch.padded(), batch.input_lengths,
                            batch.target_lengths, star)
        for n in range(batch.N):
            lp = batch.lp[: batch.input_lengths[n], n]
            assert loss[n] == pytest.approx(graph_star_loss(lp, batch.targets[n], 0, star),
                                            rel=1e-10)


@pytest.mark.parametrize("fused", [False, True], ids=["log_probs", "through_log_softmax"])
def test_gradient_against_central_differences(fused):
    batch = Batch(3, T=12, N=3, C=4, S_max=4)

    def fn(x):
        inp = log_softmax(x, dim=2) if fused else x
        return ctc_loss(inp, batch.padded(), batch.input_lengths, batch.target_lengths,
                        reduction="none", star_penalty=-1.5)

    check_gradients(fn, batch.logits if fused else batch.lp, rtol=1e-6, atol=1e-8)


def test_none_is_the_stored_plain_loss():
    # kernels compiled for wider vectors may round differently: each build has its own digests
    for i, args, stored, values in plain_outputs.stored_cases():
        digests = plain_outputs.stored_digests(stored, "loss")
        for j, fused in enumerate((False, True)):
            loss, grad = plain_outputs.loss_outputs(*args, fused=fused, star_penalty=None)
            if digests is None:  # a build without stored outputs: the losses, to rounding
                np.testing.assert_allclose(loss, values["losses"][j], rtol=1e-12)
            else:
                assert plain_outputs.digest(loss, grad) == digests[2 * i + j], (i, fused)
    if digests is None:
        pytest.skip(f"no stored outputs of the {plain_outputs.lucid_dispatch()} kernels: "
                    f"compared to rounding only")


def test_at_most_the_plain_loss_and_tends_to_it():
    for seed in range(8):
        batch = Batch(seed, T=25, N=4, C=6, S_max=8)
        args = (batch.lp, batch.padded(), batch.input_lengths, batch.target_lengths)
        plain, plain_grad = star_loss(*args, star=None)
        previous = np.full(batch.N, -np.inf)
        for star in (0.0, -1.0, -4.0, -10.0):
            loss, _ = star_loss(*args, star=star)
            assert (loss <= plain).all()
            assert (loss >= previous).all()  # a dearer wildcard: fewer paths count
            previous = loss
        loss, grad = star_loss(*args, star=-60.0)  # e^-60 per wildcard frame: below rounding
        np.testing.assert_allclose(loss, plain, rtol=1e-13)
        np.testing.assert_allclose(grad, plain_grad, atol=1e-13)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions_and_zero_infinity(reduction):
    batch = Batch(5, T=20, N=4, C=5, S_max=5)
    targets = batch.padded()
    il = list(batch.input_lengths)
    il[2] = 0  # no frames for a target: infinite loss
    each, each_grad = star_loss(batch.lp, targets, il, batch.target_lengths, -1.0,
                                zero_infinity=True)
    assert each[2] == 0 and (each_grad[:, 2] == 0).all() and np.isfinite(each).all()
    x = lucid.tensor(batch.lp, requires_grad=True)
    out = ctc_loss(x, targets, il, batch.target_lengths, reduction=reduction,
                   zero_infinity=True, star_penalty=-1.0)
    out.sum().backward() if reduction == "none" else out.backward()
    scale = 1 / batch.N if reduction == "mean" else 1.0
    want = {"none": each, "sum": each.sum(), "mean": each.mean()}[reduction]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), scale * each_grad, rtol=1e-14, atol=1e-15)
    without, _ = star_loss(batch.lp, targets, il, batch.target_lengths, -1.0)
    assert without[2] == np.inf


def test_thread_count_changes_nothing(restore_threads):
    batch = Batch(9, T=40, N=6, C=7, S_max=12)
    results = []
    for threads in (1, 2):
        lucid.set_num_threads(threads)
        results.append(star_loss(batch.lp, batch.padded(), batch.input_lengths,
                                 batch.target_lengths, -2.0, fused=True))
    assert results[0][0].tolist() == results[1][0].tolist()
    assert results[0][1].tolist() == results[1][1].tolist()


def test_float32_is_float64_rounded():
    batch = Batch(4, T=30, N=3, C=6, S_max=8)
    args = (batch.lp, batch.padded(), batch.input_lengths, batch.target_lengths, -1.0)
    l32, g32 = star_loss(*args, dtype=np.float32)
    l64, g64 = star_loss(batch.lp.astype(np.float32), *args[1:], dtype=np.float64)
    np.testing.assert_allclose(l32, l64, rtol=LOSS_RTOL[np.float32])
    np.testing.assert_allclose(g32, g64, atol=GRAD_ATOL[np.float32])


def test_nan_and_impossible_emissions():
    lp = np.log(np.full((5, 1, 4), 0.25))
    lp[2, 0, 3] = np.nan  # a class outside the target: not read
    assert np.isfinite(star_loss(lp, [[1, 2]], [5], [2], -1.0)[0][0])
    lp[2, 0, 0] = np.nan  # the blank: read
    loss, grad = star_loss(lp, [[1, 2]], [5], [2], -1.0)
    assert np.isnan(loss[0]) and np.isnan(grad[:5, 0]).all()
    lp = np.full((3, 1, 3), -np.inf)  # every class impossible: the wildcard alone remains
    loss, grad = star_loss(lp, [[1]], [3], [1], -1.0)
    assert loss[0] == np.inf and (grad == 0).all()
    loss, grad = star_loss(lp, [[1]], [3], [0], -1.0)  # an empty target: all wildcard
    assert loss[0] == pytest.approx(3.0) and (grad == 0).all()


def test_every_sample_takes_the_wildcard_branch():
    batch = Batch(1, T=15, N=3, C=4, S_max=4)
    _, _, names = _branches(lucid.tensor(batch.lp), batch.padded(), batch.input_lengths,
                            batch.target_lengths, star_penalty=-1.0)
    assert names == [["wildcard"]] * 3


@pytest.mark.parametrize("value, kind", [(0.1, ValueError), (float("nan"), ValueError),
                                         (float("-inf"), ValueError), ("x", TypeError),
                                         (False, TypeError)])
def test_bad_star_penalty_is_named(value, kind):
    batch = Batch(0, T=10, N=2, C=4, S_max=3)
    with pytest.raises(kind, match="ctc_loss: star_penalty must"):
        ctc_loss(lucid.tensor(batch.lp), batch.padded(), batch.input_lengths,
                 batch.target_lengths, star_penalty=value)
