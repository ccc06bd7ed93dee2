"""What ctc_loss, the decoders and forced alignment accept, and how they refuse the rest.

The rules: a size that cannot be allocated is a ValueError naming the argument (or a
MemoryError), never a crash; NaN and +inf in the frames a decoder reads are a ValueError; raw
scores given as log-probabilities draw a LogProbsWarning; batch-first log_probs get a layout
hint; torch tensors are a TypeError that says how to convert them. Anything that could crash
runs in a subprocess, so that a crash fails its test instead of ending the session.
"""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import lucid
from lucid.ctc import beam_search_decode, ctc_decoder, forced_align, greedy_decode, merge_tokens
from lucid.nn.functional import ctc_loss, log_softmax

TOKENS = ["-", "|", "a", "b"]  # blank first, as in the other tests
TARGETS = [[2, 3], [3, 2]]



def batch_first(lp):
    """(T, N, C) log-probs as lucid.ctc takes them, (N, T, C): a view. Anything else (what
    lucid.ctc must refuse) as it is."""
    return lp.transpose(0, 1) if isinstance(lp, lucid.Tensor) and lp.ndim == 3 else lp


# Each decoder called the same way: log_probs (T, N, 4) as ctc_loss takes them, passed to
# lucid.ctc batch first, and input lengths (N,); the targets of forced alignment fixed.
DECODERS = {
    "greedy_decode": lambda lp, il: greedy_decode(batch_first(lp), il),
    "beam_search_decode": lambda lp, il: beam_search_decode(batch_first(lp), il, beam_width=4),
    "CTCDecoder": lambda lp, il: ctc_decoder(None, TOKENS, beam_size=4)(batch_first(lp), il),
    "forced_align": lambda lp, il: forced_align(batch_first(lp), TARGETS, il),
}
LENGTHS = {"CTCDecoder": "lengths"}  # torchaudio's name; the others' is ctc_loss's
EVERY_CHECKED_FUNCTION = {
    **DECODERS,
    "ctc_loss": lambda lp, il: ctc_loss(lp, TARGETS, il, [2, 2]),
}


