"""Tests of lucid.optim: SGD and Adam step by step against updates worked out by hand,
then against torch.optim over many steps and option combinations when PyTorch is installed."""

import math

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid.optim import SGD, Adam


def run(optimizer_cls, grads, p0=1.0, **options):
    """Values of a one-element float64 parameter after each step, fed the given gradients."""
    p = lucid.tensor([p0], dtype=lucid.float64, requires_grad=True)
    opt = optimizer_cls([p], **options)
    values = []
    for g in grads:
        opt.zero_grad()
        (p * g).sum().backward()  # d/dp of g * p is g
        opt.step()
        values.append(p.item())
    return values


# ---------------------------------------------------------------------- by hand: SGD
def test_sgd_plain():
    # p1 = 1 - 0.1 * 0.5 = 0.95; p2 = 0.95 - 0.1 * (-0.25) = 0.975
    np.testing.assert_allclose(run(SGD, [0.5, -0.25], lr=0.1), [0.95, 0.975], rtol=1e-15)


def test_sgd_momentum_dampening_weight_decay():
    # lr 0.1, momentum 0.9, dampening 0.5, weight decay 0.01, p0 = 1:
    # step 1: d = 0.5 + 0.01 * 1 = 0.51; buffer = d (no dampening on the first step) = 0.51;
    #         p1 = 1 - 0.1 * 0.51 = 0.949
    # step 2: d = -0.25 + 0.01 * 0.949 = -0.24051; buffer = 0.9 * 0.51 + 0.5 * d = 0.338745;
    #         p2 = 0.949 - 0.1 * 0.338745 = 0.9151255
    values = run(SGD, [0.5, -0.25], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)
    np.testing.assert_allclose(values, [0.949, 0.9151255], rtol=1e-14)


def test_sgd_nesterov():
    # lr 0.1, momentum 0.9: step 1: buffer = 0.5, d = 0.5 + 0.9 * 0.5 = 0.95, p1 = 0.905
    # step 2: buffer = 0.9 * 0.5 - 0.25 = 0.2, d = -0.25 + 0.9 * 0.2 = -0.07, p2 = 0.912
    values = run(SGD, [0.5, -0.25], lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(values, [0.905, 0.912], rtol=1e-14)


# --------------------------------------------------------------------- by hand: Adam
def test_adam_first_step_is_lr_times_sign():
    # m1 = 0.1 g, v1 = 0.001 g^2; bias-corrected: m = g, v = g^2, so
    # p1 = p0 - lr * g / (|g| + eps) for every g
    for g in (0.5, -3.0, 1e-3):
        (p1,) = run(Adam, [g], lr=0.1, eps=1e-8)
        assert p1 == pytest.approx(1 - 0.1 * g / (abs(g) + 1e-8), rel=1e-15)


def test_adam_two_steps_with_weight_decay():
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.01
    # step 1: d = 0.5 + 0.01 * 1 = 0.51; m = 0.1 * d; v = 0.001 * d^2
    d1 = 0.51
    m1, v1 = (1 - b1) * d1, (1 - b2) * d1**2
    p1 = 1 - lr / (1 - b1) * m1 / (math.sqrt(v1) / math.sqrt(1 - b2) + eps)
    # step 2: d = -0.25 + 0.01 * p1
    d2 = -0.25 + wd * p1
    m2, v2 = b1 * m1 + (1 - b1) * d2, b2 * v1 + (1 - b2) * d2**2
    p2 = p1 - lr / (1 - b1**2) * m2 / (math.sqrt(v2) / math.sqrt(1 - b2**2) + eps)
    values = run(Adam, [0.5, -0.25], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    np.testing.assert_allclose(values, [p1, p2], rtol=1e-14)


def test_adam_amsgrad_divides_by_the_largest_second_moment():
    # A large gradient, then a small one: v falls, but AMSGrad keeps dividing by the old v.
    lr, b1, b2 = 0.1, 0.9, 0.999
    m1, v1 = (1 - b1) * 4.0, (1 - b2) * 16.0
    p1 = 1 - lr / (1 - b1) * m1 / (math.sqrt(v1) / math.sqrt(1 - b2) + 1e-8)
    m2, v2 = b1 * m1 + (1 - b1) * 0.01, b2 * v1 + (1 - b2) * 1e-4
    assert v2 < v1
    p2 = p1 - lr / (1 - b1**2) * m2 / (math.sqrt(v1) / math.sqrt(1 - b2**2) + 1e-8)
    values = run(Adam, [4.0, 0.01], lr=lr, amsgrad=True)
    np.testing.assert_allclose(values, [p1, p2], rtol=1e-14)


# ----------------------------------------------------------------------- behaviour
def test_step_skips_parameters_without_gradient_and_updates_in_place():
    lucid.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    weight = model[0].weight
    before = model.state_dict()
    opt = Adam(model.parameters(), lr=0.1)
    model[1](lucid.randn(4, 2)).sum().backward()  # only the second layer gets gradients
    opt.step()
    after = model.state_dict()
    assert model[0].weight is weight
    np.testing.assert_array_equal(after["0.weight"], before["0.weight"])
    np.testing.assert_array_equal(after["0.bias"], before["0.bias"])
    assert not np.array_equal(after["1.weight"], before["1.weight"])
    params = list(model.parameters())
    assert params[0] not in opt.state and opt.state[params[2]]["step"] == 1


def test_zero_grad_forgets_gradients():
    p = lucid.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # nothing to do
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])


