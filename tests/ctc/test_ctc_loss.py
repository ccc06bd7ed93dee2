"""Tests of lucid.nn.functional.ctc_loss and lucid.nn.CTCLoss.

The judges are independent of the kernel: the plain-numpy log-space reference and brute-force
enumeration in ``ctc_reference.py``, central finite differences, closed forms for the edge
cases, and PyTorch when it is installed (those tests skip cleanly otherwise).

Conventions: gradients are taken through ``reduction="sum"`` (upstream 1 for every sample) so
that they compare one-to-one with the per-sample reference gradients; per-sample losses through
``reduction="none"``. log_probs are float64 arrays built here; a float32 run compares with the
float64 reference evaluated on the same float32-rounded inputs.
"""

import doctest

import numpy as np
import pytest
from helpers.ctc_reference import brute_force_ctc, ctc_batch_reference, numpy_ctc
from helpers.gradcheck import central_difference

import lucid
from lucid._C import _ctc
from lucid.nn.functional import ctc_loss, log_softmax

DTYPES = [np.float32, np.float64]
LUCID_DTYPE = {np.float32: lucid.float32, np.float64: lucid.float64}
# The documented accuracy: float64 loss within 1e-9 relative and gradient within 1e-9 of
# the reference;
# float32 loss within 2e-5 relative. The float32 gradient tolerance is ours: gamma lies in
# [0, 1], so 1e-5 leaves ~100 float32 ulps at 1.0.
LOSS_RTOL = {np.float32: 2e-5, np.float64: 1e-9}
GRAD_ATOL = {np.float32: 1e-5, np.float64: 1e-9}


# ----------------------------------------------------------------------------- helpers
def np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def required_frames(target):
    """Frames a target needs: one per label, plus a blank between adjacent equal labels."""
    return len(target) + sum(a == b for a, b in zip(target, target[1:]))


class Batch:
    """A random batch with feasible targets: (T, N, C) float64 log-probs, per-sample targets and
    lengths. Sample 0 uses every frame; sample 1 (if any) uses fewer, so there are frames past
    its input length."""

    def __init__(self, seed, T=20, N=4, C=6, S_max=6, blank=0, scale=1.0, repeat_heavy=False):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.T, self.N, self.C, self.S_max, self.blank = T, N, C, S_max, blank
        self.logits = rng.normal(scale=scale, size=(T, N, C))
        self.lp = np_log_softmax(self.logits, axis=2)
        labels = [c for c in range(C) if c != blank]
        if repeat_heavy:
            labels = labels[:2]
        self.target_lengths = [int(s) for s in rng.integers(1, S_max + 1, size=N)]
        self.targets = [[int(c) for c in rng.choice(labels, size=s)] for s in self.target_lengths]
        self.input_lengths = [int(rng.integers(required_frames(t), T + 1)) for t in self.targets]
        self.input_lengths[0] = T
        if N > 1:
            self.input_lengths[1] = max(required_frames(self.targets[1]), T - 5)
        assert max(required_frames(t) for t in self.targets) <= T - 5

    def padded(self, dtype=np.int64):
        """(N, S_max) targets whose padding is garbage: negative, >= C, the blank, huge."""
        garbage = np.array([-7, self.C, self.C + 100, self.blank, 2**30])
        out = self.rng.choice(garbage, size=(self.N, self.S_max))
        for n, target in enumerate(self.targets):
            out[n, : len(target)] = target
        return out.astype(dtype)

    def concatenated(self, dtype=np.int64):
        return np.array([c for target in self.targets for c in target], dtype=dtype)

    def reference(self, dtype=np.float64, lp=None):
        """Reference losses and gradients on the inputs rounded to ``dtype``."""
        lp = self.lp if lp is None else lp
        rounded = lp.astype(dtype).astype(np.float64)
        return ctc_batch_reference(
            rounded, self.targets, self.input_lengths, self.target_lengths, self.blank
        )


def lucid_ctc(lp, targets, input_lengths, target_lengths, dtype=np.float64, **kwargs):
    """(per-sample losses, gradient of the summed loss w.r.t. lp) from lucid, as float64 numpy."""
    kwargs.setdefault("blank", 0)
    with lucid.no_grad():
        x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype])
        losses = ctc_loss(x, targets, input_lengths, target_lengths, reduction="none", **kwargs)
    x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    total = ctc_loss(x, targets, input_lengths, target_lengths, reduction="sum", **kwargs)
    total.backward()
    assert losses.dtype == LUCID_DTYPE[dtype] and total.dtype == LUCID_DTYPE[dtype]
    assert x.grad.dtype == LUCID_DTYPE[dtype] and x.grad.shape == lp.shape
    return losses.numpy().astype(np.float64), x.grad.numpy().astype(np.float64)


