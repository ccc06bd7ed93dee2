"""The vectorisable exp of lucid/_C/fast_exp.h, seen through the log-softmax backward kernel.

With a one-hot upstream gradient on column 0 (row sum 1), the kernel returns
grad_in[r, c] = -exp(out[r, c]) for every other column c: exactly fast_exp's value.
"""

import numpy as np
import pytest

from lucid._C import _softmax


def fast_exp(x):
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    out = np.concatenate([np.zeros_like(x), x], axis=1)
    g = np.zeros_like(out)
    g[:, 0] = 1.0
    grad_in = np.empty_like(out)
    _softmax.log_softmax_backward_rows(g, out, grad_in, 1)
    return -grad_in[:, 1]


def test_matches_libm_exp_to_the_last_bits():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.uniform(0, 708, 200_000), -rng.uniform(0, 1, 50_000),
                        -np.logspace(-300, 2.8, 1000)])
    got, want = fast_exp(x), np.exp(x)
    assert np.max(np.abs(got - want) / want) < 4e-16


@pytest.mark.parametrize(
    "x, want",
    [(0.0, 1.0), (-0.0, 1.0), (-np.inf, 0.0), (-709.0, 0.0), (-1e6, 0.0)],
)
def test_special_values(x, want):
    assert fast_exp([x])[0] == want


def test_nan_propagates():
    assert np.isnan(fast_exp([np.nan])[0])
