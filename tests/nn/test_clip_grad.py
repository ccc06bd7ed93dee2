"""lucid.nn.utils: gradient clipping and parameters as one vector, against a plain NumPy
reference and PyTorch."""

import math

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid.nn.utils import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

rng = np.random.default_rng(3)
SHAPES = [(3, 4), (4,), (2, 2, 2)]


def params_with_grads(scale=1.0, dtype=np.float32):
    params = []
    for shape in SHAPES:
        p = lucid.tensor(rng.normal(size=shape).astype(dtype), requires_grad=True)
        p.grad = lucid.tensor((scale * rng.normal(size=shape)).astype(dtype))
        params.append(p)
    return params


def numpy_norm(grads, p):
    flat = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads])
    return np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_against_numpy(norm_type, max_norm):
    params = params_with_grads()
    before = [p.grad.numpy().copy() for p in params]
    p = float(norm_type)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    want = numpy_norm(before, p)
    assert total.shape == () and total.dtype is lucid.float32
    np.testing.assert_allclose(total.item(), want, rtol=1e-6)
    coef = min(1.0, max_norm / (want + 1e-6))
    for p_, g in zip(params, before):
        np.testing.assert_allclose(p_.grad.numpy(), g * coef, rtol=1e-6)
    if coef < 1:
        np.testing.assert_allclose(numpy_norm([q.grad.numpy() for q in params], p), max_norm,
                                   rtol=1e-5)


def test_parameters_without_grad_are_skipped_and_a_single_tensor_works():
    a, b = lucid.ones(2, requires_grad=True), lucid.ones(2, requires_grad=True)
    a.grad = lucid.tensor([3.0, 4.0])
    assert clip_grad_norm_([a, b], 1.0).item() == pytest.approx(5.0)
    assert b.grad is None and np.allclose(a.grad.numpy(), [0.6, 0.8])
    assert clip_grad_norm_(a, 10.0).item() == pytest.approx(1.0, rel=1e-6)
    assert clip_grad_norm_([b], 1.0).item() == 0.0
    assert clip_grad_norm is clip_grad_norm_


def test_a_model_step_is_clipped():
    lucid.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    (model(lucid.randn(5, 4)) * 100).sum().backward()
    total = clip_grad_norm_(model.parameters(), max_norm=0.5)
    assert total.item() > 0.5
    assert get_total_norm(model.parameters()).item() == pytest.approx(0.5, rel=1e-5)


def test_non_finite_norms():
    params = params_with_grads()
    params[1].grad.numpy()[0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert np.isinf(params[1].grad.numpy()[0])  # nothing was scaled
    total = clip_grad_norm_(params, 1.0)
    assert math.isinf(total.item())
    assert np.isnan(params[1].grad.numpy()[0])  # inf * 0, as PyTorch
    params = params_with_grads()
    params[0].grad.numpy()[0, 0] = np.nan
    assert math.isnan(clip_grad_norm_(params, 1.0, norm_type=math.inf).item())


def test_get_total_norm_takes_parameters_or_gradients():
    params = params_with_grads()
    grads = [p.grad for p in params]
    want = numpy_norm([g.numpy() for g in grads], 2)
    assert get_total_norm(params).item() == pytest.approx(want, rel=1e-6)
    assert get_total_norm(grads).item() == pytest.approx(want, rel=1e-6)
    assert get_total_norm([]).item() == 0.0


def test_clip_grad_value_():
    params = params_with_grads(scale=3.0)
    before = [p.grad.numpy().copy() for p in params]
    assert clip_grad_value_(params, 0.7) is None
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.7, 0.7))


@pytest.mark.parametrize("call, message", [
    (lambda ps: clip_grad_norm_(ps, -1.0), "max_norm must be a number >= 0"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), "norm_type must be a number > 0"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="two"), "norm_type must be a number > 0"),
    (lambda ps: clip_grad_value_(ps, -0.1), "clip_value must be a number >= 0"),
    (lambda ps: clip_grad_norm_(ps + [np.ones(2)], 1.0), r"parameters\[3\] must be a lucid"),
    (lambda ps: clip_grad_norm_(3, 1.0), "must be a Tensor or an iterable of tensors"),
])
def test_bad_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(params_with_grads())


def test_parameters_to_vector_and_back():
    params = params_with_grads()
    for p in params:
        p.grad = None
    vec = parameters_to_vector(params)
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([p.numpy().ravel()
                                                               for p in params]))
    (vec * lucid.arange(vec.shape[0]).float()).sum().backward()  # differentiable
    offsets = np.cumsum([0] + [p.numel() for p in params])
    for p, start in zip(params, offsets):
        np.testing.assert_array_equal(p.grad.numpy().ravel(),
                                      np.arange(start, start + p.numel()))
    new = lucid.tensor(rng.normal(size=vec.shape[0]))  # float64 into float32 parameters
    kept = new.numpy().copy()
    vector_to_parameters(new, params)
    assert all(p.dtype is lucid.float32 and p.requires_grad for p in params)
    np.testing.assert_allclose(parameters_to_vector(params).numpy(), kept, rtol=1e-6)
    assert np.array_equal(new.numpy(), kept)  # the vector is not changed
    with pytest.raises(ValueError, match="vec must be 1-D with 24 elements"):
        vector_to_parameters(lucid.zeros(25), params)
    with pytest.raises(ValueError, match="got no parameters"):
        parameters_to_vector([])


@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
def test_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    for max_norm in (0.5, 100.0):
        ours = params_with_grads(scale=2.0)
        theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in ours]
        for t, p in zip(theirs, ours):
            t.grad = torch.tensor(p.grad.numpy())
        total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
        want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
        np.testing.assert_allclose(total.numpy(), want.numpy(), rtol=1e-6)
        assert total.shape == tuple(want.shape)
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)
    ours = params_with_grads(scale=2.0)
    theirs = [torch.tensor(p.grad.numpy()) for p in ours]
    np.testing.assert_allclose(get_total_norm(ours, norm_type).numpy(),
                               torch.nn.utils.get_total_norm(theirs, norm_type).numpy(),
                               rtol=1e-6)
    np.testing.assert_array_equal(
        parameters_to_vector(ours).numpy(),
        torch.nn.utils.parameters_to_vector([torch.tensor(p.numpy()) for p in ours]).numpy())