def batch_ctc(batch, dtype=np.float64, targets=None, **kwargs):
    targets = batch.padded() if targets is None else targets
    return lucid_ctc(
        batch.lp,
        targets,
        batch.input_lengths,
        batch.target_lengths,
        dtype,
        blank=batch.blank,
        **kwargs,
    )


def assert_close_to_reference(losses, grad, ref_losses, ref_grad, dtype):
    np.testing.assert_allclose(losses, ref_losses, rtol=LOSS_RTOL[dtype], atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=GRAD_ATOL[dtype])


@pytest.fixture
def restore_threads():
    old = lucid.get_num_threads()
    yield
    lucid.set_num_threads(old)


@pytest.fixture(params=[1, 2], ids=["threads1", "threads2"])
def threads(request, restore_threads):
    lucid.set_num_threads(request.param)
    return request.param


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


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


# ----------------------------------------------------------------------------- PyTorch
def torch_ctc(torch, lp, targets, il, tl, blank=0):
    """PyTorch's per-sample losses and its gradient of their sum w.r.t. log_probs (float64)."""
    x = torch.tensor(lp, dtype=torch.float64, requires_grad=True)
    concat = torch.tensor([c for t in targets for c in t], dtype=torch.long)
    losses = torch.nn.functional.ctc_loss(
        x, concat, torch.tensor(il), torch.tensor(tl), blank=blank, reduction="none"
    )
    losses.sum().backward()
    return losses.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("blank", [0, 5])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_values_match_torch(torch, blank, scale):
    batch = Batch(seed=40, blank=blank, scale=scale)
    losses, _ = batch_ctc(batch)
    torch_losses, _ = torch_ctc(
        torch, batch.lp, batch.targets, batch.input_lengths, batch.target_lengths, blank
    )
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-9)


@pytest.mark.parametrize("blank", [0, 5])
def test_logit_gradient_matches_torch(torch, blank):
    """Through log_softmax both gradients are softmax - gamma: equal to float64 precision."""
    batch = Batch(seed=41, blank=blank, scale=3.0)
    logits = lucid.tensor(batch.logits, dtype=lucid.float64, requires_grad=True)
    ctc_loss(
        log_softmax(logits, dim=2),
        batch.padded(),
        batch.input_lengths,
        batch.target_lengths,
        blank=blank,
        reduction="sum",
    ).backward()
    t_logits = torch.tensor(batch.logits, dtype=torch.float64, requires_grad=True)
    t_targets = torch.tensor(batch.concatenated(), dtype=torch.long)
    torch.nn.functional.ctc_loss(
        torch.log_softmax(t_logits, dim=2),
        t_targets,
        torch.tensor(batch.input_lengths),
        torch.tensor(batch.target_lengths),
        blank=blank,
        reduction="sum",
    ).backward()
    np.testing.assert_allclose(logits.grad.numpy(), t_logits.grad.numpy(), atol=1e-10)


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
@pytest.mark.parametrize("normalised", [True, False])
def test_exact_gradient_is_torch_minus_exp(torch, normalised):
    """PyTorch returns exp(lp) - gamma; ours is -gamma: they differ by exp(lp) on valid frames."""
    batch = Batch(seed=42)
    lp = batch.lp if normalised else batch.rng.normal(size=batch.lp.shape)
    _, grad = lucid_ctc(lp, batch.padded(), batch.input_lengths, batch.target_lengths)
    _, torch_grad = torch_ctc(torch, lp, batch.targets, batch.input_lengths, batch.target_lengths)
    for n, length in enumerate(batch.input_lengths):
        np.testing.assert_allclose(
            grad[:length, n], torch_grad[:length, n] - np.exp(lp[:length, n]), atol=1e-10
        )
        assert not grad[length:, n].any()