def log_probs(T=6, N=2, C=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return log_softmax(lucid.tensor(rng.normal(size=(T, N, C)).astype(dtype)), dim=2)


def run_alone(code, timeout=120):
    """stdout of code run in a fresh interpreter; a crash or a hang fails the test."""
    prelude = textwrap.dedent("""\
        import numpy as np
        import lucid
        from lucid.ctc import ctc_decoder
        from lucid.ctc import beam_search_decode

        def outcome(call):
            try:
                return repr(call())
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"

        def uniform(T, C):
            return lucid.tensor(np.log(np.full((1, T, C), 1 / C)))
        """)
    try:
        done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {timeout} s")
    assert done.returncode == 0, f"exit code {done.returncode}; stderr:\n{done.stderr[-2000:]}"
    return done.stdout.strip()


# ------------------------------------------------------------------------ sizes and memory
@pytest.mark.parametrize("beam_width", [2**31, 2**61, 2**62, 2**63 - 1])
@pytest.mark.parametrize("top_k", ["3", "beam_width"])
def test_a_beam_wider_than_every_prefix_is_the_exact_search(beam_width, top_k):
    """5 frames over 2 labels have 63 prefixes: a wider beam keeps them all, whatever its
    width (2**61 used to overflow the workspace size and corrupt the heap), and returns them
    all however many more are asked for."""
    out = run_alone(f"""
        lp = lucid.tensor(np.log(np.random.default_rng(0).dirichlet([1, 1, 1], size=(1, 5))))
        beam_width = {beam_width}
        wide = outcome(lambda: beam_search_decode(lp, [5], beam_width, top_k={top_k}))
        k = min({top_k}, 63)
        exact = outcome(lambda: beam_search_decode(lp, [5], beam_width=63, top_k=k))
        print(wide == exact, wide[:200])
        """)
    assert out.startswith("True"), out


@pytest.mark.parametrize("beam_width", [2**61, 2**62, 2**63 - 1])
def test_a_beam_whose_workspace_cannot_be_addressed_is_a_value_error(beam_width):
    out = run_alone(f"""
        print(outcome(lambda: beam_search_decode(uniform(64, 3), [64],
                                                     beam_width={beam_width})))
        """)
    assert out.startswith("ValueError: beam_search_decode: beam_width"), out
    assert str(beam_width) in out


def test_the_lm_decoder_names_its_own_argument():
    out = run_alone("""
        decoder = ctc_decoder(None, ["-", "|", "a"], beam_size=2**61, nbest=2**61)
        print(outcome(lambda: decoder(uniform(64, 3)[0], 64)))
        exact = ctc_decoder(None, ["-", "|", "a"], beam_size=63, nbest=63)
        lp = lucid.tensor(np.log(np.random.default_rng(0).dirichlet([1, 1, 1], size=5)))
        print(outcome(lambda: decoder(lp, 5)) == outcome(lambda: exact(lp, 5)))  # 63 prefixes
        """)
    too_wide, small = out.splitlines()
    assert too_wide.startswith("ValueError: CTCDecoder: beam_size"), too_wide
    assert small == "True", small


def test_hypotheses_that_cannot_be_addressed_are_a_value_error():
    """1000 samples of 10**6 frames (a view of one float) asking for 10**9 hypotheses each."""
    out = run_alone("""
        lp = lucid.Tensor(np.broadcast_to(np.log(np.float32(1 / 3)), (1000, 10**6, 3)))
        print(outcome(lambda: beam_search_decode(lp, [10**6] * 1000, beam_width=10**9,
                                                     top_k=10**9)))
        """, timeout=60)
    assert out.startswith("ValueError: beam_search_decode: top_k = 1000000000"), out


def test_a_beam_that_fits_in_size_t_but_not_in_memory_is_a_memory_error():
    """2**40 x 3 candidates of ~90 bytes: 290 TB, beyond any address space."""
    out = run_alone("""
        print(outcome(lambda: beam_search_decode(uniform(64, 3), [64], beam_width=2**40)))
        """)
    assert out.startswith("MemoryError"), out


def test_more_than_2_31_classes_is_a_value_error():
    """Class indices are kept in 32 bits; a (1, 1, 2**31) view of one float costs nothing."""
    out = run_alone("""
        lp = lucid.Tensor(np.broadcast_to(np.float32(-21.5), (1, 1, 2**31)))
        print(outcome(lambda: beam_search_decode(lp, [1], beam_width=1)))
        """)
    assert out.startswith("ValueError: beam_search_decode: log_probs"), out
    assert "2147483648" in out


def test_more_than_2_31_frames_is_a_value_error():
    """Frame indices are kept in 32 bits (and such a search would run for minutes)."""
    out = run_alone("""
        lp = lucid.Tensor(np.broadcast_to(np.log(np.float32(0.5)), (1, 2**31 + 5, 2)))
        print(outcome(lambda: beam_search_decode(lp, [2**31 + 1], beam_width=1)))
        """, timeout=30)
    assert out.startswith("ValueError: beam_search_decode: input_lengths"), out
    assert "2147483649" in out


# --------------------------------------------------------------------------- NaN and +inf
@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "+inf"])
def test_nan_and_plus_inf_are_errors_naming_where(name, bad):
    lp = log_probs().numpy().copy()
    lp[3, 1, 2] = bad
    with pytest.raises(ValueError, match=rf"^{name}: log_probs must not contain NaN or \+inf.*"
                                         rf"got log_probs\[1, 3, 2\] = {bad}"):
        DECODERS[name](lucid.tensor(lp), [6, 6])


@pytest.mark.parametrize("name", DECODERS)
def test_unbatched_nan_is_located_without_a_batch_index(name):
    lp = log_probs().numpy()[:, 0].copy()
    lp[4, 2] = np.nan
    call = DECODERS[name]
    if name == "forced_align":
        call = lambda lp, il: forced_align(lp, TARGETS[0], il)  # noqa: E731
    with pytest.raises(ValueError, match=r"log_probs\[4, 2\] = nan"):
        call(lucid.tensor(lp), 6)


