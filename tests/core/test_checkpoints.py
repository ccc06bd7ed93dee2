"""Every object a training loop checkpoints round-trips through lucid.save / lucid.load in the
default (pickle-free) format, and a run resumed from a checkpoint continues exactly as the run
that was never stopped."""

import io

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid.nn.utils import clip_grad_norm_
from lucid.optim import SGD, Adam, AdamW
from lucid.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, StepLR
from lucid.utils.data import DataLoader, TensorDataset

OPTIMIZERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd-dampened": lambda ps: SGD(ps, lr=0.1, momentum=0.5, dampening=0.3),
    "adam": lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.99), amsgrad=True),
    "adamw": lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
}
SCHEDULERS = {
    "step": lambda opt: StepLR(opt, step_size=2, gamma=0.5),
    "exponential": lambda opt: ExponentialLR(opt, gamma=0.9),
    "cosine": lambda opt: CosineAnnealingLR(opt, T_max=7, eta_min=1e-4),
    "lambda": lambda opt: LambdaLR(opt, lambda epoch: 1 / (1 + epoch)),
}


def round_trip(obj):
    buffer = io.BytesIO()
    lucid.save(obj, buffer)
    buffer.seek(0)
    return lucid.load(buffer)


def data():
    g = np.random.default_rng(0)
    x = g.normal(size=(24, 5)).astype(np.float32)
    y = (x @ g.normal(size=(5, 2))).astype(np.float32)
    return TensorDataset(lucid.tensor(x), lucid.tensor(y))


def make(optimizer, scheduler):
    lucid.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 2))
    opt = OPTIMIZERS[optimizer](model.parameters())
    return model, opt, SCHEDULERS[scheduler](opt)


def train(model, opt, sched, loader, epochs):
    for _ in range(epochs):
        for x, y in loader:
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), max_norm=0.5)
            opt.step()
        sched.step()


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_a_resumed_run_equals_the_uninterrupted_one(optimizer, scheduler):
    loader = DataLoader(data(), batch_size=5, shuffle=True)
    model, opt, sched = make(optimizer, scheduler)
    train(model, opt, sched, loader, 4)
    want = [p.numpy().copy() for p in model.parameters()]

    model, opt, sched = make(optimizer, scheduler)
    train(model, opt, sched, loader, 2)
    checkpoint = round_trip({
        "epoch": 2, "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "rng": lucid.get_rng_state(),
        "loss": float("nan"),
    })
    lucid.manual_seed(12345)  # what happened in between must not matter
    model, opt, sched = make(optimizer, scheduler)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    sched.load_state_dict(checkpoint["scheduler"])
    lucid.set_rng_state(checkpoint["rng"])
    train(model, opt, sched, loader, 4 - checkpoint["epoch"])
    for got, expected in zip(model.parameters(), want):
        np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizer_state_dicts_come_back_equal(optimizer):
    model, opt, sched = make(optimizer, "step")
    train(model, opt, sched, DataLoader(data(), batch_size=8), 1)
    saved = opt.state_dict()
    loaded = round_trip(saved)
    assert loaded["param_groups"] == saved["param_groups"]
    assert loaded["state"].keys() == saved["state"].keys()
    for index, state in saved["state"].items():
        assert loaded["state"][index].keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_array_equal(loaded["state"][index][key], value)
            assert type(loaded["state"][index][key]) is type(value)


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_scheduler_state_dicts_come_back_equal(scheduler):
    _, opt, sched = make("sgd", scheduler)
    for _ in range(3):
        sched.step()
    assert round_trip(sched.state_dict()) == sched.state_dict()


def test_recurrent_and_embedding_state_dicts_and_a_generator():
    lucid.manual_seed(3)
    for module in (nn.GRU(3, 4, num_layers=2, bidirectional=True), nn.LSTM(3, 2),
                   nn.Embedding(5, 3), nn.LayerNorm(4), nn.Conv1d(2, 3, 3)):
        state = module.state_dict()
        loaded = round_trip(state)
        assert list(loaded) == list(state)
        for k in state:
            np.testing.assert_array_equal(loaded[k].numpy(), state[k].numpy())
    g = lucid.Generator(9)
    state = round_trip(g.get_state())
    want = g.numpy().random(3)
    g.set_state(state)
    np.testing.assert_array_equal(g.numpy().random(3), want)
