"""lucid.nn.utils.rnn: padding and packing against a plain reference and PyTorch, round trips,
gradients through them, and GRU/LSTM on packed batches against PyTorch with the same weights."""

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

rng = np.random.default_rng(5)
LENGTHS = [[4, 4, 2, 1], [1, 3, 3, 2, 5], [2]]  # sorted (with a tie), unsorted, one sequence


def sequences(lengths, features=3):
    return [rng.normal(size=(n, features)) for n in lengths]


def reference_packed(seqs):
    """data, batch_sizes, order by the definition: longest first (ties in batch order), then
    step by step the frames of every sequence still running."""
    order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i]), i))
    steps = max(len(s) for s in seqs)
    rows = [seqs[i][t] for t in range(steps) for i in order if t < len(seqs[i])]
    sizes = [sum(len(s) > t for s in seqs) for t in range(steps)]
    return np.array(rows), sizes, order


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_pack_and_back(lengths, batch_first):
    seqs = sequences(lengths)
    padded = pad_sequence([lucid.tensor(s) for s in seqs], batch_first=batch_first,
                          padding_value=-1.0)
    T, N = max(lengths), len(lengths)
    want = np.full((N, T, 3), -1.0)
    for n, s in enumerate(seqs):
        want[n, :len(s)] = s
    np.testing.assert_array_equal(padded.numpy(), want if batch_first else want.swapaxes(0, 1))

    sorted_ = list(lengths) == sorted(lengths, reverse=True)
    packed = pack_padded_sequence(padded, lengths, batch_first, enforce_sorted=sorted_)
    data, sizes, order = reference_packed(seqs)
    np.testing.assert_array_equal(packed.data.numpy(), data)
    assert packed.batch_sizes.tolist() == sizes and packed.batch_sizes.dtype is lucid.int64
    if sorted_:
        assert packed.sorted_indices is None and packed.unsorted_indices is None
    else:
        assert packed.sorted_indices.tolist() == order
        assert packed.sorted_indices.numpy()[packed.unsorted_indices.numpy()].tolist() == \
            list(range(N))

    again, got_lengths = pad_packed_sequence(packed, batch_first, padding_value=-1.0)
    np.testing.assert_array_equal(again.numpy(), padded.numpy())
    assert got_lengths.tolist() == list(lengths)
    longer, _ = pad_packed_sequence(packed, batch_first, total_length=T + 2)
    assert longer.shape[1 if batch_first else 0] == T + 2
    same = pack_sequence([lucid.tensor(s) for s in seqs], enforce_sorted=sorted_)
    np.testing.assert_array_equal(same.data.numpy(), packed.data.numpy())


def test_left_padding():
    padded = pad_sequence([lucid.tensor([1, 2, 3]), lucid.tensor([4])], batch_first=True,
                          padding_side="left")
    assert padded.tolist() == [[1, 2, 3], [0, 0, 4]]


def test_gradients_flow_through_padding_and_packing():
    seqs = [lucid.tensor(s, requires_grad=True) for s in sequences([2, 5, 3])]
    packed = pack_sequence(seqs, enforce_sorted=False)
    padded, _ = pad_packed_sequence(packed, batch_first=True)
    weight = rng.normal(size=padded.shape)
    (padded * lucid.tensor(weight)).sum().backward()
    for n, s in enumerate(seqs):  # each frame gets the weight of its padded position
        np.testing.assert_array_equal(s.grad.numpy(), weight[n, :s.shape[0]])


