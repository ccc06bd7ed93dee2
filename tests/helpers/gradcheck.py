"""Central finite differences in float64, to judge lucid's analytic gradients.

``check_gradients(fn, *arrays)`` turns each array into a float64 leaf tensor, calls ``fn`` on
them and compares every input's ``.grad`` with the numerical derivative of ``sum(w * fn(...))``
for a fixed random weight ``w`` (so every output element matters, each differently).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import lucid


def _weighted_output(fn: Callable, arrays: list, weight: np.ndarray) -> float:
    with lucid.no_grad():
        out = fn(*(lucid.tensor(a, dtype=lucid.float64) for a in arrays))
    return float(np.sum(weight * np.asarray(out.numpy(), dtype=np.float64)))


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """d f / d x for a scalar function of one float64 array, by central differences."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        plus = f(x)
        x[idx] = orig - eps
        minus = f(x)
        x[idx] = orig
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradients(
    fn: Callable, arrays: list, weight: np.ndarray, eps: float = 1e-6
) -> list:
    """d sum(weight * fn(*arrays)) / d arrays, by central differences of step ``eps``."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]

    def with_input(i: int, value: np.ndarray) -> float:
        return _weighted_output(fn, arrays[:i] + [value] + arrays[i + 1:], weight)

    return [central_difference(lambda v, i=i: with_input(i, v), a, eps)
            for i, a in enumerate(arrays)]


def analytic_gradients(fn: Callable, arrays: list, weight: np.ndarray) -> list:
    """The same derivative through lucid's backward()."""
    leaves = [lucid.tensor(np.asarray(a), dtype=lucid.float64, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(gradient=weight.copy())  # a copy: lucid must not write to it, but if it does
    # the numerical side below must still see the true weight
    return [
        np.zeros(leaf.shape) if leaf.grad is None else leaf.grad.numpy() for leaf in leaves
    ]


def check_gradients(
    fn: Callable, *arrays, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-5,
    atol: float = 1e-7,
) -> None:
    """Assert lucid's gradients of ``fn`` at ``arrays`` match central finite differences."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    with lucid.no_grad():
        out_shape = fn(*(lucid.tensor(a) for a in arrays)).shape
    weight = np.random.default_rng(seed).uniform(0.5, 1.5, size=out_shape)
    analytic = analytic_gradients(fn, arrays, weight)
    numeric = numerical_gradients(fn, arrays, weight, eps)
    for i, (got, want) in enumerate(zip(analytic, numeric)):
        assert got.shape == arrays[i].shape, f"input {i}: gradient shape {got.shape}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
