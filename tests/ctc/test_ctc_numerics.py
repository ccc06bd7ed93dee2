"""ctc_loss against PyTorch, on hard numerics (large logits, long inputs, -inf and NaN entries),
across thread counts, on lucid's documented example, and on bad arguments. The judges are those
of test_ctc_loss.py (helpers/ctc_reference.py, PyTorch when installed)."""

import doctest

import numpy as np
import pytest
from helpers.ctc_cases import (
    DTYPES,
    LOSS_RTOL,
    LUCID_DTYPE,
    Batch,
    assert_close_to_reference,
    batch_ctc,
    lucid_ctc,
    np_log_softmax,
    torch_ctc,
)
from helpers.ctc_reference import ctc_batch_reference, numpy_ctc

import lucid
from lucid._C import _ctc
from lucid.nn.functional import ctc_loss, log_softmax


# ----------------------------------------------------------------------------- PyTorch
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
