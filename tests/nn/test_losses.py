"""Losses, dropout, layer norm and embedding: values and gradients against PyTorch when it is
installed, gradients against central differences in float64, and the error messages."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid
import lucid.nn.functional as F
from lucid import nn

rng = np.random.default_rng(7)


def both(torch, *arrays):
    ours = [lucid.tensor(a, dtype=lucid.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return ours, theirs


def assert_same(out, ref, ours, theirs):
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = rng.uniform(0.5, 1.5, size=out.shape)
    out.backward(w)
    ref.backward(__import__("torch").tensor(w))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------------- cross_entropy
CE_CASES = {
    "mean": dict(),
    "sum": dict(reduction="sum"),
    "none": dict(reduction="none"),
    "ignore_index": dict(ignore_index=2),
    "ignore_index_none": dict(ignore_index=2, reduction="none"),
    "label_smoothing": dict(label_smoothing=0.2),
    "smoothing_sum_ignore": dict(label_smoothing=0.1, reduction="sum", ignore_index=0),
    "weight": dict(weight=[0.2, 1.0, 3.0, 0.5]),
    "weight_smoothing_ignore": dict(weight=[0.2, 1.0, 3.0, 0.5], label_smoothing=0.3,
                                    ignore_index=1),
}


@pytest.mark.parametrize("kwargs", CE_CASES.values(), ids=CE_CASES.keys())
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (4,)], ids=["NC", "NCd", "C"])
def test_cross_entropy_matches_pytorch(shape, kwargs):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=shape) * 2
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, 4, size=target_shape)
    if target.size > 1:
        target.flat[0] = 2  # ignore_index=2 hits at least one sample
    (a,), (b,) = both(torch, x)
    ours_kw, theirs_kw = dict(kwargs), dict(kwargs)
    if "weight" in kwargs:
        ours_kw["weight"] = lucid.tensor(kwargs["weight"], dtype=lucid.float64)
        theirs_kw["weight"] = torch.tensor(kwargs["weight"], dtype=torch.float64)
    out = F.cross_entropy(a, lucid.tensor(target), **ours_kw)
    ref = torch.nn.functional.cross_entropy(b, torch.tensor(target), **theirs_kw)
    assert out.shape == tuple(ref.shape)
    assert_same(out, ref, [a], [b])


@pytest.mark.parametrize("kwargs", [dict(), dict(reduction="sum"), dict(ignore_index=0),
                                    dict(reduction="none")], ids=str)
def test_nll_loss_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(6, 3))
    target = np.array([0, 1, 2, 0, 2, 1])
    (a,), (b,) = both(torch, x)
    out = F.nll_loss(a, target, **kwargs)
    ref = torch.nn.functional.nll_loss(b, torch.tensor(target), **kwargs)
    assert_same(out, ref, [a], [b])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_pytorch_with_broadcasting(reduction):
    torch = pytest.importorskip("torch")
    (a, t), (b, u) = both(torch, rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
    assert_same(F.mse_loss(a, t, reduction=reduction),
                torch.nn.functional.mse_loss(b, u, reduction=reduction), [a, t], [b, u])


def test_cross_entropy_gradient_matches_central_differences():
    target = np.array([0, 2, 1, 2])
    check_gradients(lambda x: F.cross_entropy(x, target, label_smoothing=0.1, ignore_index=1),
                    rng.normal(size=(4, 3)))
    check_gradients(lambda x: F.cross_entropy(x, target, reduction="none"),
                    rng.normal(size=(4, 3)))


def test_losses_gradients_match_central_differences():
    check_gradients(lambda x, y: F.mse_loss(x, y), rng.normal(size=(2, 3)),
                    rng.normal(size=(2, 3)))
    check_gradients(lambda x: F.nll_loss(x, [1, 0]), rng.normal(size=(2, 3)))


def test_cross_entropy_is_nll_of_log_softmax():
    x = lucid.tensor(rng.normal(size=(5, 3)))
    t = lucid.tensor([0, 1, 2, 1, 0])
    np.testing.assert_allclose(F.cross_entropy(x, t).item(),
                               F.nll_loss(F.log_softmax(x, dim=1), t).item(), rtol=1e-6)


def test_cross_entropy_keeps_float32_and_module_form_agrees():
    x = lucid.randn(4, 3)
    t = lucid.tensor([0, 1, 2, 0])
    loss = F.cross_entropy(x, t)
    assert loss.dtype is lucid.float32 and loss.shape == ()
    assert nn.CrossEntropyLoss()(x, t).item() == loss.item()
    assert nn.NLLLoss()(F.log_softmax(x, 1), t).item() == pytest.approx(loss.item(), rel=1e-6)
    assert nn.MSELoss(reduction="sum")(x, x).item() == 0.0


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.cross_entropy(x, [0, 3]), ValueError, r"target values must be in \[0, 3\)"),
    (lambda x: F.cross_entropy(x, [0.0, 1.0]), TypeError, "integer dtype"),
    (lambda x: F.cross_entropy(x, [0, 1, 2]), ValueError, r"target must have shape \(2,\)"),
    (lambda x: F.cross_entropy(x, [0, 1], reduction="avg"), ValueError, "reduction"),
    (lambda x: F.cross_entropy(x, [0, 1], label_smoothing=1.5), ValueError, "label_smoothing"),
    (lambda x: F.nll_loss(x, [0, 1], weight=lucid.ones(2)), ValueError, r"weight must have"),
    (lambda x: F.mse_loss(x, lucid.ones(4)), ValueError, "do not broadcast"),
])
def test_loss_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(lucid.randn(2, 3))


def test_torch_tensor_where_a_lucid_one_is_expected_names_the_conversion():
    torch = pytest.importorskip("torch")
    t = torch.zeros(2, 3)
    for call in (lambda: F.cross_entropy(t, [0, 1]), lambda: F.mse_loss(lucid.ones(2), t),
                 lambda: lucid.ones(2, 3) + t, lambda: lucid.sum(t), lambda: lucid.cat([t]),
                 lambda: lucid.optim.SGD([t], lr=0.1), lambda: F.dropout(t),
                 lambda: nn.Linear(3, 2)(t)):
        with pytest.raises(TypeError) as info:
            call()
        assert "torch.Tensor" in str(info.value)
        assert "lucid.tensor(t.numpy())" in str(info.value)


# ------------------------------------------------------------------------------- dropout
def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = lucid.randn(3, 4)
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x and not drop.training
    assert F.dropout(x, p=0.0) is x


def test_dropout_train_zeroes_and_scales_and_gradient_follows_the_mask():
    lucid.manual_seed(3)
    x = lucid.ones(200, 50, requires_grad=True)
    y = nn.Dropout(0.3)(x)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws: 4 standard deviations is 0.018
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)


def test_dropout_is_reproducible_under_manual_seed():
    lucid.manual_seed(11)
    a = F.dropout(lucid.ones(100)).numpy()
    lucid.manual_seed(11)
    b = F.dropout(lucid.ones(100)).numpy()
    c = F.dropout(lucid.ones(100)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        F.dropout(lucid.ones(2), p=-0.1)


# ------------------------------------------------------------- layer norm and embedding
def test_layer_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    ours, theirs = both(torch, x, w, b)
    out = F.layer_norm(ours[0], (3, 4), ours[1], ours[2])
    ref = torch.nn.functional.layer_norm(theirs[0], (3, 4), theirs[1], theirs[2])
    assert_same(out, ref, ours, theirs)


def test_layer_norm_module_and_gradient():
    ln = nn.LayerNorm(4)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    check_gradients(lambda x: F.layer_norm(x, 4), rng.normal(size=(3, 4)))


def test_embedding_matches_pytorch_with_repeats_and_padding():
    torch = pytest.importorskip("torch")
    w = rng.normal(size=(5, 3))
    idx = np.array([[0, 2, 2], [4, 1, 0]])
    (a,), (b,) = both(torch, w)
    out = F.embedding(lucid.tensor(idx), a, padding_idx=0)
    ref = torch.nn.functional.embedding(torch.tensor(idx), b, padding_idx=0)
    assert_same(out, ref, [a], [b])
    assert np.all(a.grad.numpy()[0] == 0)


def test_embedding_module_init_and_errors():
    lucid.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=-1)
    assert emb.padding_idx == 9 and np.all(emb.weight.numpy()[9] == 0)
    assert emb(lucid.tensor([1, 9])).shape == (2, 4)
    with pytest.raises(IndexError, match=r"indices must be in \[0, 10\)"):
        emb(lucid.tensor([10]))
    with pytest.raises(TypeError, match="integer indices"):
        emb(lucid.tensor([1.0]))


def test_sigmoid_and_gelu_match_pytorch():
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(4, 5)) * 4
    for ours, theirs in ((F.sigmoid, torch.sigmoid), (F.gelu, torch.nn.functional.gelu)):
        (a,), (b,) = both(torch, x)
        assert_same(ours(a), theirs(b), [a], [b])
    assert F.sigmoid(lucid.tensor([-1e4, 1e4])).tolist() == [0.0, 1.0]