# ----------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [10.0, 100.0, 1000.0])
def test_large_logits(dtype, scale):
    """Log-probs far below -700, where probability-space arithmetic underflows even in double."""
    batch = Batch(seed=50, T=30, N=6, C=6, S_max=8, scale=scale)
    if scale == 1000.0:
        assert batch.lp.min() < -700
    losses, grad = batch_ctc(batch, dtype)
    assert_close_to_reference(losses, grad, *batch.reference(dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_long_sequence(dtype, scale):
    """T = 1000 frames, S = 300 labels."""
    rng = np.random.default_rng(51)
    T, C, S = 1000, 30, 300
    logits = scale * rng.normal(size=(T, 2, C))
    lp = np_log_softmax(logits, axis=2)
    targets = [[int(c) for c in rng.integers(1, C, size=S)] for _ in range(2)]
    il, tl = [T, 800], [S, S]
    losses, grad = lucid_ctc(lp, np.array(targets), il, tl, dtype)
    ref = ctc_batch_reference(lp.astype(dtype).astype(np.float64), targets, il, tl)
    assert np.isfinite(ref[0]).all()
    assert_close_to_reference(losses, grad, *ref, dtype)


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
@pytest.mark.parametrize("dtype", DTYPES)
def test_neg_inf_entries_are_legal(dtype):
    """-inf is an impossible emission: the answer is the reference's, with no NaN, and the
    gradient at an -inf entry is 0."""
    batch = Batch(seed=52, T=24)
    lp = batch.lp.copy()
    mask = batch.rng.random(lp.shape) < 0.25
    mask[[3, 7], :, batch.blank] = True
    for n, target in enumerate(batch.targets):  # keep one alignment of each sample possible
        path = []
        for label in target:
            path += [batch.blank, label] if path and path[-1] == label else [label]
        path += [batch.blank] * (batch.input_lengths[n] - len(path))
        mask[np.arange(len(path)), n, path] = False
    lp[mask] = -np.inf
    ref = batch.reference(dtype, lp=lp)
    assert np.isfinite(ref[0]).all()
    losses, grad = lucid_ctc(lp, batch.padded(), batch.input_lengths, batch.target_lengths, dtype)
    assert not np.isnan(grad).any()
    assert not grad[mask].any()
    assert_close_to_reference(losses, grad, *ref, dtype)

    label = batch.targets[2][0]
    lp[:, 2, label] = -np.inf  # now sample 2 has no path at all
    with lucid.no_grad():
        losses = ctc_loss(
            lucid.tensor(lp, dtype=LUCID_DTYPE[dtype]),
            batch.padded(),
            batch.input_lengths,
            batch.target_lengths,
            reduction="none",
        ).numpy()
    assert losses[2] == np.inf
    np.testing.assert_allclose(losses[[0, 1, 3]], ref[0][[0, 1, 3]], rtol=LOSS_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_poisons_only_its_sample(dtype):
    batch = Batch(seed=53)
    lp = batch.lp.copy()
    lp[2, 1, batch.blank] = np.nan  # a valid frame of sample 1, on a class its paths use
    assert batch.input_lengths[1] > 2
    losses, grad = lucid_ctc(lp, batch.padded(), batch.input_lengths, batch.target_lengths, dtype)
    assert np.isnan(losses[1])
    ref_losses, ref_grad = batch.reference(dtype)
    others = [0, 2, 3]
    assert_close_to_reference(
        losses[others], grad[:, others], ref_losses[others], ref_grad[:, others], dtype
    )


# ----------------------------------------------------------------------------- threads
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_thread_counts_bit_identical(dtype, scale, restore_threads):
    batch = Batch(seed=60, T=100, N=64, C=8, S_max=10, scale=scale, repeat_heavy=True)
    lengths = [np.asarray(v, dtype=np.int64) for v in (batch.input_lengths, batch.target_lengths)]
    assert _ctc.dp_thread_count(*lengths, 2) == 2  # big enough for the DP to take two threads
    results = []
    for n in (1, 2):
        lucid.set_num_threads(n)
        assert lucid.get_num_threads() == n
        results.append(batch_ctc(batch, dtype))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert_close_to_reference(*results[1], *batch.reference(dtype), dtype)


def test_small_batches_stay_on_one_thread():
    """The DP wakes a thread per DP_GRAIN lattice cells, at most one per sample."""
    one = np.array([50], dtype=np.int64)
    assert _ctc.dp_thread_count(one, np.array([10]), 8) == 1  # one sample: one thread
    il, tl = np.full(4, 50), np.full(4, 10)  # 4 x 50 x 21 cells: not worth a second thread
    assert _ctc.dp_thread_count(il, tl, 2) == 1
    il, tl = np.full(64, 100), np.full(64, 30)  # 64 x 100 x 61 cells
    assert _ctc.dp_thread_count(il, tl, 2) == 2
    assert _ctc.dp_thread_count(il, tl, 1) == 1
    assert _ctc.dp_thread_count(il, tl, 200) == 23  # 390,400 cells // 16,384
    assert _ctc.dp_thread_count(np.zeros(64, np.int64), tl, 2) == 1  # no DP at all


# ------------------------------------------------------------ the documentation's example
DOC_EXAMPLE = [
    ">>> import lucid",
    ">>> from lucid.nn.functional import ctc_loss, log_softmax",
    ">>> logits = lucid.randn(4, 1, 3)",
    ">>> log_p = log_softmax(logits, dim=2)",
    ">>> targets = lucid.tensor([[1, 2]], dtype=lucid.int32)",
    ">>> il = lucid.tensor([4], dtype=lucid.int32)",
    ">>> tl = lucid.tensor([2], dtype=lucid.int32)",
    ">>> ctc_loss(log_p, targets, il, tl)",
    "Tensor(...)",
]


def test_docstring_carries_and_passes_the_documented_example():
    doc = ctc_loss.__doc__
    positions = [doc.find(line) for line in DOC_EXAMPLE]
    assert -1 not in positions and positions == sorted(positions)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(ctc_loss, "ctc_loss", globs={}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= len(DOC_EXAMPLE) - 1 and result.failed == 0


def test_documented_example_value():
    lucid.manual_seed(0)
    logits = lucid.randn(4, 1, 3)
    log_p = log_softmax(logits, dim=2)
    targets = lucid.tensor([[1, 2]], dtype=lucid.int32)
    il = lucid.tensor([4], dtype=lucid.int32)
    tl = lucid.tensor([2], dtype=lucid.int32)
    loss = ctc_loss(log_p, targets, il, tl)
    assert repr(loss).startswith("Tensor(")
    assert loss.shape == () and loss.dtype == lucid.float32
    expected, _ = numpy_ctc(log_p.numpy()[:, 0].astype(np.float64), [1, 2])
    np.testing.assert_allclose(loss.item(), expected, rtol=2e-5)


# ----------------------------------------------------------------------------- errors
def error_args(**changes):
    """Valid arguments (T=6, N=2, C=4) with some replaced."""
    args = {
        "log_probs": lucid.tensor(np.log(np.full((6, 2, 4), 0.25)), dtype=lucid.float64),
        "targets": np.array([[1, 2], [3, 0]], dtype=np.int64),  # the 0 is padding
        "input_lengths": [6, 5],
        "target_lengths": [2, 1],
    }
    args.update(changes)
    return args


def test_error_baseline_is_valid():
    assert np.isfinite(ctc_loss(**error_args()).item())


@pytest.mark.parametrize(
    "changes, exc, name",
    [
        ({"targets": np.array([[1.0, 2.0], [3.0, 0.0]])}, TypeError, "targets"),
        ({"targets": "float32 tensor"}, TypeError, "targets"),
        ({"targets": np.array([[1, 4], [3, 0]])}, ValueError, "targets"),  # label == C
        ({"targets": np.array([[1, -1], [3, 0]])}, ValueError, "targets"),
        ({"targets": np.array([[1, 0], [3, 0]])}, ValueError, "targets"),  # label == blank
        ({"blank": 3}, ValueError, "targets"),  # sample 1's label 3 is now the blank
        ({"input_lengths": [6, -1]}, ValueError, "input_lengths"),
        ({"target_lengths": [2, -1]}, ValueError, "target_lengths"),
        ({"input_lengths": [7, 5]}, ValueError, "input_lengths"),  # more than T frames
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"blank": 4}, ValueError, "blank"),
        ({"blank": -1}, ValueError, "blank"),
    ],
)
def test_errors_name_the_argument(changes, exc, name):
    if isinstance(changes.get("targets"), str):
        changes = {"targets": lucid.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=lucid.float32)}
    with pytest.raises(exc, match=name):
        ctc_loss(**error_args(**changes))


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
def test_zero_infinity_zeroes_a_float32_loss_beyond_float32s_range():
    # 4 frames of -1e38: a loss of about 4e38, finite in double, beyond float32's 3.4e38
    lp = np.full((4, 2, 3), -1e38, dtype=np.float32)
    lp[:, 1, :] = np.log(1 / 3)
    x = lucid.tensor(lp, requires_grad=True)
    plain = ctc_loss(x, [[1], [2]], [4, 4], [1, 1], reduction="none")
    assert np.isinf(plain.numpy()[0])
    loss = ctc_loss(x, [[1], [2]], [4, 4], [1, 1], reduction="none", zero_infinity=True)
    assert loss.dtype == lucid.float32
    assert loss.numpy()[0] == 0.0
    want, want_grad = numpy_ctc(lp[:, 1].astype(np.float64), [2])
    assert loss.numpy()[1] == pytest.approx(want, rel=1e-6)
    loss.sum().backward()
    assert not x.grad.numpy()[:, 0].any()
    np.testing.assert_allclose(x.grad.numpy()[:, 1], want_grad, atol=1e-6)
