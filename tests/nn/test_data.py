"""lucid.utils.data: datasets, samplers, DataLoader and default_collate, by their definitions
and against PyTorch's batching and collation (their shuffled orders are each their own)."""

import collections

import numpy as np
import pytest

import lucid
from lucid.nn.utils.rnn import pad_sequence
from lucid.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)

Point = collections.namedtuple("Point", "x y")


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, dtype=np.float32), "y": i * i, "name": f"s{i}"}


class Stream(IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no length")
        return self.n


# ----------------------------------------------------------------------------- datasets
def test_tensor_subset_and_concat_datasets():
    ds = TensorDataset(lucid.arange(5), lucid.arange(5) * 2.0)
    assert len(ds) == 5 and [t.item() for t in ds[3]] == [3, 6.0]
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][0].item() == 4 and [s[0].item() for s in sub[[0, 1]]] == [4, 0]
    both = ConcatDataset([ds, Squares(3)])
    assert len(both) == 8 and both[5]["y"] == 0 and both[-1]["y"] == 4 and both[4][0].item() == 4
    assert len(ds + Squares(2)) == 7
    with pytest.raises(IndexError):
        both[8]
    with pytest.raises(ValueError, match="same size of dimension 0"):
        TensorDataset(lucid.zeros(3), lucid.zeros(4))
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Stream(2)])


def test_random_split_counts_fractions_and_errors():
    lucid.manual_seed(0)
    parts = random_split(range(10), [3, 7])
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    # fractions: floor each, the remainder one by one from the first (PyTorch's rule)
    assert [len(p) for p in random_split(range(10), [0.35, 0.35, 0.3])] == [4, 3, 3]
    assert [len(p) for p in random_split(range(7), [0.5, 0.5])] == [4, 3]
    for bad in ([3, 6], [0.5, 0.6], [-1, 11]):
        with pytest.raises(ValueError, match="random_split: lengths must be counts"):
            random_split(range(10), bad)


# ----------------------------------------------------------------------------- samplers
def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = lucid.Generator(0)
    assert sorted(RandomSampler(range(6), generator=g)) == list(range(6))
    many = list(RandomSampler(range(3), num_samples=7, generator=g))
    assert len(many) == 7 and sorted(many[:3]) == sorted(many[3:6]) == [0, 1, 2]
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(drawn) == 50 and set(drawn) == {0, 1, 2}
    assert sorted(SubsetRandomSampler([7, 3, 9], generator=g)) == [3, 7, 9]
    picks = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=g))
    counts = np.bincount(picks, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.4
    assert sorted(WeightedRandomSampler([1, 1, 0, 1], 3, replacement=False, generator=g)) == \
        [0, 1, 3]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, False)) == 3 and len(BatchSampler(range(5), 2, True)) == 2


@pytest.mark.parametrize("call, message", [
    (lambda: RandomSampler(range(3), num_samples=0), "num_samples must be an int >= 1"),
    (lambda: RandomSampler(range(3), replacement=1), "replacement must be True or False"),
    (lambda: WeightedRandomSampler([1.0, -1.0], 2), "finite numbers >= 0"),
    (lambda: WeightedRandomSampler([1.0, 0.0], 2, replacement=False), "cannot exceed the 1"),
    (lambda: BatchSampler(range(3), 0, False), "batch_size must be an int >= 1"),
    (lambda: SubsetRandomSampler([1], generator=0), "generator must be a lucid.Generator"),
])
def test_bad_sampler_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ------------------------------------------------------------------------------ collate
def test_default_collate_follows_the_first_sample():
    batch = default_collate([Squares(4)[i] for i in (1, 3)])
    assert batch["x"].tolist() == [[1.0, 1.0], [3.0, 3.0]] and batch["x"].dtype is lucid.float32
    assert batch["y"].tolist() == [1, 9] and batch["y"].dtype is lucid.int64
    assert batch["name"] == ["s1", "s3"]
    xs, flags = default_collate([(lucid.ones(2), True), (lucid.zeros(2), False)])
    assert xs.shape == (2, 2) and flags.dtype is lucid.bool_
    assert default_collate([1.5, 2.5]).dtype is lucid.float32  # lucid 3's default dtype
    point = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(point, Point) and point.x.tolist() == [1, 3]
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)
    assert default_collate([np.float64(1.0), np.float64(2.0)]).dtype is lucid.float64
    assert default_convert({"a": np.ones(2), "b": [np.zeros(1), "s"]})["b"][0].shape == (1,)


