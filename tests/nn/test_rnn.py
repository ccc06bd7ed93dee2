"""nn.GRU and nn.LSTM: outputs and gradients against PyTorch with the same weights (float64),
against central differences without PyTorch, and padded batches with per-sample lengths."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid
from lucid import nn
from lucid.nn.functional import gru_layer, lstm_layer

CONFIGS = [  # (num_layers, bidirectional, batch_first, bias)
    (1, False, False, True), (1, True, False, True), (2, True, True, True),
    (2, False, False, False), (3, True, False, True),
]


def _pair(torch, kind, num_layers, bidirectional, batch_first, bias, F=5, H=4):
    lucid.manual_seed(0)
    ours = getattr(nn, kind)(F, H, num_layers=num_layers, bidirectional=bidirectional,
                             batch_first=batch_first, bias=bias, dtype=lucid.float64)
    theirs = getattr(torch.nn, kind)(F, H, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=batch_first, bias=bias)
    theirs.load_state_dict({k: torch.tensor(v.numpy())
                            for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("num_layers, bidirectional, batch_first, bias", CONFIGS)
def test_matches_torch_outputs_and_gradients(torch, kind, num_layers, bidirectional,
                                             batch_first, bias):
    ours, theirs = _pair(torch, kind, num_layers, bidirectional, batch_first, bias)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    rng = np.random.default_rng(1)
    T, N, H = 7, 3, 4
    D = 2 if bidirectional else 1
    x = rng.standard_normal((N, T, 5) if batch_first else (T, N, 5))
    h0 = rng.standard_normal((num_layers * D, N, H))
    c0 = rng.standard_normal((num_layers * D, N, H))
    lx, lh, lc = (lucid.tensor(a, requires_grad=True) for a in (x, h0, c0))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if kind == "GRU":
        lout, lhn = ours(lx, lh)
        tout, thn = theirs(tx, th)
        lfin, tfin = [lhn], [thn]
    else:
        lout, (lhn, lcn) = ours(lx, (lh, lc))
        tout, (thn, tcn) = theirs(tx, (th, tc))
        lfin, tfin = [lhn, lcn], [thn, tcn]
    weights = [rng.standard_normal(t.shape) for t in [tout] + tfin]
    for a, b in zip([lout] + lfin, [tout] + tfin):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-12)
    loss = sum((a * lucid.tensor(w)).sum() for a, w in zip([lout] + lfin, weights))
    loss.backward()
    sum((b * torch.tensor(w)).sum() for b, w in zip([tout] + tfin, weights)).backward()
    leaves = [(lx, tx), (lh, th)] + ([(lc, tc)] if kind == "LSTM" else [])
    for a, b in leaves:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=0, atol=1e-10)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=0,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_lengths_match_torch_packed_sequences(torch, kind):
    """A padded batch with lengths gives what PyTorch gives on the packed batch: outputs 0 past
    each length, final states after each sample's last frame, the same gradients."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    ours, theirs = _pair(torch, kind, 2, True, False, True)
    rng = np.random.default_rng(2)
    T, N = 9, 4
    lengths = [9, 4, 7, 1]
    x = rng.standard_normal((T, N, 5))
    x[np.arange(T)[:, None] >= np.array(lengths)] = 1e3  # padding must not leak anywhere
    lx, tx = lucid.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    packed = pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False)
    tout, tfin = theirs(packed)
    tout, _ = pad_packed_sequence(tout, total_length=T)
    lout, lfin = ours(lx, lengths=lengths)
    if kind == "GRU":
        tfin, lfin = [tfin], [lfin]
    weights = [rng.standard_normal(t.shape) for t in [tout, *tfin]]
    for a, b in zip([lout, *lfin], [tout, *tfin]):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-12)
    sum((a * lucid.tensor(w)).sum() for a, w in zip([lout, *lfin], weights)).backward()
    sum((b * torch.tensor(w)).sum() for b, w in zip([tout, *tfin], weights)).backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-10)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=0,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_padding_does_not_change_a_ctc_loss(kind):
    """As users train with CTC: pad a batch, pass input_lengths to the layer and to ctc_loss;
    each sample's loss and gradient are those of the sample alone."""
    lucid.manual_seed(3)
    rnn = getattr(nn, kind)(3, 4, bidirectional=True, dtype=lucid.float64)
    head = nn.Linear(8, 5, dtype=lucid.float64)
    rng = np.random.default_rng(3)
    lengths, targets = [6, 4], [[1, 2, 2], [3, 4, 0]]

    def loss_of(x, input_lengths, tgt, tgt_lengths):
        out, _ = rnn(x, lengths=input_lengths)
        log_probs = lucid.nn.functional.log_softmax(head(out), dim=2)
        return lucid.nn.functional.ctc_loss(log_probs, tgt, input_lengths, tgt_lengths,
                                            reduction="sum")

    x = rng.standard_normal((6, 2, 3))
    x[4:, 1] = rng.standard_normal((2, 3)) * 50  # garbage in the padding
    padded = lucid.tensor(x, requires_grad=True)
    total = loss_of(padded, lengths, targets, [3, 2])
    total.backward()
    for n in range(2):
        alone = lucid.tensor(x[: lengths[n], n:n + 1], requires_grad=True)
        single = loss_of(alone, [lengths[n]], [targets[n]], [[3, 2][n]])
        single.backward()
        np.testing.assert_allclose(padded.grad.numpy()[: lengths[n], n],
                                   alone.grad.numpy()[:, 0], rtol=1e-10, atol=1e-12)
    assert not padded.grad.numpy()[4:, 1].any()
    separately = sum(loss_of(lucid.tensor(x[: lengths[n], n:n + 1]), [lengths[n]],
                             [targets[n]], [[3, 2][n]]).item() for n in range(2))
    assert total.item() == pytest.approx(separately, rel=1e-12)


