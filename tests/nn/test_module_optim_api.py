"""Module's traversal, conversion and state_dict; optimizers' param_groups and state_dict;
AdamW and the lr schedulers against PyTorch when it is installed."""

import math

import numpy as np
import pytest

import lucid
from lucid import nn, optim
from lucid.optim import lr_scheduler


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.ReLU())

    def forward(self, x):
        return self.head(self.drop(self.fc(x)))


def test_traversal():
    m = Block()
    assert [name for name, _ in m.named_modules()] == ["", "fc", "drop", "head", "head.0",
                                                       "head.1"]
    assert len(list(m.modules())) == 6
    assert [name for name, _ in m.named_children()] == ["fc", "drop", "head"]
    assert [n for n, _ in m.named_parameters()] == ["fc.weight", "fc.bias", "head.0.weight",
                                                    "head.0.bias"]
    assert list(m.parameters(recurse=False)) == []


def test_shared_parameter_is_listed_once():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight
    assert len(list(m.parameters())) == 3


def test_train_eval_reach_every_submodule():
    m = Block().eval()
    assert not any(sub.training for sub in m.modules())
    x = lucid.randn(5, 3)
    np.testing.assert_array_equal(m(x).numpy(), m(x).numpy())  # dropout off
    assert all(sub.training for sub in m.train().modules())


def test_to_converts_in_place_and_optimizer_keeps_working():
    m = Block()
    opt = optim.SGD(m.parameters(), lr=0.1)
    w = m.fc.weight
    assert m.double() is m and w.dtype is lucid.float64 and m.fc.weight is w
    m(lucid.randn(2, 3, dtype=lucid.float64)).sum().backward()
    opt.step()
    assert w.dtype is lucid.float64
    m.to("metal")
    assert all(p.device == "metal" for p in m.parameters())
    assert m.cpu().fc.weight.device == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        m.to(lucid.int64)


def test_state_dict_holds_tensor_copies_and_loads_back():
    a, b = Block(), Block()
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]
    assert all(isinstance(v, lucid.Tensor) for v in state.values())
    b.load_state_dict(state)
    x = lucid.randn(4, 3)
    np.testing.assert_array_equal(a.eval()(x).numpy(), b.eval()(x).numpy())
    state["fc.bias"].numpy()[...] = 100.0  # a copy: the model is untouched
    assert a.fc.bias.max().item() < 100
    b.load_state_dict({k: v.numpy() for k, v in a.state_dict().items()})  # arrays work too
    b.load_state_dict({"fc.bias": lucid.zeros(4)}, strict=False)
    assert b.fc.bias.tolist() == [0.0] * 4
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"fc.bias": lucid.zeros(4)})


def test_module_zero_grad():
    m = Block()
    m(lucid.randn(2, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.sum().item() == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# ---------------------------------------------------------------------------- optimizers
def test_sgd_requires_lr():
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([lucid.zeros(1, requires_grad=True)])


def test_param_groups_have_their_own_hyperparameters():
    a = lucid.ones(1, requires_grad=True)
    b = lucid.ones(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    (a + b).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})


def _train(opt_factory, params, steps=3):
    opt = opt_factory(params)
    for _ in range(steps):
        opt.zero_grad()
        ((params[0] * params[0]).sum() + params[0].sum()).backward()
        opt.step()
    return opt


@pytest.mark.parametrize("make", [lambda p: optim.Adam(p, lr=0.1),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.AdamW(p, lr=0.1)],
                         ids=["Adam", "SGD", "AdamW"])
def test_optimizer_state_dict_round_trip_continues_identically(make):
    p1 = [lucid.tensor([1.0, -2.0], requires_grad=True)]
    opt1 = _train(make, p1)
    p2 = [lucid.tensor(p1[0].numpy().copy(), requires_grad=True)]
    opt2 = make(p2)
    opt2.load_state_dict(opt1.state_dict())
    for p, opt in ((p1, opt1), (p2, opt2)):
        opt.zero_grad()
        ((p[0] * p[0]).sum() + p[0].sum()).backward()
        opt.step()
    np.testing.assert_array_equal(p1[0].numpy(), p2[0].numpy())
    state = opt1.state_dict()
    assert state["param_groups"][0]["params"] == [0] and 0 in state["state"]


def test_adamw_matches_pytorch():
    torch = pytest.importorskip("torch")
    x0 = np.array([1.0, -2.0, 0.5])
    ours = lucid.tensor(x0, dtype=lucid.float64, requires_grad=True)
    theirs = torch.tensor(x0, requires_grad=True)
    o = optim.AdamW([ours], lr=0.1, weight_decay=0.1, amsgrad=True)
    t = torch.optim.AdamW([theirs], lr=0.1, weight_decay=0.1, amsgrad=True)
    for _ in range(5):
        for opt, p in ((o, ours), (t, theirs)):
            opt.zero_grad()
            ((p * p * p).sum() + p.sum()).backward()
            opt.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)


SCHEDULERS = {
    "StepLR": (lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
               lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "ExponentialLR": (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
                      lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "CosineAnnealingLR": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
                          lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5,
                                                                              eta_min=0.01)),
    "LambdaLR": (lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)),
                 lambda t, o: t.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1))),
}


@pytest.mark.parametrize("ours, theirs", SCHEDULERS.values(), ids=SCHEDULERS.keys())
def test_schedulers_match_pytorch(ours, theirs):
    torch = pytest.importorskip("torch")
    o = optim.SGD([lucid.zeros(1, requires_grad=True)], lr=0.5)
    t = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    so, st = ours(o), theirs(torch, t)
    for _ in range(8):
        assert so.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)
        o.step()
        t.step()
        so.step()
        st.step()


def test_cosine_schedule_closed_form():
    o = optim.SGD([lucid.zeros(1, requires_grad=True)], lr=1.0)
    s = lr_scheduler.CosineAnnealingLR(o, T_max=4)
    lrs = []
    for _ in range(5):
        lrs.append(o.param_groups[0]["lr"])
        s.step()
    assert lrs == pytest.approx([(1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)])