def same(a, b):
    """Equal results of a decoder: lists of tokens or hypotheses, or forced alignment's arrays."""
    if isinstance(a, tuple):
        return all(np.array_equal(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", DECODERS)
def test_nan_past_the_input_length_is_never_read(name):
    lp = log_probs().numpy().copy()
    lp[5, 1] = np.nan
    lp[4:, 0, 3] = np.inf
    assert same(DECODERS[name](lucid.tensor(lp), [4, 5]), DECODERS[name](log_probs(), [4, 5]))


@pytest.mark.parametrize("name", DECODERS)
def test_minus_inf_is_log_zero(name):
    logits = np.random.default_rng(5).normal(size=(6, 2, 4))
    logits[:, :, 1] = -np.inf  # class 1 impossible everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DECODERS[name](log_softmax(lucid.tensor(logits), dim=2), [6, 6])


def test_forced_alignment_reads_only_its_lattice():
    """Classes outside the targets are never read: a NaN there changes nothing (ctc_loss reads
    the same values, so it stays finite too)."""
    lp = log_probs().numpy().copy()
    lp[2, :, 1] = np.nan  # class 1 is in neither target
    expected = DECODERS["forced_align"](log_probs(), [6, 6])
    assert same(DECODERS["forced_align"](lucid.tensor(lp), [6, 6]), expected)
    assert np.isfinite(ctc_loss(lucid.tensor(lp), TARGETS, [6, 6], [2, 2]).item())


def test_ctc_loss_keeps_nan_in_the_loss():
    """The loss carries a NaN visibly (training loops test for it), so ctc_loss returns it
    rather than raising; the decoders' lists of tokens could not carry it."""
    lp = log_probs().numpy().copy()
    lp[2, 1, 2] = np.nan
    loss = ctc_loss(lucid.tensor(lp), TARGETS, [6, 6], [2, 2], reduction="none").numpy()
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


# ------------------------------------------------------------------------ raw logits
def raw_scores(T=6, N=2, C=4):
    return lucid.tensor(np.random.default_rng(1).normal(loc=3.0, size=(T, N, C)))


def test_the_warning_is_a_user_warning_users_can_filter():
    assert issubclass(lucid.LogProbsWarning, UserWarning)


@pytest.mark.parametrize("name", EVERY_CHECKED_FUNCTION)
def test_raw_scores_draw_a_warning(name):
    with pytest.warns(lucid.LogProbsWarning, match=rf"^{name}: log_probs .*log_softmax"):
        EVERY_CHECKED_FUNCTION[name](raw_scores(), [6, 6])


@pytest.mark.parametrize("name", EVERY_CHECKED_FUNCTION)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_probabilities_draw_none(name, dtype):
    logits = np.random.default_rng(4).normal(size=(6, 2, 4)).astype(dtype)
    logits[:, 0] *= 20  # peaky
    logits[:, :, 1] = -np.inf  # class 1 impossible
    lp = log_softmax(lucid.tensor(logits), dim=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EVERY_CHECKED_FUNCTION[name](lp, [6, 6])


@pytest.mark.parametrize("name", EVERY_CHECKED_FUNCTION)
def test_a_sample_without_frames_is_not_judged(name):
    lp = log_probs().numpy().copy()
    lp[:, 1] = 7.0  # padding: sample 1 has no frames
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EVERY_CHECKED_FUNCTION[name](lucid.tensor(lp), [6, 0])


def test_float32_log_softmax_of_many_classes_is_within_the_tolerance():
    rng = np.random.default_rng(2)
    logits = lucid.tensor((30 * rng.normal(size=(3, 64, 8000))).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        greedy_decode(log_softmax(logits, dim=2).transpose(0, 1), [3] * 64)


def test_the_warning_points_at_the_caller_once_per_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            greedy_decode(batch_first(raw_scores()), [6, 6])
        ctc_loss(raw_scores(), TARGETS, [6, 6], [2, 2])
        lucid.nn.CTCLoss()(raw_scores(), TARGETS, [6, 6], [2, 2])
    assert [w.category for w in caught] == [lucid.LogProbsWarning] * 3
    assert {w.filename for w in caught} == {__file__}


def test_deliberate_raw_scores_are_silenced_by_category():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=lucid.LogProbsWarning)
        for call in EVERY_CHECKED_FUNCTION.values():
            call(raw_scores(), [6, 6])


def test_ctc_loss_skips_the_check_for_log_softmax_output(monkeypatch):
    """The graph says log_probs are normalised: nothing to look at on the hot path."""
    import lucid.nn.functional.ctc as ctc_module

    def fail(*args, **kwargs):
        raise AssertionError("checked a log_softmax output")

    monkeypatch.setattr(ctc_module, "warn_if_not_log_probs", fail)
    logits = lucid.tensor(np.random.default_rng(3).normal(size=(6, 2, 4)), requires_grad=True)
    ctc_loss(log_softmax(logits, dim=2), TARGETS, [6, 6], [2, 2]).backward()


# ------------------------------------------------------------------------ layout and torch
@pytest.mark.parametrize("name", EVERY_CHECKED_FUNCTION)
def test_the_other_layout_gets_the_layout_hint(name):
    """log_probs in the other layout than the function takes: (N, T, C) for ctc_loss, whose
    call above takes them as they are, and (T, N, C) for lucid.ctc, whose calls above
    transpose what they get."""
    swapped = lucid.tensor(log_probs(T=7, N=2).numpy().transpose(1, 0, 2).copy())
    takes = r"\(T, N, C\), time first" if name == "ctc_loss" else r"\(N, T, C\), batch first"
    with pytest.raises(ValueError, match=rf"^{name}: {LENGTHS.get(name, 'input_lengths')} must "
                                         rf"have shape \(7,\).*"
                                         rf"{takes}.*transpose\(0, 1\)"):
        EVERY_CHECKED_FUNCTION[name](swapped, [7, 7])


def test_forced_alignment_with_default_lengths_gets_the_hint_from_the_targets():
    time_first = log_probs(T=7, N=2)
    with pytest.raises(ValueError, match=r"targets must have N = 7 rows.*\(N, T, C\), batch "
                                         r"first.*transpose\(0, 1\)"):
        forced_align(time_first, TARGETS)


class FakeTorchTensor:
    """What lucid can see of a CPU torch tensor without importing torch: its type's module,
    and numpy's __array__ protocol (through which a torch tensor used to pass silently)."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)


FakeTorchTensor.__module__ = "torch"
FakeTorchTensor.__name__ = FakeTorchTensor.__qualname__ = "Tensor"


@pytest.mark.parametrize("name", EVERY_CHECKED_FUNCTION)
@pytest.mark.parametrize("argument", ["log_probs", "input_lengths"])
def test_torch_tensors_are_a_type_error_with_the_fix(name, argument):
    lp, il = log_probs(), [6, 6]
    if argument == "log_probs":
        lp, fix = FakeTorchTensor(lp.numpy()), r"lucid\.tensor\(x\.detach\(\)\.cpu\(\)\.numpy"
    else:
        il, fix = FakeTorchTensor(il), r"x\.detach\(\)\.cpu\(\)\.numpy\(\)"
    if argument == "input_lengths":
        argument = LENGTHS.get(name, argument)
    with pytest.raises(TypeError, match=rf"^{name}: {argument} is a torch\.Tensor.*{fix}"):
        EVERY_CHECKED_FUNCTION[name](lp, il)


def test_torch_targets_and_target_lengths_are_type_errors():
    lp = log_probs()
    for call in (lambda t, tl: ctc_loss(lp, t, [6, 6], tl),
                 lambda t, tl: forced_align(batch_first(lp), t, [6, 6], tl)):
        with pytest.raises(TypeError, match=r": targets is a torch\.Tensor"):
            call(FakeTorchTensor(TARGETS), [2, 2])
        with pytest.raises(TypeError, match=r": target_lengths is a torch\.Tensor"):
            call(TARGETS, FakeTorchTensor([2, 2]))
    with pytest.raises(TypeError, match=r"merge_tokens: tokens is a torch\.Tensor"):
        merge_tokens(FakeTorchTensor([0, 1, 1]), [0.5, 0.5, 0.5])
    with pytest.raises(TypeError, match=r"merge_tokens: scores is a torch\.Tensor"):
        merge_tokens([0, 1, 1], FakeTorchTensor([0.5, 0.5, 0.5]))


def test_a_real_torch_tensor_is_recognised():
    torch = pytest.importorskip("torch")
    x = torch.zeros(6, 2, 4).log_softmax(2)
    with pytest.raises(TypeError, match=r"log_probs is a torch\.Tensor"):
        greedy_decode(x, [6, 6])
    with pytest.raises(TypeError, match=r"input_lengths is a torch\.Tensor"):
        greedy_decode(log_probs(), torch.tensor([6, 6]))
