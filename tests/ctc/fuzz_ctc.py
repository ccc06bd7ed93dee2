"""Fuzz target for lucid.nn.functional.ctc_loss . Not collected by pytest (no test_).

Coverage-guided, with atheris (``pip install atheris``; libFuzzer options pass through), from
the repository root; inputs that fail are written to the -artifact_prefix folder::

    mkdir -p /tmp/ctc_corpus /tmp/ctc_crashes
    python tests/ctc/fuzz_ctc.py -max_total_time=600 -rss_limit_mb=4096 \
        -artifact_prefix=/tmp/ctc_crashes/ /tmp/ctc_corpus
    python tests/ctc/fuzz_ctc.py /tmp/ctc_crashes/crash-...    # replay one

Without atheris, the same target driven by hypothesis (random bytes, no coverage guidance)::

    python tests/ctc/fuzz_ctc.py --hypothesis --max-examples 200000

A run of bytes is decoded into one call: log_probs (odd dtypes, ranks, empty dims, strides:
transposed, reversed, broadcast, read-only; values from log_softmax or from a list of special
floats: NaN, +-inf, subnormals, +-1e300), targets (padded, concatenated or unbatched; any integer
dtype, floats, bools, lists, tensors, None; labels in range or not, up to 2**63 - 1 and
uint64's top, garbage in the padding), lengths (every container, 0-d, wrong sizes, negative,
past T, past the targets, huge), blank, reduction, zero_infinity, requires_grad, 1 or 2 threads.
Byte value 0 always picks the ordinary choice, so short inputs are valid calls and mutations
wander off from there.

The call must either raise ValueError/TypeError whose message starts with "ctc_loss: " and
names an argument, or succeed. A success is then judged by an independent oracle: every
length and every label within its target's length must have been valid (else validation let a
bad input through), and the losses and the gradient must match ``numpy_ctc`` from
ctc_reference.py. Anything else (another exception, a mismatch, a crash) is a finding.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

import lucid
from lucid import Tensor
from lucid.nn.functional import ctc_loss

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run as a script: tests/
from helpers.ctc_reference import numpy_ctc  # noqa: E402

ARGUMENTS = ("log_probs", "targets", "input_lengths", "target_lengths", "blank", "reduction",
             "zero_infinity")
SPECIAL_FLOATS = [-np.inf, np.nan, np.inf, 0.0, -0.0, -1e-300, -5e-324, -1e-45, -745.0,
                  -1e4, 1e4, -3.4e38, 3.4e38, -1e300, 1e300, 30.0]
INT_DTYPES = [np.int64, np.int32, np.uint64, np.int8, np.uint8, np.int16, np.uint32, ">i8"]
EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}
# The accuracy lucid's ctc_loss documentation promises: float64 loss 1e-9 relative,
# gradient 1e-9 absolute; float32 loss 2e-5 relative; the float32 gradient bound is the main
# suite's (~100 float32 ulps at 1.0).
LOSS_RTOL = {np.float32: 2e-5, np.float64: 1e-9}
GRAD_ATOL = {np.float32: 1e-5, np.float64: 1e-9}


class Reader:
    """Turns fuzz bytes into choices; past the end every byte reads as 0 (the ordinary case)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def int(self, lo: int, hi: int) -> int:
        """An int in [lo, hi] (hi - lo < 2**16)."""
        return lo + (self.byte() | self.byte() << 8) % (hi - lo + 1)

    def pick(self, options):
        return options[self.byte() % len(options)]

    def rare(self, k: int = 24) -> bool:
        """True with probability about k / 256."""
        return self.byte() >= 256 - k


def bad_int(r: Reader, C: int, T: int, blank: int) -> int:
    return r.pick([-1, C, blank, T + 1, 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1, -2**63,
                   -2**31, 2**70])


def int_container(r: Reader, values, shape):
    """Python ints (maybe beyond int64) of the given shape in one of the forms users pass."""
    fits = all(-2**63 <= v < 2**63 for v in values)
    exact = np.array(values, dtype=np.int64 if fits else object).reshape(shape)
    form = r.pick(["numpy", "list", "tensor", "tuple"])
    if r.rare(16):
        form = r.pick(["float", "bool", "none", "str", "ragged", "tensor_float", "object"])
    if form == "numpy" and fits:
        out = exact.astype(r.pick(INT_DTYPES))  # wraps what does not fit, e.g. -1 in uint64
        if r.rare(64) and out.ndim >= 1 and out.shape[-1] > 1:
            out = np.repeat(out, 2, axis=-1)[..., ::2]  # non-contiguous, same values
        if r.rare(64):
            out.flags.writeable = False
        return out
    if form == "tensor" and fits:
        return lucid.tensor(exact, dtype=r.pick([lucid.int64, lucid.int32]))
    if form == "float":
        return exact.astype(np.float64)
    if form == "bool":
        return exact.astype(bool)
    if form == "none":
        return None
    if form == "str":
        return "12"
    if form == "ragged":
        return [[1, 2], [3]]
    if form == "tensor_float":
        return lucid.tensor(exact.astype(np.float64), dtype=lucid.float32)
    if form == "object":
        return exact.astype(object)
    out = exact.tolist()
    return tuple(out) if form == "tuple" and isinstance(out, list) else out