def test_float32_parameters_stay_float32():
    p = lucid.tensor([1.0, -2.0], requires_grad=True)
    for opt in (SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), Adam([p], weight_decay=0.1)):
        (p * p).sum().backward()
        opt.step()
        opt.step()
        assert p.numpy().dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values()
                   if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD([], lr=0.1), "SGD: got an empty parameter list"),
    (lambda p: SGD([p, p], lr=0.1), "SGD: a parameter appears more than once"),
    (lambda p: SGD([p * 2], lr=0.1), r"SGD: params\[0\] is not a leaf"),
    (lambda p: SGD([p], lr=-0.1), "SGD: lr must be >= 0, got -0.1"),
    (lambda p: SGD([p], lr=0.1, momentum=-1.0), "SGD: momentum must be >= 0, got -1.0"),
    (lambda p: SGD([p], lr=0.1, nesterov=True),
     "SGD: nesterov needs momentum > 0 and dampening == 0"),
    (lambda p: SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    (lambda p: Adam([p], lr=float("nan")), "Adam: lr must be >= 0, got nan"),
    (lambda p: Adam([p], eps=-1e-8), "Adam: eps must be >= 0"),
    (lambda p: Adam([p], betas=(0.9, 1.0)), r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"),
    (lambda p: Adam([p], weight_decay=-1), "Adam: weight_decay must be >= 0, got -1"),
])
def test_bad_arguments_raise_value_error(make, message):
    p = lucid.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=message):
        make(p)


def test_non_tensor_parameter_is_a_type_error():
    with pytest.raises(TypeError,
                       match=r"Adam: params\[0\] must be a lucid.Tensor, got numpy.ndarray"):
        Adam([np.zeros(3)])


# ----------------------------------------------------------------- against PyTorch
CONFIGS = [
    (SGD, "SGD", dict(lr=0.1)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001)),
    (Adam, "Adam", dict(lr=0.01)),
    (Adam, "Adam", dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
    (Adam, "Adam", dict(lr=0.01, amsgrad=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours, theirs, options", CONFIGS)
def test_matches_torch_optim_step_by_step(ours, theirs, options, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    init = [rng.normal(size=s).astype(dtype) for s in shapes]
    lucid_params = [lucid.tensor(a.copy(), requires_grad=True) for a in init]
    torch_params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt_l = ours(lucid_params, **options)
    opt_t = getattr(torch.optim, theirs)(torch_params, **options)
    # float32: both round each of ~10 operations per step to float32, possibly differently
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for step in range(20):
        for pl, pt in zip(lucid_params, torch_params):
            # gradients that change sign and scale, so the moments are exercised
            g = (rng.normal(size=pl.shape) * (10.0 if step % 7 == 3 else 1.0)).astype(dtype)
            pl.grad = lucid.tensor(g)
            pt.grad = torch.tensor(g)
        opt_l.step()
        opt_t.step()
        for pl, pt in zip(lucid_params, torch_params):
            np.testing.assert_allclose(pl.numpy(), pt.detach().numpy(), rtol=rtol, atol=rtol,
                                       err_msg=f"step {step}")