def _weights(kind, D, F, H, seed):
    rng = np.random.default_rng(seed)
    G = (3 if kind == "gru" else 4) * H
    return [a for _ in range(D) for a in (rng.standard_normal((G, F)) * 0.5,
                                          rng.standard_normal((G, H)) * 0.5,
                                          rng.standard_normal(G) * 0.5,
                                          rng.standard_normal(G) * 0.5)]


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("lengths", [None, [4, 2, 0]])
def test_gradients_match_central_differences(kind, lengths):
    T, N, F, H, D = 4, 3, 2, 3, 2
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((T, N, F)), rng.standard_normal((D, N, H))]
    if kind == "lstm":
        arrays.append(rng.standard_normal((D, N, H)))
    arrays += _weights(kind, D, F, H, 5)
    n_states = 1 if kind == "gru" else 2

    def fn(x, *rest):
        states, flat = rest[:n_states], rest[n_states:]
        params = [flat[4 * d:4 * d + 4] for d in range(D)]
        if kind == "gru":
            out, h_n = gru_layer(x, states[0], params, lengths)
            finals = [h_n]
        else:
            out, h_n, c_n = lstm_layer(x, states[0], states[1], params, lengths)
            finals = [h_n, c_n]
        # one output joining everything the op returns, so every gradient path is checked
        return out.sum(dim=2) + sum(f.sum() for f in finals)

    check_gradients(fn, *arrays, rtol=1e-6, atol=1e-8)


def test_initialisation_and_names_follow_torch():
    lucid.manual_seed(0)
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert shapes["weight_ih_l0"] == (80, 10) and shapes["weight_ih_l1_reverse"] == (80, 40)
    assert shapes["weight_hh_l1"] == (80, 20) and shapes["bias_hh_l0_reverse"] == (80,)
    assert len(shapes) == 16
    bound = 1 / np.sqrt(20)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert abs(values.mean()) < 0.05 * bound  # centred
    assert lstm.weight_ih_l0.dtype == lucid.float32
    assert not any(n.startswith("bias") for n, _ in nn.GRU(3, 4, bias=False).named_parameters())