def make_log_probs(r: Reader, T: int, N: int, C: int, unbatched: bool, dtype):
    kind = "tensor"
    if r.rare():
        kind = r.pick(["ndarray", "list", "none", "int", "bool", "rank1", "rank4", "rank0",
                       "empty"])
    rng = np.random.default_rng(r.int(0, 2**16 - 1))
    mode = r.pick(["softmax", "softmax", "specials", "sprinkled", "raw"])
    if mode in ("softmax", "sprinkled"):
        logits = rng.standard_normal((T, N, C)) * r.pick([1.0, 10.0, 100.0, 1000.0])
        shifted = logits - logits.max(axis=2, keepdims=True)
        lp = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    elif mode == "raw":
        lp = rng.standard_normal((T, N, C)) * 5.0
    else:
        lp = np.zeros((T, N, C))
    if mode in ("specials", "sprinkled"):
        for _ in range(r.int(0, 6)):
            lp[r.int(0, T - 1), r.int(0, N - 1), r.int(0, C - 1)] = r.pick(SPECIAL_FLOATS)
        if mode == "specials":
            lp[...] = np.where(rng.random(lp.shape) < 0.5, lp, r.pick(SPECIAL_FLOATS))
    with np.errstate(over="ignore"):
        lp = lp.astype(dtype)

    layout = r.pick(["plain", "transposed", "reversed", "broadcast", "readonly", "fortran",
                     "strided"])
    if layout == "transposed":
        lp = np.ascontiguousarray(lp.transpose(1, 0, 2)).transpose(1, 0, 2)
    elif layout == "reversed":
        lp = np.ascontiguousarray(lp[::-1])[::-1]
    elif layout == "broadcast":
        lp = np.broadcast_to(lp[:1], lp.shape)
    elif layout == "readonly":
        lp.flags.writeable = False
    elif layout == "fortran":
        lp = np.asfortranarray(lp)
    elif layout == "strided":
        wide = np.zeros((T, N, 2 * C), dtype=lp.dtype)
        wide[:, :, ::2] = lp
        lp = wide[:, :, ::2]
    if unbatched:
        lp = lp[:, 0]
    requires_grad = r.byte() % 2 == 0

    if kind == "tensor":
        return Tensor(lp, requires_grad=requires_grad)
    if kind == "ndarray":
        return lp
    if kind == "list":
        return lp.tolist()
    if kind == "none":
        return None
    if kind == "int":
        return Tensor(np.zeros(lp.shape, dtype=np.int64))
    if kind == "bool":
        return Tensor(lp > 0)
    if kind == "rank1":
        return Tensor(lp.reshape(-1))
    if kind == "rank4":
        return Tensor(lp[None])
    if kind == "rank0":
        return Tensor(np.asarray(1.0, dtype=dtype))
    shape = list(lp.shape)
    shape[r.int(0, len(shape) - 1)] = 0
    return Tensor(np.zeros(shape, dtype=dtype))