@pytest.mark.parametrize("call, error, message", [
    (lambda: pack_padded_sequence(lucid.zeros(3, 2), [3, 3, 1]), ValueError, "2 integers"),
    (lambda: pack_padded_sequence(lucid.zeros(3, 2), [1, 3]), ValueError,
     "sorted in decreasing order when enforce_sorted=True"),
    (lambda: pack_padded_sequence(lucid.zeros(3, 2), [3, 0], enforce_sorted=False), ValueError,
     r"every length must lie in \[1, 3\]"),
    (lambda: pack_padded_sequence(lucid.zeros(3, 2), [4, 1]), ValueError, r"in \[1, 3\]"),
    (lambda: pad_sequence(lucid.zeros(2, 2)), TypeError, "non-empty list of tensors"),
    (lambda: pad_sequence([lucid.zeros(2, 2), lucid.zeros(2, 3)]), ValueError, "trailing"),
    (lambda: pad_sequence([lucid.zeros(2)], padding_side="top"), ValueError, "padding_side"),
    (lambda: pad_packed_sequence(pack_sequence([lucid.zeros(3)]), total_length=2), ValueError,
     "total_length must be at least 3"),
    (lambda: pad_packed_sequence(lucid.zeros(3)), TypeError, "must be a PackedSequence"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("lengths", LENGTHS)
def test_packing_matches_pytorch(torch, lengths):
    from torch.nn.utils import rnn as trnn

    seqs = sequences(lengths)
    sorted_ = list(lengths) == sorted(lengths, reverse=True)
    ours = pack_sequence([lucid.tensor(s) for s in seqs], enforce_sorted=sorted_)
    theirs = trnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=sorted_)
    for a, b in zip(ours, theirs):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded, lens = pad_packed_sequence(ours, batch_first=True, total_length=6)
    tpadded, tlens = trnn.pad_packed_sequence(theirs, batch_first=True, total_length=6)
    np.testing.assert_array_equal(padded.numpy(), tpadded.numpy())
    np.testing.assert_array_equal(lens.numpy(), tlens.numpy())
    np.testing.assert_array_equal(
        pad_sequence([lucid.tensor(s) for s in seqs], padding_value=2.5).numpy(),
        trnn.pad_sequence([torch.tensor(s) for s in seqs], padding_value=2.5).numpy())


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("bidirectional, batch_first", [(False, False), (True, True),
                                                        (True, False)])
def test_recurrent_layers_on_packed_input_match_pytorch(torch, kind, bidirectional,
                                                        batch_first):
    from torch.nn.utils import rnn as trnn

    lucid.manual_seed(1)
    ours = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=bidirectional,
                             batch_first=batch_first, dtype=lucid.float64)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=bidirectional,
                                     batch_first=batch_first)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    seqs = sequences([2, 5, 3, 5])
    states = [rng.normal(size=(2 * (1 + bidirectional), 4, 4))
              for _ in range(1 if kind == "GRU" else 2)]
    lseqs = [lucid.tensor(s, requires_grad=True) for s in seqs]
    tseqs = [torch.tensor(s, requires_grad=True) for s in seqs]
    lstates = [lucid.tensor(s, requires_grad=True) for s in states]
    tstates = [torch.tensor(s, requires_grad=True) for s in states]
    lpacked = pack_sequence(lseqs, enforce_sorted=False)
    tpacked = trnn.pack_sequence(tseqs, enforce_sorted=False)
    if kind == "GRU":
        (lout, lh), (tout, th) = ours(lpacked, lstates[0]), theirs(tpacked, tstates[0])
        lfinal, tfinal = [lh], [th]
    else:
        lout, lfinal = ours(lpacked, tuple(lstates))
        tout, tfinal = theirs(tpacked, tuple(tstates))
    assert isinstance(lout, PackedSequence)
    np.testing.assert_array_equal(lout.batch_sizes.numpy(), tout.batch_sizes.numpy())
    np.testing.assert_array_equal(lout.sorted_indices.numpy(), tout.sorted_indices.numpy())
    outputs = [(lout.data, tout.data)] + list(zip(lfinal, tfinal))
    for a, b in outputs:
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = [rng.normal(size=b.shape) for _, b in outputs]
    sum((a * lucid.tensor(w)).sum() for (a, _), w in zip(outputs, weights)).backward()
    sum((b * torch.tensor(w)).sum() for (_, b), w in zip(outputs, weights)).backward()
    for a, b in zip(lseqs + lstates, tseqs + tstates):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)


def test_packed_input_equals_the_lengths_path_and_refuses_lengths_too():
    lucid.manual_seed(2)
    gru = nn.GRU(3, 4, bidirectional=True)
    seqs = [lucid.tensor(s, dtype=lucid.float32) for s in sequences([3, 1, 4])]
    out, h = gru(pack_sequence(seqs, enforce_sorted=False))
    padded_out, lengths = pad_packed_sequence(out)
    want, want_h = gru(pad_sequence(seqs), lengths=[3, 1, 4])
    np.testing.assert_allclose(padded_out.numpy(), want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(h.numpy(), want_h.numpy(), rtol=1e-6)
    assert lengths.tolist() == [3, 1, 4]
    with pytest.raises(ValueError, match="carries its own lengths"):
        gru(pack_sequence(seqs, enforce_sorted=False), lengths=[3, 1, 4])
