"""Tests of lucid.nn.functional.ctc_loss and lucid.nn.CTCLoss: input forms, semantics and
gradients (PyTorch, hard numerics, threads and errors: test_ctc_numerics.py).

The judges are independent of the kernel: the plain-numpy log-space reference and brute-force
enumeration in ``helpers/ctc_reference.py``, central finite differences, closed forms for the edge
cases, and PyTorch when it is installed (those tests skip cleanly otherwise).

Conventions: gradients are taken through ``reduction="sum"`` (upstream 1 for every sample) so
that they compare one-to-one with the per-sample reference gradients; per-sample losses through
``reduction="none"``. log_probs are float64 arrays built here; a float32 run compares with the
float64 reference evaluated on the same float32-rounded inputs.
"""

import numpy as np
import pytest
from helpers.ctc_cases import (
    DTYPES,
    GRAD_ATOL,
    LOSS_RTOL,
    LUCID_DTYPE,
    Batch,
    assert_close_to_reference,
    batch_ctc,
    lucid_ctc,
    np_log_softmax,
    required_frames,
)
from helpers.ctc_reference import brute_force_ctc, ctc_batch_reference, numpy_ctc
from helpers.gradcheck import central_difference

import lucid
from lucid.nn.functional import ctc_loss, log_softmax


# ----------------------------------------------------------------------------- input forms
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("blank", [0, 3])
def test_padded_targets_match_reference(dtype, blank, threads):
    batch = Batch(seed=10 + blank, N=5, blank=blank)
    losses, grad = batch_ctc(batch, dtype)
    assert_close_to_reference(losses, grad, *batch.reference(dtype), dtype)