def decode(data: bytes):
    """The keyword arguments of one ctc_loss call, the thread count and whether no_grad is on."""
    r = Reader(data)
    T, N, C = r.int(1, 7), r.int(1, 4), r.int(1, 6)
    unbatched = r.rare(40)
    if unbatched:
        N = 1
    dtype = r.pick([np.float64, np.float32])
    blank = r.int(0, C - 1)
    log_probs = make_log_probs(r, T, N, C, unbatched, dtype)

    labels = [c for c in range(C) if c != blank] or [blank]
    if r.rare(64):
        labels = labels[:1]  # repeat-heavy
    S_max = r.int(0, 5)
    targets = [[r.pick(labels) for _ in range(r.int(0, S_max))] for _ in range(N)]
    if C == 1:
        targets = [[] for _ in range(N)]
    tl = [len(t) for t in targets]
    il = [r.int(0, T) for _ in range(N)]
    if r.rare():  # a bad label within some target
        n = r.int(0, N - 1)
        if targets[n]:
            targets[n][r.int(0, len(targets[n]) - 1)] = bad_int(r, C, T, blank)
    if r.rare():
        il[r.int(0, N - 1)] = bad_int(r, C, T, blank)
    if r.rare():
        tl[r.int(0, N - 1)] = bad_int(r, C, T, blank)
    if r.rare(12):
        il = il + [0]  # wrong size
    if r.rare(12):
        tl = tl[:-1]

    layout = "unbatched" if unbatched else r.pick(["padded", "concatenated"])
    if r.rare(16):
        layout = r.pick(["padded", "concatenated", "unbatched", "rank3"])
    width = max([len(t) for t in targets] + [0]) + r.int(0, 2)
    garbage = [r.pick([0, blank, -7, C, 2**40, 2**63 - 1, -2**63]) for _ in range(3)]
    padded = [t + [garbage[(i + n) % 3] for i in range(width - len(t))]
              for n, t in enumerate(targets)]
    if layout == "padded":
        tg_values, tg_shape = padded, (len(padded), width)
    elif layout == "concatenated":
        flat = [c for t in targets for c in t]
        if r.rare(16):
            flat = flat + [1]
        tg_values, tg_shape = flat, (len(flat),)
    elif layout == "unbatched":
        tg_values, tg_shape = padded[0], (width,)
    else:
        tg_values, tg_shape = padded * 2, (2, len(padded), width)
    flat_values = [v for row in tg_values for v in (row if isinstance(row, list) else [row])]
    targets_arg = int_container(r, flat_values, tg_shape)
    if unbatched:
        forms = [lambda v: v, np.int64, np.asarray, lambda v: [v], lucid.tensor]
        il_arg = r.pick(forms)(il[0]) if -2**63 <= il[0] < 2**63 else il[0]
        tl_arg = r.pick(forms)(tl[0]) if tl and -2**63 <= tl[0] < 2**63 else tl
        if r.rare():
            il_arg = int_container(r, il, (len(il),))
    else:
        il_arg, tl_arg = int_container(r, il, (len(il),)), int_container(r, tl, (len(tl),))
    if r.rare(8):
        tl_arg = int_container(r, tl, (len(tl),))

    kwargs = {
        "log_probs": log_probs,
        "targets": targets_arg,
        "input_lengths": il_arg,
        "target_lengths": tl_arg,
        "blank": blank,
        "reduction": "mean",
        "zero_infinity": False,
    }
    kwargs["reduction"] = r.pick(["mean", "sum", "none"])
    if r.rare(8):
        kwargs["reduction"] = r.pick(["avg", None, 1, "SUM", np.array(["sum", "mean"])])
    kwargs["zero_infinity"] = r.pick([False, True, np.bool_(True)])
    if r.rare(8):
        kwargs["zero_infinity"] = r.pick([1, None, "yes", np.array([True, False])])
    if r.rare():
        kwargs["blank"] = r.pick([np.int64(blank), C, -1, 2**40, True, 0.0, None, "0",
                                  np.int32(blank)])
    threads = r.pick([1, 2])
    no_grad = r.rare(32)
    return kwargs, threads, no_grad


# ----------------------------------------------------------------------------- the oracle
def as_ints(value) -> np.ndarray:
    arr = value.numpy() if isinstance(value, Tensor) else value
    if isinstance(arr, (list, tuple)):
        arr = np.asarray(arr)
        if arr.size == 0:  # [] or [[], []]: no number says it is not an integer array
            arr = arr.astype(np.int64)
    arr = np.asarray(arr)
    assert arr.dtype.kind in "iu", f"accepted a non-integer array of dtype {arr.dtype}"
    return arr


def expected_result(kwargs):
    """Per-sample reference losses and gradients, asserting the inputs were truly valid."""
    lp = kwargs["log_probs"].numpy()
    unbatched = lp.ndim == 2
    lp3 = lp[:, None] if unbatched else lp
    T, N, C = lp3.shape
    blank = int(kwargs["blank"])
    assert 0 <= blank < C, f"accepted blank={blank} with C={C}"
    il = [int(v) for v in as_ints(kwargs["input_lengths"]).reshape(-1)]
    tl = [int(v) for v in as_ints(kwargs["target_lengths"]).reshape(-1)]
    assert len(il) == len(tl) == N
    assert all(0 <= v <= T for v in il), f"accepted input_lengths {il} with T={T}"
    tg = as_ints(kwargs["targets"])
    if tg.ndim == 2 or unbatched:
        rows = tg.reshape(1, -1) if unbatched else tg
        assert rows.shape[0] == N and all(0 <= s <= rows.shape[1] for s in tl)
        targets = [[int(v) for v in rows[n, : tl[n]]] for n in range(N)]
    else:
        assert tg.ndim == 1 and all(s >= 0 for s in tl) and sum(tl) == tg.shape[0]
        ends = np.cumsum(tl)
        targets = [[int(v) for v in tg[e - s: e]] for s, e in zip(tl, ends)]
    for target in targets:
        assert all(0 <= c < C and c != blank for c in target), f"accepted target {target}"

    losses, grads, judged = np.zeros(N), np.zeros((T, N, C)), np.ones(N, dtype=bool)
    slack = np.zeros(N)
    for n in range(N):
        used = lp3[: il[n], n][:, sorted(set(targets[n]) | {blank})].astype(np.float64)
        # NaN or +inf in what a sample reads makes its result NaN or of unspecified sign:
        # there only a crash, a wrong shape or a gradient past the input length counts.
        judged[n] = not (np.isnan(used).any() or (used == np.inf).any())
        finite = np.abs(used[np.isfinite(used)])
        # Absolute rounding on top of the documented relative accuracy: sums of T log-probabilities
        # (eps each, relative to the largest), and in probability space a per-frame factor
        # near 1 (eps each): a loss near 0 (e.g. 5.6e-45) is only good to about T eps.
        slack[n] = 8 * EPS[np.float64] * T * (1.0 + (finite.max() if finite.size else 0.0))
        with np.errstate(all="ignore"):
            losses[n], grads[: il[n], n] = numpy_ctc(lp3[: il[n], n], targets[n], blank)
    return losses, grads, judged, slack, il, unbatched


