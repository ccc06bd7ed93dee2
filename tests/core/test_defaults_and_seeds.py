"""The default dtype and device, and the seed that governs every random op: the same seed gives
the same draws, masks, shuffles and splits, another seed others; generators are independent."""

import io

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid.nn.functional import dropout
from lucid.utils.data import DataLoader, RandomSampler, TensorDataset, random_split


@pytest.fixture
def default_dtype():
    yield
    lucid.set_default_dtype(lucid.float32)


@pytest.fixture
def default_device():
    yield
    lucid.set_default_device("cpu")


# --------------------------------------------------------------------------- default dtype
def test_the_default_dtype_reaches_factories_floats_promotion_and_layers(default_dtype):
    assert lucid.get_default_dtype() is lucid.float32
    lucid.set_default_dtype(lucid.float64)
    assert lucid.get_default_dtype() is lucid.float64
    made = [lucid.tensor([1.5]), lucid.zeros(2), lucid.ones(2), lucid.empty(1), lucid.eye(2),
            lucid.full((2,), 0.5), lucid.arange(0.0, 1.0, 0.5), lucid.linspace(0, 1, 3),
            lucid.randn(2), lucid.rand(2), lucid.tensor([1, 2]) / 2, lucid.tensor([1]) + 0.5,
            lucid.tensor([1, 3]).mean()]
    assert [t.dtype for t in made] == [lucid.float64] * len(made)
    assert lucid.tensor([1, 2]).dtype is lucid.int64 and lucid.arange(3).dtype is lucid.int64
    for layer in (nn.Linear(2, 3), nn.GRU(2, 3), nn.Conv1d(2, 3, 1), nn.LayerNorm(2),
                  nn.Embedding(4, 2)):
        assert {p.dtype for p in layer.parameters()} == {lucid.float64}, layer
    kept = lucid.zeros(1, dtype=lucid.float32)
    lucid.set_default_dtype("float32")  # names work too
    assert lucid.zeros(1).dtype is lucid.float32 and kept.dtype is lucid.float32


def test_only_floating_dtypes_can_be_the_default(default_dtype):
    with pytest.raises(TypeError, match="only floating-point dtypes.*got lucid.int64"):
        lucid.set_default_dtype(lucid.int64)
    with pytest.raises(TypeError, match="dtype: expected one of"):
        lucid.set_default_dtype("complex")
    assert lucid.get_default_dtype() is lucid.float32


# -------------------------------------------------------------------------- default device
def test_the_default_device_tags_new_tensors_and_layers(default_device):
    assert lucid.get_default_device() == "cpu"
    before = lucid.zeros(1)
    lucid.set_default_device("metal")
    assert lucid.get_default_device() == "metal"
    made = [lucid.zeros(1), lucid.randn(2), lucid.tensor([1.0]), lucid.Tensor([1.0]),
            nn.Linear(2, 1).weight, lucid.arange(3)]
    assert all(t.device == "metal" for t in made)
    assert before.device == "cpu" and lucid.zeros(1, device="cpu").device == "cpu"
    assert (lucid.zeros(1) + 1).device == "metal"
    lucid.set_default_device(lucid.device("cpu"))
    assert lucid.zeros(1).device == "cpu"


def test_a_bad_default_device_is_refused(default_device):
    with pytest.raises(ValueError, match="expected 'cpu' or 'metal'"):
        lucid.set_default_device("cuda")
    with pytest.raises(TypeError, match="expected a lucid.device or a str"):
        lucid.set_default_device(0)
    assert lucid.get_default_device() == "cpu"