def test_unbatched_input_and_float32():
    lucid.manual_seed(0)
    gru = nn.GRU(3, 4, num_layers=2)
    x = lucid.randn(6, 3)
    out, h_n = gru(x)
    assert out.shape == (6, 4) and h_n.shape == (2, 4) and out.dtype == lucid.float32
    batched, h_b = gru(x.reshape(6, 1, 3))
    np.testing.assert_allclose(out.numpy(), batched.numpy()[:, 0], rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_float32_agrees_with_float64(kind):
    """The float32 cell kernels (float exp, float arithmetic) against the float64 ones."""
    lucid.manual_seed(0)
    wide = getattr(nn, kind)(5, 16, bidirectional=True, dtype=lucid.float64)
    narrow = getattr(nn, kind)(5, 16, bidirectional=True)
    narrow.load_state_dict(wide.state_dict())
    x = np.random.default_rng(7).standard_normal((20, 3, 5)) * 3  # gates well into saturation
    x64 = lucid.tensor(x, requires_grad=True)
    x32 = lucid.tensor(x.astype(np.float32), requires_grad=True)
    out64, out32 = wide(x64, lengths=[20, 9, 14])[0], narrow(x32, lengths=[20, 9, 14])[0]
    np.testing.assert_allclose(out32.numpy(), out64.numpy(), rtol=0, atol=2e-6)
    out64.sum().backward()
    out32.sum().backward()
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dropout_between_layers_only_in_training():
    lucid.manual_seed(0)
    gru = nn.GRU(3, 4, num_layers=2, dropout=0.5, dtype=lucid.float64)
    x = lucid.randn(5, 2, 3, dtype=lucid.float64)
    gru.eval()
    first, _ = gru(x)
    again, _ = gru(x)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    gru.train()
    trained, _ = gru(x)
    assert not np.allclose(trained.numpy(), first.numpy())
    one_layer = nn.GRU(3, 4, dropout=0.5)  # nothing between layers to drop: deterministic
    a, _ = one_layer(lucid.randn(5, 2, 3))
    assert a.shape == (5, 2, 4)


def test_input_is_not_modified():
    lucid.manual_seed(0)
    lstm = nn.LSTM(3, 4, bidirectional=True, dtype=lucid.float64)
    x = lucid.randn(5, 2, 3, dtype=lucid.float64, requires_grad=True)
    h = lucid.randn(2, 2, 4, dtype=lucid.float64, requires_grad=True)
    c = lucid.randn(2, 2, 4, dtype=lucid.float64, requires_grad=True)
    copies = [t.numpy().copy() for t in (x, h, c)]
    out, (h_n, c_n) = lstm(x, (h, c), lengths=[5, 3])
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    for t, before in zip((x, h, c), copies):
        np.testing.assert_array_equal(t.numpy(), before)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: m(lucid.randn(5, 2, 4)), ValueError, "3 features"),
    (lambda m: m(lucid.randn(5)), ValueError, "input must be a Tensor of shape"),
    (lambda m: m(lucid.randn(5, 2, 3), lucid.randn(1, 2, 4)), ValueError,
     r"h_0 must have shape \(2, 2, 4\)"),
    (lambda m: m(lucid.randn(5, 2, 3), lengths=[5, 6]), ValueError,
     r"lengths must lie in \[0, 5\]"),
    (lambda m: m(lucid.randn(5, 2, 3), lengths=[5]), ValueError, r"lengths must have shape \(2,\)"),
    (lambda m: m(lucid.randn(5, 2, 3), lengths=[5.0, 2.0]), TypeError, "integers"),
    (lambda m: m(lucid.randn(5, 2, 3, dtype=lucid.float64)), TypeError, "dtype"),
])
def test_bad_input_raises_clearly(call, error, match):
    gru = nn.GRU(3, 4, bidirectional=True)
    with pytest.raises(error, match=match):
        call(gru)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_size": 0, "hidden_size": 4}, "input_size"),
    ({"input_size": 3, "hidden_size": 4, "num_layers": 1.5}, "num_layers"),
    ({"input_size": 3, "hidden_size": 4, "dropout": 1.5}, "dropout"),
])
def test_bad_arguments_raise_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.LSTM(**kwargs)
