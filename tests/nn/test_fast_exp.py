"""The vectorisable exps of lucid/_C/fast_exp.h, seen through the log-softmax backward kernel
(float64 rows use the double exp, float32 rows the float one).

With a one-hot upstream gradient on column 0 (row sum 1), the kernel returns
grad_in[r, c] = -exp(out[r, c]) for every other column c: exactly fast_exp's value.
"""

import platform

import numpy as np
import pytest

import lucid._C
from lucid._C import _softmax

# Where p * r + c is not one fused multiply-add (the x86-64 baseline build has none), the
# float exp's Horner steps round twice: measured on every float32 in [-87, 0], 1.21 ulp at
# most, against 0.94 with fused multiply-adds.
FUSED_MULTIPLY_ADD = not (lucid._C.DISPATCH == "baseline"
                          and platform.machine().lower() in ("x86_64", "amd64"))


def fast_exp(x, dtype=np.float64):
    x = np.asarray(x, dtype=dtype).reshape(-1, 1)
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


def test_float32_exp_is_within_one_float_ulp():
    rng = np.random.default_rng(1)
    x = np.concatenate([-rng.uniform(0, 87, 200_000), -rng.uniform(0, 1, 50_000)])
    x = x.astype(np.float32)
    got, want = fast_exp(x, np.float32), np.exp(x.astype(np.float64))
    assert got.dtype == np.float32
    assert np.max(np.abs(got - want) / want) < np.finfo(np.float32).eps


def ulps_off(got, x):
    """|got - exp(x)| in float32 ulps of exp(x), exp taken in float64."""
    want = np.exp(x.astype(np.float64))
    ulp = np.ldexp(1.0, np.frexp(want)[1] - 24)  # float32 spacing at want (all normal here)
    return np.abs(got - want) / ulp


def test_float32_exp_within_one_ulp_on_a_dense_sweep():
    # every 97th float32 from -0 to -87 (11.5 million, through every binade and every
    # reduced argument's range), not a random sample
    bound = 1.0 if FUSED_MULTIPLY_ADD else 1.25
    stop = np.array(-87.0, np.float32).view(np.uint32)
    bits = np.arange(np.uint32(0x80000000), stop + np.uint32(1), 97, dtype=np.uint32)
    worst = 0.0
    for chunk in np.array_split(bits.view(np.float32), 8):
        worst = max(worst, ulps_off(fast_exp(chunk, np.float32), chunk).max())
    assert worst < bound, worst


def test_float32_special_values():
    got = fast_exp([0.0, -np.inf, -88.0, np.nan], np.float32)
    assert got[0] == 1.0 and got[1] == 0.0 and got[2] == 0.0 and np.isnan(got[3])
