"""lucid.topk / Tensor.topk: values and indices against a brute-force reference and PyTorch,
ties in order of position, NaN as the largest value, the gradient by central differences."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients

import lucid

rng = np.random.default_rng(11)


def reference(x, k, axis, largest):
    """Per line along ``axis``: positions sorted by (value, position), NaN largest, by brute
    force over Python tuples."""
    moved = np.moveaxis(x, axis, -1)
    idx = np.empty(moved.shape[:-1] + (k,), dtype=np.int64)
    for line in np.ndindex(moved.shape[:-1]):
        row = moved[line]

        def key(i, row=row):
            v = row[i]
            rank = (1, 0.0) if np.isnan(v) else (0, float(v))
            return (tuple(-r for r in rank), i) if largest else (rank, i)

        idx[line] = sorted(range(len(row)), key=key)[:k]
    idx = np.moveaxis(idx, -1, axis)
    return np.take_along_axis(x, idx, axis=axis), idx


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_values_and_indices_match_the_reference_ties_and_nan_included(largest, dim, dtype):
    x = rng.integers(0, 4, size=(5, 6)).astype(dtype)  # many ties
    if dtype != np.int64:
        x[1, 2] = x[3, 0] = np.nan
    for k in (0, 1, 3, x.shape[dim]):
        values, indices = lucid.topk(lucid.tensor(x), k, dim=dim, largest=largest)
        want_values, want_indices = reference(x, k, dim % 2, largest)
        np.testing.assert_array_equal(indices.numpy(), want_indices)
        np.testing.assert_array_equal(values.numpy(), want_values)
        assert values.dtype == lucid.tensor(x).dtype and indices.dtype is lucid.int64


def test_method_and_function_agree_and_zero_d_tensors():
    x = lucid.tensor([[3.0, 1.0], [2.0, 5.0]])
    v1, i1 = x.topk(1, dim=0)
    v2, i2 = lucid.topk(x, 1, 0)
    assert v1.tolist() == v2.tolist() == [[3.0, 5.0]] and i1.tolist() == i2.tolist() == [[0, 1]]
    v, i = lucid.tensor(4.0).topk(1)
    assert v.shape == () and v.item() == 4.0 and i.item() == 0
    assert x.topk(2, sorted=False).values.tolist() == [[3.0, 1.0], [5.0, 2.0]]


def test_bad_arguments():
    x = lucid.zeros(2, 3)
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 3\]"):
        x.topk(4)
    with pytest.raises(ValueError, match="k must be"):
        x.topk(-1)
    with pytest.raises(IndexError, match="dimension out of range"):
        x.topk(1, dim=2)


def test_gradient_goes_to_the_picked_positions():
    x = rng.normal(size=(3, 5))  # distinct values: the picked positions are stable under eps
    for largest in (True, False):
        check_gradients(lambda t, largest=largest: t.topk(2, dim=1, largest=largest).values, x)
        check_gradients(lambda t, largest=largest: t.topk(3, dim=0, largest=largest).values, x)


@pytest.mark.parametrize("largest", [True, False])
def test_matches_pytorch(largest):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(4, 7)).astype(np.float32)  # no ties: indices are determined
    for dim, k in ((1, 3), (0, 2), (-1, 7)):
        v, i = lucid.topk(lucid.tensor(x), k, dim=dim, largest=largest)
        tv, ti = torch.topk(torch.tensor(x), k, dim=dim, largest=largest)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    # with ties and NaN, PyTorch's order of equal values is its own; the values agree and its
    # indices point at values equal to ours
    x = rng.integers(0, 3, size=(4, 9)).astype(np.float32)
    x[0, 4] = np.nan
    v, _ = lucid.topk(lucid.tensor(x), 4, largest=largest)
    tv, ti = torch.topk(torch.tensor(x), 4, largest=largest)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(np.take_along_axis(x, ti.numpy(), 1), v.numpy())
