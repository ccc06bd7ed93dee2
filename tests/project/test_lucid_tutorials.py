"""lucid 3 snippets, written as lucid's README and a learner's first tutorial would write them,
run unchanged (the first three are lucid 3.8's README verbatim, minus the Metal-kernel and
mixed-precision sections, which lucid-ctc does not have)."""

import numpy as np

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
import lucid.optim as optim


def test_readme_quick_start(capsys):
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to("metal")
    opt = optim.Adam(model.parameters(), lr=1e-3)

    x = lucid.randn(64, 784, device="metal")
    y = lucid.randn(64, 10, device="metal")

    for _ in range(200):
        loss = nn.functional.mse_loss(model(x), y)
        loss.eval()                 # flush MLX's lazy graph before backward

        opt.zero_grad()
        loss.backward()
        opt.step()

    print(f"loss: {loss.item():.4f}")
    out = capsys.readouterr().out
    assert out.startswith("loss: ") and float(out.split()[1]) < 0.5  # it fits the noise


def test_readme_install_check(capsys):
    x = lucid.ones((4, 4), device="metal")
    print(x.device.type)   # metal
    assert capsys.readouterr().out == "metal\n"


def test_readme_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = nn.Linear(3, 2)
    lucid.save(model.state_dict(), "checkpoint.lucid")
    model.load_state_dict(lucid.load("checkpoint.lucid"))
    assert (tmp_path / "checkpoint.lucid").exists()


def test_tensors_and_comparisons():
    t = lucid.Tensor([[1., 2.], [3., 4.]])
    assert t.T.shape == (2, 2)
    mask = t > 2
    assert t[mask].tolist() == [3.0, 4.0]
    assert (t == 1.0).sum().item() == 1
    assert t.flatten().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert t.unsqueeze(0).shape == (1, 2, 2) and t.view(4).shape == (4,)
    assert t.max(dim=1).tolist() == [2.0, 4.0] and t.argmax(dim=1).tolist() == [1, 1]


def test_autograd_basics():
    x = lucid.tensor([2.0, 3.0], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()
    assert x.grad.tolist() == [4.0, 6.0]
    with lucid.no_grad():
        z = x * 2
    assert not z.requires_grad


def test_classification_loop_with_cross_entropy_and_accuracy():
    lucid.manual_seed(0)
    x = lucid.randn(128, 2)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.5)
    for _epoch in range(60):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (model(x).argmax(dim=1) == y).float().mean().item()
    assert acc > 0.9


def test_custom_module_with_dropout_layernorm_and_embedding():
    class TinyEncoder(nn.Module):
        def __init__(self, vocab, dim):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.norm = nn.LayerNorm(dim)
            self.drop = nn.Dropout(0.1)
            self.out = nn.Linear(dim, vocab)

        def forward(self, tokens):
            h = self.drop(self.norm(self.embed(tokens)))
            return self.out(h)

    model = TinyEncoder(20, 8)
    tokens = lucid.randint(0, 20, (4, 5))
    logits = model(tokens)
    assert logits.shape == (4, 5, 20)
    loss = F.cross_entropy(logits.reshape(-1, 20), tokens.reshape(-1))
    loss.backward()
    assert model.embed.weight.grad.shape == (20, 8)
    model.eval()
    assert not model.drop.training


def test_scheduler_loop():
    model = nn.Linear(4, 1)
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)
    for _epoch in range(20):
        loss = model(lucid.randn(8, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    assert np.isclose(sched.get_last_lr()[0], 1e-4)


def test_state_dict_to_a_fresh_model():
    net = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    twin = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    twin.load_state_dict(net.state_dict())
    x = lucid.randn(2, 3)
    assert lucid.tensor(net(x).numpy()).allclose(twin(x))


def test_factories_and_dtypes():
    a = lucid.zeros(2, 3, dtype=lucid.long)
    b = lucid.full((2, 3), 0.5, dtype=lucid.double)
    c = lucid.arange(6).reshape(2, 3)
    assert a.dtype is lucid.int64 and b.dtype is lucid.float64
    assert (c + a).dtype is lucid.int64 and (c * b).dtype is lucid.float64
    e = lucid.eye(3)
    assert lucid.stack([e, e]).shape == (2, 3, 3) and lucid.cat([e, e], dim=1).shape == (3, 6)
    assert lucid.linspace(0, 1, steps=5).shape == (5,)


def test_elementwise_and_reductions():
    x = lucid.tensor([[-1.0, 4.0], [9.0, -16.0]])
    assert x.abs().sqrt().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.clamp(min=0).tolist() == [[0.0, 4.0], [9.0, 0.0]]
    assert lucid.where(x > 0, x, lucid.zeros_like(x)).sum().item() == 13.0
    assert x.min().item() == -16.0 and x.mean(dim=0).tolist() == [4.0, -6.0]
    assert lucid.maximum(x, lucid.tensor(0.0)).max().item() == 9.0
    p = x.softmax(dim=-1)
    assert np.allclose(p.sum(dim=-1).numpy(), 1.0)
    assert x.sigmoid().shape == (2, 2) and x.log_softmax(-1).exp().sum().item() > 1.99


def test_numpy_interop():
    arr = np.arange(4, dtype=np.float32)
    t = lucid.from_numpy(arr)
    u = lucid.as_tensor(arr * 2)
    assert (t + u).numpy().tolist() == [0.0, 3.0, 6.0, 9.0]
    assert t.clone().tolist() == t.tolist()
    assert float(t.sum()) == 6.0
