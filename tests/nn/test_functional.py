"""log_softmax and softmax: values against a float64 reference, stability, dtypes, gradients."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lucid
from lucid.nn.functional import log_softmax, softmax


def reference_log_softmax(x, axis):
    """Straight from the definition, in float64 (only for moderate logits)."""
    x = np.asarray(x, dtype=np.float64)
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def logits(*shape, seed=0, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


CASES = [((5,), None), ((5,), 0), ((3, 5), None), ((3, 5), 0), ((3, 5), 1), ((3, 5), -2),
         ((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)]


@pytest.mark.parametrize("shape, dim", CASES)
@pytest.mark.parametrize("dtype, rtol", [(lucid.float64, 1e-12), (lucid.float32, 1e-5)])
def test_log_softmax_matches_float64_reference(shape, dim, dtype, rtol):
    x = logits(*shape)
    axis = -1 if dim is None else dim
    want = reference_log_softmax(x.astype(dtype.np_dtype), axis)
    got = log_softmax(lucid.tensor(x, dtype=dtype), dim=dim)
    assert got.dtype is dtype and got.shape == shape
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("shape, dim", CASES)
def test_softmax_matches_float64_reference(shape, dim):
    x = logits(*shape)
    axis = -1 if dim is None else dim
    got = softmax(lucid.tensor(x), dim=dim).numpy()
    np.testing.assert_allclose(got, np.exp(reference_log_softmax(x, axis)), rtol=1e-12)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-12)


def test_dim_none_is_the_last_axis():
    x = lucid.tensor(logits(2, 3, 4))
    np.testing.assert_array_equal(log_softmax(x).numpy(), log_softmax(x, dim=-1).numpy())
    np.testing.assert_array_equal(log_softmax(x).numpy(), log_softmax(x, dim=2).numpy())
    np.testing.assert_array_equal(softmax(x).numpy(), softmax(x, dim=2).numpy())


def test_non_contiguous_input():
    x = logits(4, 6)
    t = lucid.tensor(x).transpose(0, 1)  # a strided view
    np.testing.assert_allclose(log_softmax(t, dim=1).numpy(), reference_log_softmax(x.T, 1),
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", [lucid.float32, lucid.float64])
def test_large_logits_stay_finite(dtype):
    x = lucid.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    out = log_softmax(x).numpy()
    sm = softmax(x).numpy()
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(sm))
    # Row 0: logsumexp = 1e4 + log(1 + e^-2e4 + e^-1e4) = 1e4 in floating point.
    np.testing.assert_allclose(out[0], [0.0, -2e4, -1e4], rtol=1e-6)
    # Rows 1 and 2: three equal logits give log(1/3) whatever their size.
    np.testing.assert_allclose(out[1:], np.full((2, 3), -np.log(3.0)), rtol=1e-6)
    np.testing.assert_allclose(sm[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(sm.sum(axis=-1), 1.0, rtol=1e-6)


def test_minus_infinity_logit_is_a_masked_class():
    out = log_softmax(lucid.tensor([-np.inf, 0.0, 0.0], dtype=lucid.float64)).numpy()
    assert out[0] == -np.inf
    np.testing.assert_allclose(out[1:], np.log(0.5))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
              elements=st.floats(-1e4, 1e4)))
def test_log_softmax_is_finite_and_normalised_for_any_bounded_logits(x):
    out = log_softmax(lucid.tensor(x)).numpy()
    assert np.all(np.isfinite(out)) and np.all(out <= 0)
    np.testing.assert_allclose(np.exp(out).sum(axis=-1), 1.0, rtol=1e-12)
    # log_softmax is invariant to shifting a row by a constant
    shifted = log_softmax(lucid.tensor(x - x.max(axis=-1, keepdims=True))).numpy()
    np.testing.assert_allclose(out, shifted, atol=1e-9)


@pytest.mark.parametrize("fn", [log_softmax, softmax])
def test_float32_stays_float32_through_backward(fn):
    x = lucid.tensor(logits(3, 4), dtype=lucid.float32, requires_grad=True)
    out = fn(x, dim=1)
    assert out.dtype is lucid.float32
    (out * lucid.tensor(logits(3, 4, seed=1))).sum().backward()
    assert x.grad.dtype is lucid.float32


@pytest.mark.parametrize("shape, dim", CASES)
@pytest.mark.parametrize("fn", [log_softmax, softmax])
def test_gradient_matches_finite_differences(fn, shape, dim):
    check_gradients(lambda t: fn(t, dim=dim), logits(*shape, scale=1.0))


def test_log_softmax_gradient_composes_with_other_ops():
    # Used twice and mixed with primitives, so the closed-form backward must accumulate.
    def f(t):
        lp = log_softmax(t * 2.0, dim=1)
        return lp * lp.exp() + softmax(t, dim=0).log()

    check_gradients(f, logits(3, 4, scale=1.0))


def test_log_softmax_gradient_value_closed_form():
    # d/dx sum(log_softmax(x)) = 1 - C * softmax(x): the sum of g over a row is C.
    x = logits(2, 5)
    t = lucid.tensor(x, requires_grad=True)
    log_softmax(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 1.0 - 5 * np.exp(reference_log_softmax(x, 1)),
                               rtol=1e-12)


def test_no_grad_records_nothing():
    x = lucid.tensor(logits(2, 3), requires_grad=True)
    with lucid.no_grad():
        assert not log_softmax(x).requires_grad and not softmax(x).requires_grad
    assert log_softmax(x).grad_fn is not None


def test_result_does_not_depend_on_thread_count(monkeypatch):
    from lucid import _threads

    monkeypatch.setattr(_threads, "_num_threads", _threads._num_threads)  # restored afterwards
    x = lucid.tensor(logits(64, 33), dtype=lucid.float32)
    lucid.set_num_threads(1)
    one = log_softmax(x).numpy().copy()
    lucid.set_num_threads(2)
    np.testing.assert_array_equal(log_softmax(x).numpy(), one)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn_name", ["log_softmax", "softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_matches_torch_values_and_gradients(fn_name, dim, dtype):
    torch = pytest.importorskip("torch")
    x = logits(2, 3, 5, seed=3)
    g = logits(2, 3, 5, seed=4, scale=1.0)
    lx = lucid.tensor(x, dtype=dtype, requires_grad=True)
    lout = getattr(lucid.nn.functional, fn_name)(lx, dim=dim)
    lout.backward(gradient=g)

    tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    tout = getattr(torch.nn.functional, fn_name)(tx, dim=dim)
    tout.backward(gradient=torch.tensor(g, dtype=getattr(torch, dtype)))

    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(lout.numpy(), tout.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("fn", [log_softmax, softmax])
@pytest.mark.parametrize("dim, error", [((1,), TypeError), ((0, 1), TypeError), (True, TypeError),
                                        (1.0, TypeError), (2, IndexError), (-3, IndexError)])
def test_dim_must_be_one_axis(fn, dim, error):
    # as in PyTorch: one int axis; a tuple is not silently read as its first entry
    with pytest.raises(error, match="dim"):
        fn(lucid.tensor(logits(2, 3)), dim=dim)