def test_default_collate_errors_name_the_fix():
    with pytest.raises(ValueError, match="different shapes.*pad_sequence"):
        default_collate([lucid.ones(2), lucid.ones(3)])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="pass a collate_fn"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="non-empty list of samples"):
        default_collate([])


# ---------------------------------------------------------------------------- DataLoader
def test_batches_in_order_with_drop_last_and_len():
    ds = TensorDataset(lucid.arange(7), lucid.arange(7) * 10)
    loader = DataLoader(ds, batch_size=3)
    assert len(loader) == 3
    assert [y.tolist() for _, y in loader] == [[0, 10, 20], [30, 40, 50], [60]]
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 2
    assert [x.tolist() for x, _ in DataLoader(ds, batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    unbatched = list(DataLoader(Squares(2), batch_size=None))
    assert unbatched[1]["x"].tolist() == [1.0, 1.0] and unbatched[1]["y"] == 1


def test_sampler_batch_sampler_and_collate_fn():
    ds = list(range(10))
    assert [b.tolist() for b in DataLoader(ds, sampler=[9, 8, 7], batch_size=2)] == [[9, 8], [7]]
    assert [b.tolist() for b in DataLoader(ds, batch_sampler=[[1, 2, 3], [0]])] == \
        [[1, 2, 3], [0]]
    seqs = [lucid.ones(n) * n for n in (1, 3, 2)]

    def pad(batch):
        return pad_sequence(batch, batch_first=True), lucid.tensor([len(s) for s in batch])

    (padded, lengths), = list(DataLoader(seqs, batch_size=3, collate_fn=pad))
    assert padded.tolist() == [[1, 0, 0], [3, 3, 3], [2, 2, 0]] and lengths.tolist() == [1, 3, 2]


def test_iterable_datasets():
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert len(DataLoader(Stream(5), batch_size=2, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2, drop_last=True)] == \
        [[0, 1], [2, 3]]
    with pytest.raises(TypeError):
        len(DataLoader(Stream(5, with_len=False), batch_size=2))
    with pytest.raises(ValueError, match="gives its own order"):
        DataLoader(Stream(3), shuffle=True)


def test_shuffled_epochs_cover_the_dataset_and_follow_the_generator():
    ds = list(range(11))
    g = lucid.Generator(3)
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=g)
    epoch = [i for b in loader for i in b.tolist()]
    assert sorted(epoch) == ds and epoch != ds
    g.manual_seed(3)
    assert [i for b in loader for i in b.tolist()] == epoch


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_workers=2), "num_workers must be 0"),
    (dict(batch_size=0), "batch_size must be an int >= 1 or None"),
    (dict(shuffle=True, sampler=[0]), "sampler and shuffle exclude each other"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler excludes"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler excludes"),
    (dict(collate_fn=3), "collate_fn must be callable"),
])
def test_bad_loader_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DataLoader(list(range(4)), **kwargs)


def test_batching_and_collation_match_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils import data as tdata

    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    y = np.arange(8)
    ours = DataLoader(TensorDataset(lucid.tensor(x), lucid.tensor(y)), batch_size=3)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)),
                              batch_size=3)
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
    samples = [Squares(5)[i] for i in range(5)]
    for a, b in zip(DataLoader(samples, batch_size=2, drop_last=True),
                    tdata.DataLoader(samples, batch_size=2, drop_last=True)):
        assert a.keys() == b.keys() and a["name"] == b["name"]
        for key in ("x", "y"):
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
            assert a[key].numpy().dtype == b[key].numpy().dtype
    # where PyTorch differs on purpose (docs/coming_from.rst): floats, and tuples of fields
    assert tdata.default_collate([1.5]).dtype == torch.float64
    assert isinstance(tdata.default_collate([(1, 2)]), list)