# -------------------------------------------------------------------------------- seeds
def draws():
    """One of every random op, as plain Python values."""
    ds = TensorDataset(lucid.arange(10))
    mask = dropout(lucid.ones(50), 0.5).numpy() > 0
    return {
        "randn": lucid.randn(4).tolist(), "rand": lucid.rand(4).tolist(),
        "randint": lucid.randint(0, 100, (4,)).tolist(), "randperm": lucid.randperm(8).tolist(),
        "dropout": mask.tolist(), "init": nn.Linear(3, 2).weight.tolist(),
        "sampler": list(RandomSampler(range(10))),
        "loader": [b[0].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True)],
        "split": [s.indices for s in random_split(ds, [6, 4])],
    }


def test_the_same_seed_repeats_every_random_op_and_another_changes_each():
    lucid.manual_seed(123)
    first = draws()
    lucid.manual_seed(123)
    assert draws() == first
    lucid.manual_seed(124)
    other = draws()
    assert all(other[name] != first[name] for name in first), \
        [name for name in first if other[name] == first[name]]


def test_each_epoch_of_a_shuffling_loader_is_a_new_order():
    lucid.manual_seed(0)
    loader = DataLoader(list(range(20)), batch_size=20, shuffle=True)
    epochs = [next(iter(loader)).tolist() for _ in range(3)]
    assert all(sorted(e) == list(range(20)) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3


def test_the_stream_is_numpys_default_rng_of_the_seed():
    lucid.manual_seed(5)
    expected = np.random.default_rng(5).standard_normal(3).astype(np.float32)
    np.testing.assert_array_equal(lucid.randn(3).numpy(), expected)


def test_seed_and_initial_seed():
    lucid.manual_seed(42)
    assert lucid.initial_seed() == 42
    s = lucid.seed()
    assert isinstance(s, int) and 0 <= s < 2**63 and lucid.initial_seed() == s
    a = lucid.rand(3).tolist()
    lucid.manual_seed(s)
    assert lucid.rand(3).tolist() == a
    for bad in (-1, 2**64, 1.5, "7", True):
        with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\)"):
            lucid.manual_seed(bad)


def test_a_generator_is_independent_of_the_default_one():
    lucid.manual_seed(1)
    expected = lucid.rand(3).tolist()
    lucid.manual_seed(1)
    g = lucid.Generator(99)
    from_g = [lucid.randn(2, generator=g).tolist(), list(RandomSampler(range(6), generator=g)),
              lucid.randperm(5, generator=g).tolist(), lucid.randint(0, 9, (3,), generator=g)
              .tolist()]
    assert lucid.rand(3).tolist() == expected  # the default stream did not move
    g.manual_seed(99)
    assert lucid.randn(2, generator=g).tolist() == from_g[0]
    assert g.initial_seed() == 99 and lucid.Generator(3).initial_seed() == 3
    with pytest.raises(TypeError, match="generator must be a lucid.Generator or None, got int"):
        lucid.randn(2, generator=3)
    with pytest.raises(TypeError, match="generator must be a lucid.Generator"):
        DataLoader([1, 2], shuffle=True, generator=np.random.default_rng(0))


def test_the_generator_state_round_trips_through_a_checkpoint():
    lucid.manual_seed(8)
    lucid.rand(5)
    buffer = io.BytesIO()
    lucid.save({"rng": lucid.get_rng_state()}, buffer)
    after = [lucid.rand(4).tolist(), dropout(lucid.ones(20), 0.5).tolist()]
    buffer.seek(0)
    lucid.set_rng_state(lucid.load(buffer)["rng"])
    assert [lucid.rand(4).tolist(), dropout(lucid.ones(20), 0.5).tolist()] == after
    g = lucid.Generator(4)
    g.numpy().random(3)  # a half-used 64-bit draw leaves state in has_uint32/uinteger too
    g.numpy().integers(0, 2**31, dtype=np.uint32)
    state = g.get_state()
    want = g.numpy().random(5)
    g.set_state(state)
    np.testing.assert_array_equal(g.numpy().random(5), want)
    with pytest.raises(ValueError, match="expected 6 int64 values"):
        g.set_state(np.zeros(5, dtype=np.int64))
