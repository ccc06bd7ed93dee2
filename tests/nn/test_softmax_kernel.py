"""The row kernels of lucid/_C/_softmax.pyx against float64 references, entry by entry.

The float32 bounds follow the kernel's numerics (its design note, b.):
- forward: out = x - lse. The exps are float32 (within one float ulp, 2^-23 relative, each)
  and summed in double, so the row's lse is off by less than 2^-23; the final subtraction,
  done in float32 with lse split in two floats, is within one float ulp of x - lse. So
  |out - ref| <= ulp(ref) + 2^-23 (a sum of the exps in float32 already breaks this).
- backward: grad_in = g - exp(out) * sum(g). The exp adds at most 2^-23 of
  exp(out) * |sum(g)|, the sum's rounding to float32 2^-24 more, the result is rounded once
  more: |grad_in - ref| <= ulp(ref) + 2^-22 exp(out) |sum(g)| (a float32 sum breaks it).
Rows are long (up to 8,000 classes), of many kinds, and not multiples of the kernel's chunk,
so every path of the kernels (the next-row prefetch, the last row, the tails) is exercised;
short rows (fewer than 128 classes) go through the forward 16 at a time, so their row counts
give full and partial blocks.
"""

import numpy as np
import pytest

from lucid._C import _softmax

F32 = np.float32


def ulp32(v):
    """The spacing of float32 numbers at |v| (v in float64)."""
    return np.spacing(np.abs(v).astype(F32)).astype(np.float64)


def reference_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))


def row_kinds(rows, C, seed):
    """Logits as networks produce them: spread, flat, peaked on one class, large and shifted."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, C)) * rng.choice([0.01, 1.0, 3.0, 30.0], size=(rows, 1))
    x[::5, rng.integers(C)] += 40.0  # one class at probability ~1: out near 0 there
    x[1::7] += 1000.0
    x[2::7] -= 1000.0
    return x


@pytest.mark.parametrize("rows, C", [(1, 1), (3, 2), (7, 37), (33, 28), (16, 80), (50, 127),
                                     (40, 255), (33, 1024), (9, 8000)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_float32_forward_within_one_ulp_of_float64(rows, C, n_threads):
    x = row_kinds(rows, C, seed=C).astype(F32)
    out = np.empty_like(x)
    _softmax.log_softmax_rows(x, out, n_threads)
    want = reference_log_softmax(x)
    err = np.abs(out - want)
    assert np.all(err <= ulp32(want) + 2.0**-23), err.max()


@pytest.mark.parametrize("rows, C", [(3, 2), (33, 28), (40, 255), (9, 8000)])
def test_float64_forward_to_double_rounding(rows, C):
    x = row_kinds(rows, C, seed=1)
    out = np.empty_like(x)
    _softmax.log_softmax_rows(x, out, 2)
    want = reference_log_softmax(x)
    np.testing.assert_allclose(out, want, rtol=1e-14, atol=1e-13)


@pytest.mark.parametrize("rows, C", [(3, 2), (7, 37), (33, 1024), (9, 8000)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_float32_backward_within_float_rounding(rows, C, n_threads):
    rng = np.random.default_rng(C)
    out = np.empty((rows, C), F32)
    _softmax.log_softmax_rows(row_kinds(rows, C, seed=C).astype(F32), out, 1)
    g = (rng.standard_normal((rows, C)) * rng.choice([1e-3, 1.0, 1e3], size=(rows, 1))).astype(F32)
    grad = np.empty_like(out)
    _softmax.log_softmax_backward_rows(g, out, grad, n_threads)
    p, total = np.exp(out.astype(np.float64)), g.astype(np.float64).sum(axis=1, keepdims=True)
    want = g - p * total
    err = np.abs(grad - want)
    assert np.all(err <= ulp32(want) + 2.0**-22 * p * np.abs(total)), err.max()


def test_float64_backward_to_double_rounding():
    rng = np.random.default_rng(2)
    out = np.empty((9, 8000))
    _softmax.log_softmax_rows(row_kinds(9, 8000, seed=2), out, 1)
    g = rng.standard_normal(out.shape)
    grad = np.empty_like(out)
    _softmax.log_softmax_backward_rows(g, out, grad, 2)
    want = g - np.exp(out) * g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [F32, np.float64])
def test_results_do_not_depend_on_the_thread_count(dtype):
    x = row_kinds(300, 1000, seed=3).astype(dtype)  # above the size where a second thread starts
    one, two = np.empty_like(x), np.empty_like(x)
    _softmax.log_softmax_rows(x, one, 1)
    _softmax.log_softmax_rows(x, two, 2)
    np.testing.assert_array_equal(one, two)
    g = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    _softmax.log_softmax_backward_rows(g, one, x, 1)
    _softmax.log_softmax_backward_rows(g, one, two, 2)
    np.testing.assert_array_equal(x, two)


@pytest.mark.parametrize("C", [5, 28, 80, 127, 128, 300])
@pytest.mark.parametrize("dtype", [F32, np.float64])
def test_a_row_does_not_depend_on_the_rows_around_it(C, dtype):
    # short rows share vector lanes with their neighbours: one at a time, or among rows that
    # are all -inf, NaN or huge, each must come out exactly as in one call over all of them
    x = row_kinds(37, C, seed=C).astype(dtype)
    x[3] = -np.inf
    x[20, 1] = np.nan
    x[21] = 3e38 if dtype == F32 else 1e308
    together = np.empty_like(x)
    _softmax.log_softmax_rows(x, together, 1)
    for r in range(len(x)):
        alone = np.empty_like(x[r:r + 1])
        _softmax.log_softmax_rows(x[r:r + 1], alone, 1)
        np.testing.assert_array_equal(alone[0], together[r])


@pytest.mark.parametrize("C", [3, 130])  # a short-row block and a row of its own
@pytest.mark.parametrize("dtype", [F32, np.float64])
def test_special_rows(C, dtype):
    x = np.zeros((8, C), dtype)
    x[0] = np.arange(C) % 7
    x[1] = -np.inf
    x[2, 0] = np.inf
    x[3, 0] = np.nan
    x[4, 1] = np.nan
    x[5] = np.nan  # NaN only
    x[6] = -np.inf  # NaN among impossible classes: the maximum skips it
    x[6, C - 1] = np.nan
    x[7] = -np.inf
    x[7, 1] = 0.0
    out = np.empty_like(x)
    _softmax.log_softmax_rows(x, out, 1)
    np.testing.assert_allclose(out[0], reference_log_softmax(x[:1])[0], rtol=1e-6)
    assert np.all(out[1] == -np.inf)  # every class impossible
    assert np.all(np.isnan(out[2:7]))  # +inf or NaN anywhere: the whole row is NaN
    assert np.all(np.delete(out[7], 1) == -np.inf) and out[7, 1] == 0.0