def same_loss(got: float, want: float, dtype, slack: float) -> bool:
    with np.errstate(over="ignore"):
        want = float(np.asarray(want).astype(dtype))  # float32 may overflow to inf
    if np.isinf(want) or np.isinf(got):
        return got == want
    quantum = float(np.finfo(dtype).smallest_subnormal)  # rounding of a subnormal result
    return abs(got - want) <= LOSS_RTOL[dtype] * abs(want) + slack + quantum


def check_success(kwargs, out, no_grad):
    log_probs = kwargs["log_probs"]
    dtype = log_probs.numpy().dtype.type
    reduction = kwargs["reduction"]
    losses, grads, judged, slack, il, unbatched = expected_result(kwargs)
    N = losses.shape[0]
    with np.errstate(over="ignore"):  # zero_infinity: infinite in the output dtype counts
        infinite = np.isinf(losses.astype(dtype))
    reported = np.where(infinite, 0.0, losses) if kwargs["zero_infinity"] else losses
    assert out.dtype.np_dtype == dtype, (out.dtype, dtype)
    got = out.numpy().astype(np.float64)
    if reduction == "none":
        assert got.shape == (() if unbatched else (N,)), got.shape
        for n in np.flatnonzero(judged):
            assert same_loss(got.reshape(-1)[n], reported[n], dtype, slack[n]), (
                n, got.reshape(-1)[n], reported[n])
    else:
        assert got.shape == (), got.shape
        if judged.all():
            want = reported.sum() / (N if reduction == "mean" else 1)
            assert same_loss(float(got), want, dtype, slack.sum()), (got, want)

    if no_grad or not log_probs.requires_grad:
        assert out.grad_fn is None
        return
    out.backward(np.ones(out.shape))
    grad = log_probs.grad.numpy()
    assert grad.shape == log_probs.shape and grad.dtype == dtype
    g3 = grad[:, None] if unbatched else grad
    weight = 1.0 / N if reduction == "mean" else 1.0
    for n in range(N):
        assert not g3[il[n]:, n].any(), f"gradient past input_lengths[{n}]"
        if judged[n]:
            # an infeasible sample (loss inf) gets a zero gradient, zero_infinity or not
            want = 0.0 if np.isinf(losses[n]) else grads[:, n] * weight
            err = np.abs(g3[:, n] - want).max()
            assert err <= GRAD_ATOL[dtype] + slack[n], (n, err)


def run_one(data: bytes) -> None:
    kwargs, threads, no_grad = decode(data)
    lucid.set_num_threads(threads)
    try:
        if no_grad:
            with lucid.no_grad():
                out = ctc_loss(**kwargs)
        else:
            out = ctc_loss(**kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert message.startswith("ctc_loss: "), message
        assert any(name in message for name in ARGUMENTS), message
        return
    check_success(kwargs, out, no_grad)


def main() -> None:
    import warnings

    warnings.simplefilter("ignore", lucid.LogProbsWarning)  # fuzzed values are scores on purpose
    if "--hypothesis" in sys.argv:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        i = sys.argv.index("--max-examples") if "--max-examples" in sys.argv else -1
        budget = int(sys.argv[i + 1]) if i > 0 else 100_000

        # hypothesis' own bytes lean to zeros (the ordinary choices): mix in uniform ones
        uniform = st.randoms(use_true_random=True).map(lambda rnd: rnd.randbytes(400))

        @settings(max_examples=budget, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=400), uniform))
        def fuzz(data):
            run_one(data)

        fuzz()
        return
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, run_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
