"""The learner-facing tensor surface: comparisons, hashing, masks, constructors, devices,
Python conversions, factories and grad-mode helpers."""

import numpy as np
import pytest

import lucid


# --------------------------------------------------------------------------- comparisons
def test_comparisons_return_bool_tensors():
    t = lucid.tensor([1.0, 2.0, 3.0])
    assert (t == 1.0).tolist() == [True, False, False]
    assert (t != 1.0).tolist() == [False, True, True]
    assert (t == t).tolist() == [True, True, True]
    assert (t > 1.5).dtype is lucid.bool_
    assert (t >= 2).tolist() == [False, True, True]
    assert (t < lucid.tensor([2.0, 2.0, 2.0])).tolist() == [True, False, False]
    assert (2.0 <= t).tolist() == [False, True, True]  # reflected through __ge__
    assert ((t > 1) & (t < 3)).tolist() == [False, True, False]
    assert (~(t > 1)).tolist() == [True, False, False]


def test_tensors_hash_by_identity_and_work_in_sets_and_dicts():
    a, b = lucid.tensor([1.0]), lucid.tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2


def test_boolean_mask_indexing_and_gradient():
    t = lucid.tensor([[1.0, 7.0], [9.0, 3.0]], requires_grad=True)
    picked = t[t > 5]
    assert picked.tolist() == [7.0, 9.0]
    picked.sum().backward()
    assert t.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_setitem_writes_in_place_outside_the_graph():
    t = lucid.zeros(3)
    t[1] = 5.0
    t[t == 0] = 2.0
    assert t.tolist() == [2.0, 5.0, 2.0]
    w = lucid.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[0] = 1.0
    with lucid.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0]


def test_float_index_tensor_is_refused():
    with pytest.raises(IndexError, match="long, int or bool"):
        lucid.zeros(3)[lucid.tensor([0.0])]


# ------------------------------------------------------------------------ construction
def test_tensor_constructor_accepts_data_like_lucid():
    t = lucid.Tensor([[1., 2.], [3., 4.]])
    assert t.shape == (2, 2) and t.dtype is lucid.float32
    assert (t * 2).tolist() == [[2.0, 4.0], [6.0, 8.0]]
    assert lucid.Tensor([1, 2]).dtype is lucid.int64
    assert lucid.Tensor(3.0, requires_grad=True).requires_grad
    assert lucid.Tensor([1, 2], dtype=lucid.float64).dtype is lucid.float64


def test_python_conversions_of_one_element_tensors():
    loss = lucid.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235"
    assert float(loss) == pytest.approx(0.123456) and int(lucid.tensor(3)) == 3
    assert bool(lucid.tensor(1.0)) and not bool(lucid.tensor([0]))
    assert [1, 2, 3][lucid.tensor(1)] == 2
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(lucid.tensor([1.0, 2.0]))
    assert lucid.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert [x.item() for x in lucid.tensor([4, 5])] == [4, 5]


def test_devices():
    assert lucid.tensor([1.0]).device == lucid.device("cpu")
    m = lucid.zeros(2, device="metal")
    assert m.device.type == "metal" and m.is_metal and str(m.device) == "metal"
    assert m.cpu().device.type == "cpu" and m.cpu().metal().device == "metal"
    assert lucid.device("metal:0") == lucid.device("gpu")
    with pytest.raises(ValueError, match="'cpu' or 'metal'"):
        lucid.device("cuda")
    with pytest.raises(ValueError, match="'cpu' or 'metal'"):
        lucid.zeros(2).to("cuda")


def test_requires_grad_data_and_clone():
    x = lucid.zeros(2).requires_grad_()
    assert x.requires_grad
    y = x * 2
    assert not y.data.requires_grad and y.data.grad_fn is None
    c = x.clone()
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    c.data = lucid.ones(2)
    assert c.tolist() == [1.0, 1.0]


# -------------------------------------------------------------------------- factories
def test_factories():
    lucid.manual_seed(0)
    assert lucid.full((2, 3), 1.5).tolist() == [[1.5] * 3] * 2
    assert lucid.full((2,), 1.5).dtype is lucid.float32
    assert lucid.eye(3).numpy().trace() == 3 and lucid.eye(2, 3).shape == (2, 3)
    assert lucid.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    r = lucid.rand(1000)
    assert r.dtype is lucid.float32 and 0 <= r.min().item() and r.max().item() < 1
    ri = lucid.randint(0, 10, (50,))
    assert ri.dtype is lucid.int64 and set(ri.tolist()) <= set(range(10))
    assert lucid.randint(5, (3,)).max().item() < 5
    assert lucid.empty(2, 3).shape == (2, 3)
    base = lucid.zeros(2, 3, dtype=lucid.float64, device="metal")
    for like in (lucid.zeros_like(base), lucid.ones_like(base), lucid.full_like(base, 7),
                 lucid.randn_like(base), lucid.rand_like(base), lucid.empty_like(base)):
        assert like.shape == (2, 3) and like.dtype is lucid.float64 and like.device == "metal"
    assert lucid.ones_like(base).sum().item() == 6
    assert lucid.full_like(base, 7).tolist()[0] == [7.0] * 3


def test_from_numpy_shares_memory_and_as_tensor_avoids_copies():
    a = np.arange(3.0)
    t = lucid.from_numpy(a)
    a[0] = 9
    assert t.tolist()[0] == 9 and t.dtype is lucid.float64
    assert lucid.as_tensor(t) is t
    assert lucid.as_tensor(a).numpy() is a
    assert lucid.as_tensor([1, 2]).dtype is lucid.int64


def test_free_functions_match_methods():
    x = lucid.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert lucid.sum(x, dim=1).tolist() == x.sum(1).tolist()
    assert lucid.exp(x).tolist() == x.exp().tolist()
    assert lucid.abs(x).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert lucid.maximum(x, 0.0).tolist() == [[1.0, 0.0], [3.0, 4.0]]
    assert lucid.clamp(x, max=2).tolist() == [[1.0, -2.0], [2.0, 2.0]]
    assert lucid.cat([x, x]).shape == (4, 2) and lucid.stack([x, x], -1).shape == (2, 2, 2)
    assert lucid.where(x > 0, x, lucid.zeros_like(x)).tolist() == [[1.0, 0.0], [3.0, 4.0]]


def test_join_errors():
    with pytest.raises(ValueError, match="sizes must match"):
        lucid.cat([lucid.zeros(2, 3), lucid.zeros(2, 2)])
    with pytest.raises(ValueError, match="equal size"):
        lucid.stack([lucid.zeros(2), lucid.zeros(3)])
    with pytest.raises(TypeError, match="list or tuple"):
        lucid.cat(lucid.zeros(2))


# -------------------------------------------------------------------------- grad mode
def test_enable_grad_and_set_grad_enabled():
    x = lucid.ones(1, requires_grad=True)
    with lucid.no_grad():
        assert not (x * 2).requires_grad
        with lucid.enable_grad():
            assert (x * 2).requires_grad
    with lucid.set_grad_enabled(False):
        assert not lucid.is_grad_enabled()
    assert lucid.is_grad_enabled()
    lucid.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        lucid.set_grad_enabled(True)

    @lucid.set_grad_enabled(False)
    def frozen():
        return x * 2

    assert lucid.is_grad_enabled() and not frozen().requires_grad and lucid.is_grad_enabled()

    @lucid.enable_grad()
    def tracked():
        return x * 2

    with lucid.no_grad():
        assert tracked().requires_grad