@pytest.mark.parametrize("container", ["tensor", "numpy"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("int_dtype", [np.int32, np.int64])
def test_target_forms_agree(container, layout, int_dtype):
    """Every accepted targets form carries the same labels, so the results are bit-identical."""
    batch = Batch(seed=11)
    data = batch.padded(int_dtype) if layout == "padded" else batch.concatenated(int_dtype)
    if container == "tensor":
        data = lucid.tensor(data, dtype={np.int32: lucid.int32, np.int64: lucid.int64}[int_dtype])
    losses, grad = batch_ctc(batch, targets=data)
    base_losses, base_grad = batch_ctc(batch, targets=batch.padded(np.int64))
    np.testing.assert_array_equal(losses, base_losses)
    np.testing.assert_array_equal(grad, base_grad)
    assert_close_to_reference(losses, grad, *batch.reference(), np.float64)


LENGTH_FORMS = {
    "tensor-int32": lambda v: lucid.tensor(v, dtype=lucid.int32),
    "tensor-int64": lambda v: lucid.tensor(v, dtype=lucid.int64),
    "numpy-int32": lambda v: np.array(v, dtype=np.int32),
    "numpy-int64": lambda v: np.array(v, dtype=np.int64),
    "list": list,
    "tuple": tuple,
}


@pytest.mark.parametrize("form", list(LENGTH_FORMS))
def test_length_forms(form):
    batch = Batch(seed=12)
    make = LENGTH_FORMS[form]
    losses, grad = lucid_ctc(
        batch.lp, batch.padded(), make(batch.input_lengths), make(batch.target_lengths)
    )
    assert_close_to_reference(losses, grad, *batch.reference(), np.float64)


UNBATCHED_LENGTHS = {
    "int": int,
    "numpy-0d": lambda v: np.array(v, dtype=np.int64),
    "tensor-0d": lambda v: lucid.tensor(v, dtype=lucid.int32),
}


@pytest.mark.parametrize("form", list(UNBATCHED_LENGTHS))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched(form, reduction, dtype):
    """(T, C) log_probs with a 1-D target and scalar lengths give a 0-d loss and a (T, C)
    gradient; the result is that of the batch of one."""
    batch = Batch(seed=13, N=1)
    lp = batch.lp[:, 0]
    il, tl = batch.input_lengths[0], batch.target_lengths[0]
    target = np.array(batch.targets[0], dtype=np.int64)
    ref_loss, ref_grad = numpy_ctc(lp.astype(dtype).astype(np.float64), target)
    make = UNBATCHED_LENGTHS[form]
    x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    loss = ctc_loss(x, lucid.tensor(target), make(il), make(tl), reduction=reduction)
    assert loss.shape == ()
    loss.backward()
    assert x.grad.shape == lp.shape
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=LOSS_RTOL[dtype])
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, atol=GRAD_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_log_probs(dtype):
    """log_probs as x.transpose(0, 1) of an (N, T, C) tensor; the gradient flows back to x."""
    batch = Batch(seed=14)
    ntc = np.ascontiguousarray(batch.lp.transpose(1, 0, 2))
    x = lucid.tensor(ntc, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    loss = ctc_loss(
        x.transpose(0, 1),
        batch.padded(),
        batch.input_lengths,
        batch.target_lengths,
        reduction="sum",
    )
    loss.backward()
    ref_losses, ref_grad = batch.reference(dtype)
    np.testing.assert_allclose(loss.item(), ref_losses.sum(), rtol=LOSS_RTOL[dtype])
    np.testing.assert_allclose(x.grad.numpy(), ref_grad.transpose(1, 0, 2), atol=GRAD_ATOL[dtype])


def test_non_contiguous_through_log_softmax():
    """logits (N, T, C) -> transpose -> log_softmax -> ctc_loss: the logit gradient is
    softmax - gamma on valid frames and 0 past each input length."""
    batch = Batch(seed=15)
    logits = lucid.tensor(
        batch.logits.transpose(1, 0, 2).copy(), dtype=lucid.float64, requires_grad=True
    )
    lp = log_softmax(logits.transpose(0, 1), dim=2)
    ctc_loss(
        lp, batch.padded(), batch.input_lengths, batch.target_lengths, reduction="sum"
    ).backward()
    _, ref_grad = batch.reference()
    expected = ref_grad + np.exp(batch.lp)
    for n, length in enumerate(batch.input_lengths):
        expected[length:, n] = 0.0
    np.testing.assert_allclose(logits.grad.numpy(), expected.transpose(1, 0, 2), atol=1e-10)


def test_padding_is_never_read():
    """Whatever the padding holds, the result equals that of blank-padded targets."""
    batch = Batch(seed=16)
    clean = np.full((batch.N, batch.S_max), batch.blank, dtype=np.int64)
    for n, target in enumerate(batch.targets):
        clean[n, : len(target)] = target
    garbage = batch.padded()
    assert (garbage != clean).any()
    np.testing.assert_array_equal(
        batch_ctc(batch, targets=garbage)[0], batch_ctc(batch, targets=clean)[0]
    )


def test_log_probs_past_input_length_are_never_read():
    batch = Batch(seed=17)
    lp = batch.lp.copy()
    n = 1
    lp[batch.input_lengths[n] :, n] = np.nan
    losses, grad = lucid_ctc(lp, batch.padded(), batch.input_lengths, batch.target_lengths)
    assert_close_to_reference(losses, grad, *batch.reference(), np.float64)


# ----------------------------------------------------------------------------- semantics
@pytest.mark.parametrize("blank", [0, 4])
def test_empty_target(blank):
    """An empty target has one path, all blanks: loss -sum_t lp[t, blank], gradient -1 on the
    blank of each valid frame."""
    rng = np.random.default_rng(20)
    T, N, C = 9, 3, 5
    lp = np_log_softmax(rng.normal(size=(T, N, C)), axis=2)
    targets = np.array([[7, 7], [1 if blank != 1 else 2, 7], [7, 7]])  # 7s are padding
    il, tl = [T, 6, 4], [0, 1, 0]
    losses, grad = lucid_ctc(lp, targets, il, tl, blank=blank)
    for n in (0, 2):
        np.testing.assert_allclose(losses[n], -lp[: il[n], n, blank].sum(), rtol=1e-12)
        expected = np.zeros((T, C))
        expected[: il[n], blank] = -1.0
        np.testing.assert_allclose(grad[:, n], expected, atol=1e-12)


def test_input_length_zero():
    rng = np.random.default_rng(21)
    T, C = 6, 4
    lp = np_log_softmax(rng.normal(size=(T, 3, C)), axis=2)
    targets = [[], [1, 2], [3]]
    concat = np.array([1, 2, 3], dtype=np.int64)
    losses, grad = lucid_ctc(lp, concat, [0, 0, T], [0, 2, 1])
    assert losses[0] == 0.0
    assert losses[1] == np.inf
    np.testing.assert_allclose(losses[2], numpy_ctc(lp[:, 2], targets[2])[0], rtol=1e-9)
    assert not grad[:, :2].any()  # no frame is valid


@pytest.mark.parametrize(
    "target, frames",
    [([1, 1], 2), ([1, 1], 3), ([1, 2, 3], 2), ([1, 2, 3], 3), ([2, 2, 2], 4), ([2, 2, 2], 5)],
)
def test_feasibility(target, frames):
    """A target needs len + (adjacent repeats) frames; with fewer the loss is inf."""
    rng = np.random.default_rng(22)
    lp = np_log_softmax(rng.normal(size=(frames, 1, 4)), axis=2)
    with lucid.no_grad():
        loss = ctc_loss(
            lucid.tensor(lp, dtype=lucid.float64),
            [target],
            [frames],
            [len(target)],
            reduction="none",
        ).numpy()[0]
    assert np.isfinite(loss) == (required_frames(target) <= frames)
    ref = numpy_ctc(lp[:, 0], target)[0]
    if np.isfinite(ref):
        np.testing.assert_allclose(loss, ref, rtol=1e-9)
    else:
        assert loss == np.inf


def infeasible_batch(seed=23):
    """Samples 1 and 3 cannot fit their targets; 0 and 2 can."""
    rng = np.random.default_rng(seed)
    T, N, C = 8, 4, 5
    lp = np_log_softmax(rng.normal(size=(T, N, C)), axis=2)
    targets = [[1, 2, 3], [2, 2, 2, 2], [4, 4], [1, 2, 3, 4, 1]]
    il = [T, 6, 5, 4]
    assert [required_frames(t) <= L for t, L in zip(targets, il)] == [True, False, True, False]
    return lp, targets, il, [len(t) for t in targets]


@pytest.mark.parametrize("dtype", DTYPES)
def test_infeasible_is_inf_and_spares_the_others(dtype):
    lp, targets, il, tl = infeasible_batch()
    concat = np.concatenate(targets)
    with lucid.no_grad():
        losses = ctc_loss(
            lucid.tensor(lp, dtype=LUCID_DTYPE[dtype]), concat, il, tl, reduction="none"
        ).numpy()
    ref, _ = ctc_batch_reference(lp.astype(dtype).astype(np.float64), targets, il, tl)
    assert losses[1] == np.inf and losses[3] == np.inf
    np.testing.assert_allclose(losses[[0, 2]], ref[[0, 2]], rtol=LOSS_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_zero_infinity(dtype, reduction):
    """Infinite losses become 0 with a 0 gradient for those samples only; "mean" still divides
    by the whole batch."""
    lp, targets, il, tl = infeasible_batch()
    ref, ref_grad = ctc_batch_reference(lp.astype(dtype).astype(np.float64), targets, il, tl)
    ref[[1, 3]] = 0.0
    concat = np.concatenate(targets)
    losses, grad = lucid_ctc(lp, concat, il, tl, dtype, zero_infinity=True)
    np.testing.assert_array_equal(losses[[1, 3]], 0.0)
    np.testing.assert_array_equal(grad[:, [1, 3]], 0.0)
    assert_close_to_reference(losses, grad, ref, ref_grad, dtype)

    x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    out = ctc_loss(x, concat, il, tl, reduction=reduction, zero_infinity=True)
    expected = {"none": ref, "sum": ref.sum(), "mean": ref.mean()}[reduction]
    np.testing.assert_allclose(out.numpy(), expected, rtol=LOSS_RTOL[dtype])
    if reduction != "none":
        out.backward()
        scale = 1.0 / len(il) if reduction == "mean" else 1.0
        np.testing.assert_allclose(x.grad.numpy(), scale * ref_grad, atol=GRAD_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions(dtype):
    batch = Batch(seed=24, N=5)
    ref, ref_grad = batch.reference(dtype)
    x = lucid.tensor(batch.lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    args = (batch.padded(), batch.input_lengths, batch.target_lengths)
    none = ctc_loss(x, *args, reduction="none")
    total = ctc_loss(x, *args, reduction="sum")
    mean = ctc_loss(x, *args, reduction="mean")
    default = ctc_loss(x, *args)
    assert none.shape == (batch.N,) and total.shape == () and mean.shape == ()
    np.testing.assert_allclose(none.numpy(), ref, rtol=LOSS_RTOL[dtype])
    np.testing.assert_allclose(total.item(), ref.sum(), rtol=LOSS_RTOL[dtype])
    np.testing.assert_allclose(mean.item(), ref.mean(), rtol=LOSS_RTOL[dtype])
    assert default.item() == mean.item()
    # the plain batch mean, not PyTorch's mean of loss / target_length
    torch_style = np.mean(ref / np.array(batch.target_lengths))
    assert not np.isclose(mean.item(), torch_style, rtol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_scales_the_gradient_by_one_over_n(dtype):
    batch = Batch(seed=25, N=3)
    args = (batch.padded(), batch.input_lengths, batch.target_lengths)
    grads = {}
    for reduction in ("sum", "mean"):
        x = lucid.tensor(batch.lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
        ctc_loss(x, *args, reduction=reduction).backward()
        grads[reduction] = x.grad.numpy().astype(np.float64)
    assert np.abs(grads["sum"]).max() > 0.1
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(grads["mean"], grads["sum"] / batch.N, rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_module_matches_functional(reduction, zero_infinity):
    lp, targets, il, tl = infeasible_batch()
    concat = np.concatenate(targets)
    module = lucid.nn.CTCLoss(blank=0, reduction=reduction, zero_infinity=zero_infinity)
    assert list(module.parameters()) == []
    assert "CTCLoss" in repr(module) and repr(reduction) in repr(module)
    with lucid.no_grad():
        x = lucid.tensor(lp, dtype=lucid.float64)
        got = module(x, concat, il, tl).numpy()
        expected = ctc_loss(
            x, concat, il, tl, reduction=reduction, zero_infinity=zero_infinity
        ).numpy()
    np.testing.assert_array_equal(got, expected)


def test_module_blank_and_gradient():
    batch = Batch(seed=26, blank=2)
    module = lucid.nn.CTCLoss(blank=2, reduction="sum")
    x = lucid.tensor(batch.lp, dtype=lucid.float64, requires_grad=True)
    loss = module(x, batch.padded(), batch.input_lengths, batch.target_lengths)
    loss.backward()
    ref, ref_grad = batch.reference()
    np.testing.assert_allclose(loss.item(), ref.sum(), rtol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, atol=1e-9)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
def test_matches_brute_force_with_free_log_probs():
    """Loss and exact gradient against the enumeration of all C**T paths, with unnormalised
    log_probs, repeats, an empty target, a target that just fits and one that does not."""
    rng = np.random.default_rng(30)
    T, C = 6, 3
    targets = [[1, 2], [1, 1], [], [2, 2, 2], [1, 2, 1], [2, 1, 1, 2], [2, 2]]
    il = [6, 5, 4, 6, 3, 6, 2]
    tl = [len(t) for t in targets]
    assert [required_frames(t) <= L for t, L in zip(targets, il)] == [True] * 6 + [False]
    lp = rng.normal(scale=2.0, size=(T, len(targets), C))  # free variables, not normalised
    concat = np.array([c for t in targets for c in t], dtype=np.int64)
    losses, _ = lucid_ctc(lp, concat, il, tl)
    _, grad = lucid_ctc(lp, concat, il, tl, zero_infinity=True)  # 0 gradient where inf
    for n, target in enumerate(targets):
        ref_loss, ref_grad = brute_force_ctc(lp[: il[n], n], target)
        if np.isfinite(ref_loss):
            np.testing.assert_allclose(losses[n], ref_loss, rtol=1e-12)
        else:
            assert losses[n] == np.inf
        np.testing.assert_allclose(grad[: il[n], n], ref_grad, atol=1e-12)
        assert not grad[il[n] :, n].any()


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
def test_gradient_matches_finite_differences():
    """Central differences of lucid's own loss, log_probs as free (unnormalised) variables."""
    rng = np.random.default_rng(31)
    T, C = 7, 4
    targets = [[1, 2, 1], [3, 3], [2]]
    il, tl = [7, 6, 4], [3, 2, 1]
    lp = rng.normal(scale=1.5, size=(T, 3, C))
    concat = np.array([1, 2, 1, 3, 3, 2], dtype=np.int64)
    _, grad = lucid_ctc(lp, concat, il, tl)

    def total(x):
        with lucid.no_grad():
            return ctc_loss(
                lucid.tensor(x, dtype=lucid.float64), concat, il, tl, reduction="sum"
            ).item()

    numeric = central_difference(total, lp)
    assert np.abs(numeric).max() > 0.1
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    _, ref_grad = ctc_batch_reference(lp, targets, il, tl)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_through_log_softmax_sums_to_zero(dtype):
    """Through lucid's log_softmax the logit gradient is softmax - gamma on valid frames (it
    sums to 0 over classes) and exactly 0 past each input length."""
    batch = Batch(seed=32)
    logits = lucid.tensor(batch.logits, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    lp = log_softmax(logits, dim=2)
    loss = ctc_loss(lp, batch.padded(), batch.input_lengths, batch.target_lengths, reduction="sum")
    loss.backward()
    got = logits.grad.numpy().astype(np.float64)
    rounded_lp = lp.detach().numpy().astype(np.float64)
    _, ref_grad = batch.reference(lp=rounded_lp)
    tol = GRAD_ATOL[dtype] * 10  # float32 also carries log_softmax's own rounding
    for n, length in enumerate(batch.input_lengths):
        np.testing.assert_allclose(got[:length, n].sum(axis=1), 0.0, atol=tol)
        np.testing.assert_allclose(
            got[:length, n], np.exp(rounded_lp[:length, n]) + ref_grad[:length, n], atol=tol
        )
        assert not got[length:, n].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_zero_past_input_length_and_for_absent_classes(dtype):
    batch = Batch(seed=33, C=10, S_max=4)
    _, grad = batch_ctc(batch, dtype)
    checked = 0
    for n, (target, length) in enumerate(zip(batch.targets, batch.input_lengths)):
        assert not grad[length:, n].any()
        for c in set(range(batch.C)) - set(target) - {batch.blank}:
            assert not grad[:, n, c].any()
            checked += 1
        for c in set(target) | {batch.blank}:
            assert (grad[:length, n, c] < 0).any()
    assert checked > 0 and batch.input_lengths[1] < batch.T


def test_no_graph_without_grad():
    batch = Batch(seed=34)
    args = (batch.padded(), batch.input_lengths, batch.target_lengths)
    x = lucid.tensor(batch.lp, dtype=lucid.float64, requires_grad=True)
    with lucid.no_grad():
        under_no_grad = ctc_loss(x, *args)
    assert under_no_grad.grad_fn is None and not under_no_grad.requires_grad
    plain = ctc_loss(x.detach(), *args)
    assert plain.grad_fn is None and not plain.requires_grad
    module_plain = lucid.nn.CTCLoss()(lucid.tensor(batch.lp, dtype=lucid.float64), *args)
    assert module_plain.grad_fn is None
    tracked = ctc_loss(x, *args)
    assert tracked.grad_fn is not None and tracked.requires_grad
    for other in (under_no_grad, plain, module_plain):
        np.testing.assert_allclose(other.item(), tracked.item(), rtol=1e-14)
    assert x.grad is None
    tracked.backward()
    assert x.grad is not None
