"""ctc_loss on bad input and on legal inputs that look odd.

Every bad input below raises ValueError or TypeError before the kernel runs (the
kernel is replaced by a tripwire while the error cases run), with a message that starts with
the function's name and shows the argument, the expected and the got. Odd but legal inputs
(strided or read-only arrays, garbage padding, input_length 0, every container for lengths,
0-d lengths, NaN and -inf) give the results of their plain equivalents or of the reference.
"""

import warnings

import numpy as np
import pytest
from helpers.ctc_reference import ctc_batch_reference, numpy_ctc

import lucid
from lucid import Tensor
from lucid.nn.functional import ctc as ctc_module
from lucid.nn.functional import ctc_loss

T, N, C = 6, 2, 5
BIG = 2**40  # far beyond int32
INT64_MAX = 2**63 - 1


def log_probs(dtype=np.float64, seed=0, shape=(T, N, C)):
    logits = np.random.default_rng(seed).normal(size=shape)
    lp = logits - logits.max(axis=-1, keepdims=True)
    return (lp - np.log(np.exp(lp).sum(axis=-1, keepdims=True))).astype(dtype)


def valid_args(**changes):
    """A valid batch: sample 0 has target [1, 2], sample 1 has [3] (the 9 is padding)."""
    args = {
        "log_probs": lucid.tensor(log_probs(), dtype=lucid.float64),
        "targets": np.array([[1, 2], [3, 9]], dtype=np.int64),
        "input_lengths": [6, 5],
        "target_lengths": [2, 1],
    }
    args.update(changes)
    return args


def unbatched_args(**changes):
    args = {
        "log_probs": lucid.tensor(log_probs()[:, 0], dtype=lucid.float64),
        "targets": np.array([1, 2], dtype=np.int64),
        "input_lengths": 6,
        "target_lengths": 2,
    }
    args.update(changes)
    return args


def losses_of(**kwargs):
    """Per-sample losses (reduction none) and the gradient of their sum, as float64 numpy."""
    x = kwargs["log_probs"]
    leaf = Tensor(x.numpy(), requires_grad=True)
    out = ctc_loss(**{**kwargs, "log_probs": leaf, "reduction": "none"})
    out.backward(np.ones(out.shape))
    return out.numpy().astype(np.float64), leaf.grad.numpy().astype(np.float64)


@pytest.fixture
def tripwire(monkeypatch):
    """Replace the kernel by one that fails the test if a bad input ever reaches it."""

    class Kernel:
        @staticmethod
        def ctc_loss_forward(*args):
            pytest.fail("the kernel ran on a bad input")

    monkeypatch.setattr(ctc_module, "_ctc", Kernel)


def test_valid_args_are_valid():
    """The baselines the error cases modify succeed, so each error comes from its change."""
    assert np.isfinite(ctc_loss(**valid_args()).item())
    assert np.isfinite(ctc_loss(**unbatched_args()).item())


# Each case: (arguments, exception, fragments the message must contain: the argument's name,
# then what was expected and what was got).
BAD_BATCHED = {
    # log_probs
    "log_probs ndarray": ({"log_probs": log_probs()}, TypeError,
                          ["log_probs", "lucid.Tensor", "ndarray"]),
    "log_probs list": ({"log_probs": log_probs().tolist()}, TypeError,
                       ["log_probs", "lucid.Tensor", "list"]),
    "log_probs None": ({"log_probs": None}, TypeError, ["log_probs", "NoneType"]),
    "log_probs rank 1": ({"log_probs": lucid.tensor(log_probs().reshape(-1))}, ValueError,
                         ["log_probs", "(T, N, C) or (T, C)", "(60,)"]),
    "log_probs rank 4": ({"log_probs": lucid.tensor(log_probs()[None])}, ValueError,
                         ["log_probs", "(T, N, C) or (T, C)", "(1, 6, 2, 5)"]),
    "log_probs rank 0": ({"log_probs": lucid.tensor(0.5)}, ValueError,
                         ["log_probs", "(T, N, C) or (T, C)", "()"]),
    "log_probs int64": ({"log_probs": lucid.tensor(np.zeros((T, N, C), dtype=np.int64))},
                        TypeError, ["log_probs", "float32 or float64", "int64"]),
    "log_probs int32": ({"log_probs": lucid.tensor(np.zeros((T, N, C)), dtype=lucid.int32)},
                        TypeError, ["log_probs", "float32 or float64", "int32"]),
    "log_probs bool": ({"log_probs": lucid.tensor(np.zeros((T, N, C), dtype=bool))},
                       TypeError, ["log_probs", "float32 or float64", "bool"]),
    "log_probs float16": ({"log_probs": Tensor(np.zeros((T, N, C), dtype=np.float16))},
                          TypeError, ["log_probs", "float32 or float64", "float16"]),
    "log_probs T = 0": ({"log_probs": lucid.tensor(np.zeros((0, N, C)))}, ValueError,
                        ["log_probs", ">= 1", "(0, 2, 5)", "T = 0"]),
    "log_probs N = 0": ({"log_probs": lucid.tensor(np.zeros((T, 0, C)))}, ValueError,
                        ["log_probs", ">= 1", "(6, 0, 5)", "N = 0"]),
    "log_probs C = 0": ({"log_probs": lucid.tensor(np.zeros((T, N, 0)))}, ValueError,
                        ["log_probs", ">= 1", "(6, 2, 0)", "C = 0"]),
    # targets: type and shape
    "targets None": ({"targets": None}, TypeError, ["targets", "None"]),
    "targets float": ({"targets": np.array([[1.0, 2.0], [3.0, 0.0]])}, TypeError,
                      ["targets", "integer dtype", "float64"]),
    "targets float tensor": ({"targets": lucid.tensor([[1.0, 2.0], [3.0, 0.0]])}, TypeError,
                             ["targets", "integer dtype", "float32"]),
    "targets float list": ({"targets": [[1.0, 2.0], [3.0, 0.0]]}, TypeError,
                           ["targets", "integer dtype", "float64"]),
    "targets bool": ({"targets": np.ones((2, 2), dtype=bool)}, TypeError,
                     ["targets", "integer dtype", "bool"]),
    "targets str": ({"targets": "12"}, TypeError, ["targets", "integer dtype", "<U2"]),
    "targets ragged": ({"targets": [[1, 2], [3]]}, ValueError,
                       ["targets", "rectangular", "[[1, 2], [3]]"]),
    "targets rank 3": ({"targets": np.ones((1, 2, 2), dtype=np.int64)}, ValueError,
                       ["targets", "padded (N, S_max) or concatenated", "(1, 2, 2)"]),
    "targets rank 0": ({"targets": np.int64(1)}, ValueError,
                       ["targets", "padded (N, S_max) or concatenated", "()"]),
    "targets 3 rows": ({"targets": np.ones((3, 2), dtype=np.int64)}, ValueError,
                       ["targets", "N = 2 rows", "(3, 2)"]),
    "targets too narrow": ({"targets": np.array([[1], [3]])}, ValueError,
                           ["target_lengths[0]", "width 1", "got 2"]),
    "concatenated too long": ({"targets": np.array([1, 2, 3, 4])}, ValueError,
                              ["targets", "sum(target_lengths) = 3", "got 4"]),
    "concatenated too short": ({"targets": np.array([1, 2])}, ValueError,
                               ["targets", "sum(target_lengths) = 3", "got 2"]),
    # targets: labels within a target's length
    "label = C": ({"targets": np.array([[1, 5], [3, 0]])}, ValueError,
                  ["targets[0, 1] = 5 is not a class index in [0, 5)"]),
    "label 7": ({"targets": np.array([[1, 2], [7, 0]])}, ValueError,
                ["targets[1, 0] = 7 is not a class index in [0, 5)"]),
    "label -1": ({"targets": np.array([[-1, 2], [3, 0]])}, ValueError,
                 ["targets[0, 0] = -1 is not a class index in [0, 5)"]),
    "label = blank": ({"targets": np.array([[1, 0], [3, 0]])}, ValueError,
                      ["targets[0, 1] = 0 is the blank", "blank"]),
    "label = moved blank": ({"blank": 3}, ValueError, ["targets[1, 0] = 3 is the blank"]),
    "label 2**40": ({"targets": np.array([[1, BIG], [3, 0]])}, ValueError,
                    [f"targets[0, 1] = {BIG} is not a class index in [0, 5)"]),
    "label int64 max": ({"targets": np.array([[1, 2], [INT64_MAX, 0]])}, ValueError,
                        [f"targets[1, 0] = {INT64_MAX} is not a class index"]),
    "label int64 min": ({"targets": np.array([[1, 2], [-(2**63), 0]])}, ValueError,
                        [f"targets[1, 0] = {-(2**63)} is not a class index"]),
    "label 2**32 + 1 int64": ({"targets": np.array([[1, 2**32 + 1], [3, 0]])}, ValueError,
                              [f"targets[0, 1] = {2**32 + 1} is not a class index"]),
    "label uint64 top": ({"targets": np.array([[1, 2**64 - 1], [3, 0]], dtype=np.uint64)},
                         ValueError, [f"targets[0, 1] = {2**64 - 1} is not a class index"]),
    "label -1 int32": ({"targets": np.array([[1, 2], [-1, 0]], dtype=np.int32)}, ValueError,
                       ["targets[1, 0] = -1 is not a class index"]),
    "label -1 int8": ({"targets": np.array([[1, 2], [-1, 0]], dtype=np.int8)}, ValueError,
                      ["targets[1, 0] = -1 is not a class index"]),
    "label in list": ({"targets": [[1, 2], [BIG, 0]]}, ValueError,
                      [f"targets[1, 0] = {BIG} is not a class index"]),
    "label beyond int64 in list": ({"targets": [[1, 2**70], [3, 0]]}, ValueError,
                                   ["targets[0, 1]", "int64", str(2**70)]),
    "label in tensor": ({"targets": lucid.tensor([[1, 2], [6, 0]], dtype=lucid.int32)},
                        ValueError, ["targets[1, 0] = 6 is not a class index"]),
    "concatenated label": ({"targets": np.array([1, 2, BIG])}, ValueError,
                           [f"targets[2] = {BIG} is not a class index in [0, 5)"]),
    "concatenated blank": ({"targets": np.array([1, 0, 3])}, ValueError,
                           ["targets[1] = 0 is the blank"]),
    # lengths
    "input_lengths float": ({"input_lengths": [6.0, 5.0]}, TypeError,
                            ["input_lengths", "integer dtype", "float64"]),
    "target_lengths float": ({"target_lengths": np.array([2.0, 1.0])}, TypeError,
                             ["target_lengths", "integer dtype", "float64"]),
    "input_lengths float tensor": ({"input_lengths": lucid.tensor([6.0, 5.0])}, TypeError,
                                   ["input_lengths", "integer dtype", "float32"]),
    "input_lengths bool": ({"input_lengths": np.array([True, True])}, TypeError,
                           ["input_lengths", "integer dtype", "bool"]),
    "input_lengths None": ({"input_lengths": None}, TypeError, ["input_lengths", "None"]),
    "target_lengths None": ({"target_lengths": None}, TypeError, ["target_lengths", "None"]),
    "input_lengths str": ({"input_lengths": "65"}, TypeError, ["input_lengths", "<U2"]),
    "input_lengths short": ({"input_lengths": [6]}, ValueError,
                            ["input_lengths", "shape (2,)", "(1,)"]),
    "target_lengths long": ({"target_lengths": (2, 1, 0)}, ValueError,
                            ["target_lengths", "shape (2,)", "(3,)"]),
    "input_lengths 2-D": ({"input_lengths": np.array([[6, 5]])}, ValueError,
                          ["input_lengths", "shape (2,)", "(1, 2)"]),
    "input_lengths int": ({"input_lengths": 6}, ValueError,
                          ["input_lengths", "shape (2,)", "()"]),
    "input_lengths negative": ({"input_lengths": [6, -1]}, ValueError,
                               ["input_lengths[1]", ">= 0", "-1"]),
    "target_lengths negative": ({"target_lengths": np.array([2, -3], dtype=np.int32)},
                                ValueError, ["target_lengths[1]", ">= 0", "-3"]),
    "input_lengths > T": ({"input_lengths": [7, 5]}, ValueError,
                          ["input_lengths[0] = 7", "6 frames"]),
    "input_lengths 2**40": ({"input_lengths": np.array([6, BIG])}, ValueError,
                            [f"input_lengths[1] = {BIG}", "6 frames"]),
    "input_lengths uint64 top": ({"input_lengths": np.array([6, 2**64 - 1], dtype=np.uint64)},
                                 ValueError, ["input_lengths[1]", "int64", str(2**64 - 1)]),
    "input_lengths beyond int64": ({"input_lengths": [6, 2**70]}, ValueError,
                                   ["input_lengths[1]", "int64", str(2**70)]),
    "target_lengths past width": ({"target_lengths": [3, 1]}, ValueError,
                                  ["target_lengths[0]", "width 2", "got 3"]),
    "target_lengths 2**40": ({"target_lengths": [2, BIG]}, ValueError,
                             ["target_lengths[1]", "width 2", f"got {BIG}"]),
    "target_lengths past concatenated": (
        {"targets": np.array([1, 2, 3]), "target_lengths": [4, 0]}, ValueError,
        ["target_lengths[0]", "3 labels", "got 4"]),
    # blank, reduction, zero_infinity
    "blank = C": ({"blank": 5}, ValueError, ["blank", "[0, 5)", "got 5"]),
    "blank -1": ({"blank": -1}, ValueError, ["blank", "[0, 5)", "got -1"]),
    "blank 2**40": ({"blank": BIG}, ValueError, ["blank", "[0, 5)", f"got {BIG}"]),
    "blank float": ({"blank": 0.0}, TypeError, ["blank", "int", "float 0.0"]),
    "blank bool": ({"blank": False}, TypeError, ["blank", "int", "bool False"]),
    "blank str": ({"blank": "0"}, TypeError, ["blank", "int", "str '0'"]),
    "blank None": ({"blank": None}, TypeError, ["blank", "int", "NoneType"]),
    "reduction avg": ({"reduction": "avg"}, ValueError, ["reduction", "'mean'", "'avg'"]),
    "reduction None": ({"reduction": None}, TypeError, ["reduction", "str", "NoneType"]),
    "reduction array": ({"reduction": np.array(["sum", "mean"])}, TypeError,
                        ["reduction", "str", "ndarray"]),
    "zero_infinity None": ({"zero_infinity": None}, TypeError,
                           ["zero_infinity", "bool", "NoneType"]),
    "zero_infinity str": ({"zero_infinity": "yes"}, TypeError,
                          ["zero_infinity", "bool", "str 'yes'"]),
}

BAD_UNBATCHED = {
    "2-D targets": ({"targets": np.array([[1, 2]])}, ValueError,
                    ["targets", "1-D", "unbatched", "(1, 2)"]),
    "0-d targets": ({"targets": np.int64(1)}, ValueError, ["targets", "1-D", "()"]),
    "lengths of a batch": ({"input_lengths": [6, 6]}, ValueError,
                           ["input_lengths", "int or 0-d", "(2,)"]),
    "2-D length": ({"target_lengths": np.array([[2]])}, ValueError,
                   ["target_lengths", "int or 0-d", "(1, 1)"]),
    "input_length > T": ({"input_lengths": 7}, ValueError, ["input_lengths[0] = 7", "6 frames"]),
    "input_length 2**40": ({"input_lengths": np.int64(BIG)}, ValueError,
                           [f"input_lengths[0] = {BIG}", "6 frames"]),
    "negative length": ({"input_lengths": -1}, ValueError, ["input_lengths", ">= 0", "-1"]),
    "float length": ({"target_lengths": 2.0}, TypeError, ["target_lengths", "float64"]),
    "target_length past targets": ({"target_lengths": 3}, ValueError,
                                   ["target_lengths", "2 entries", "got 3"]),
    "label = C": ({"targets": np.array([1, 5])}, ValueError,
                  ["targets[1] = 5 is not a class index in [0, 5)"]),
    "label 2**40": ({"targets": np.array([BIG, 1])}, ValueError,
                    [f"targets[0] = {BIG} is not a class index"]),
    "label = blank": ({"targets": [1, 2], "blank": 2}, ValueError,
                      ["targets[1] = 2 is the blank"]),
}


def check_error(args, exc, fragments):
    with pytest.raises(exc) as info:
        ctc_loss(**args)
    assert type(info.value) is exc  # not a subclass, nor a bare Exception
    message = str(info.value)
    assert message.startswith("ctc_loss: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", BAD_BATCHED, ids=str)
def test_bad_input_batched(case, tripwire):
    changes, exc, fragments = BAD_BATCHED[case]
    check_error(valid_args(**changes), exc, fragments)


@pytest.mark.parametrize("case", BAD_UNBATCHED, ids=str)
def test_bad_input_unbatched(case, tripwire):
    changes, exc, fragments = BAD_UNBATCHED[case]
    check_error(unbatched_args(**changes), exc, fragments)


def test_target_lengths_whose_sum_wraps_around_int64(tripwire):
    """2 * (2**63 - 1) + 5 wraps to 3 in int64: a checker comparing the sum alone with the 3
    concatenated labels would hand the kernel lengths of 2**63 - 1."""
    lengths = np.array([INT64_MAX, INT64_MAX, 5])
    assert int(lengths.sum()) == 3  # the wrap-around this test is about (numpy does not warn)
    args = valid_args(log_probs=lucid.tensor(log_probs(shape=(T, 3, C))),
                      targets=np.array([1, 2, 3]), input_lengths=[6, 6, 6],
                      target_lengths=lengths)
    check_error(args, ValueError, ["target_lengths[0]", "3 labels", f"got {INT64_MAX}"])


def test_a_failed_call_leaves_nothing_behind():
    """After every failing call, the thread count and the next valid result are as before."""
    before, threads = ctc_loss(**valid_args()).item(), lucid.get_num_threads()
    for changes, exc, _ in BAD_BATCHED.values():
        with pytest.raises(exc):
            ctc_loss(**valid_args(**changes))
    assert ctc_loss(**valid_args()).item() == before
    assert lucid.get_num_threads() == threads


# ----------------------------------------------------------------------------- legal odd input
def reference(lp, targets, il, tl, blank=0):
    return ctc_batch_reference(lp, targets, il, tl, blank)


def strided_views(base):
    """(name, view) pairs holding the values of ``base`` (T, N, C) with unusual strides."""
    wide = np.zeros(base.shape[:2] + (2 * base.shape[2],), dtype=base.dtype)
    wide[:, :, 1::2] = base
    readonly = base.copy()
    readonly.flags.writeable = False
    return [
        ("transposed", np.ascontiguousarray(base.transpose(1, 0, 2)).transpose(1, 0, 2)),
        ("reversed frames", np.ascontiguousarray(base[::-1])[::-1]),
        ("reversed classes", np.ascontiguousarray(base[:, :, ::-1])[:, :, ::-1]),
        ("every other class", wide[:, :, 1::2]),
        ("fortran", np.asfortranarray(base)),
        ("read-only", readonly),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_and_read_only_log_probs_give_the_contiguous_results(dtype):
    base = log_probs(dtype, seed=1)
    args = valid_args()
    want_loss, want_grad = losses_of(**{**args, "log_probs": Tensor(base)})
    for name, view in strided_views(base):
        assert not view.flags.c_contiguous or not view.flags.writeable, name
        np.testing.assert_array_equal(view, base)
        got_loss, got_grad = losses_of(**{**args, "log_probs": Tensor(view)})
        np.testing.assert_array_equal(got_loss, want_loss, err_msg=name)
        np.testing.assert_array_equal(got_grad, want_grad, err_msg=name)


def test_broadcast_log_probs():
    """A zero-stride, read-only broadcast view: every sample sees the same frames."""
    frames = log_probs(seed=2, shape=(T, 1, C))
    view = np.broadcast_to(frames, (T, N, C))
    assert view.strides[1] == 0 and not view.flags.writeable
    args = valid_args(log_probs=Tensor(view))
    got_loss, got_grad = losses_of(**args)
    targets = [[1, 2], [3]]
    ref_loss, ref_grad = reference(np.ascontiguousarray(view), targets, [6, 5], [2, 1])
    np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-9)
    np.testing.assert_allclose(got_grad, ref_grad, atol=1e-9)


def test_read_only_and_strided_targets_and_lengths():
    targets = np.array([[1, 7, 2, 7], [3, 7, 9, 7]])[:, ::2]  # [[1, 2], [3, 9]], strided
    il = np.array([6, 0, 5, 0])[::2]
    tl = np.array([2, 1])
    for arr in (targets, il, tl):
        arr.flags.writeable = False
    assert not targets.flags.c_contiguous and not il.flags.c_contiguous
    got = losses_of(**valid_args(targets=targets, input_lengths=il, target_lengths=tl))
    want = losses_of(**valid_args())
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


PADDING = [-1, C, 0, 2**31, BIG, INT64_MAX, -(2**63)]


@pytest.mark.parametrize("pad", PADDING)
def test_padding_may_hold_anything(pad):
    """Entries past a target's length are never read nor checked, whatever they are."""
    clean = losses_of(**valid_args(targets=np.array([[1, 2, 0], [3, 0, 0]])))
    padded = np.array([[1, 2, pad], [3, pad, pad]], dtype=np.int64)
    got = losses_of(**valid_args(targets=padded))
    np.testing.assert_array_equal(got[0], clean[0])
    np.testing.assert_array_equal(got[1], clean[1])
    got_list = losses_of(**valid_args(targets=padded.tolist()))
    np.testing.assert_array_equal(got_list[0], clean[0])


def test_padding_may_hold_anything_unsigned_and_unbatched():
    clean = losses_of(**valid_args())
    padded = np.array([[1, 2, 2**64 - 1], [3, 2**63, 2**64 - 2]], dtype=np.uint64)
    np.testing.assert_array_equal(losses_of(**valid_args(targets=padded))[0], clean[0])
    one = losses_of(**unbatched_args())
    for pad in PADDING:
        got = losses_of(**unbatched_args(targets=np.array([1, 2, pad, pad])))
        np.testing.assert_array_equal(got[0], one[0])


def test_input_length_zero():
    """No frames: loss 0 for an empty target, inf for any other, and no gradient at all."""
    args = valid_args(input_lengths=[0, 0], target_lengths=[0, 1])
    got_loss, got_grad = losses_of(**args)
    np.testing.assert_array_equal(got_loss, [0.0, np.inf])
    assert not got_grad.any()
    one = losses_of(**unbatched_args(input_lengths=0, target_lengths=0))
    assert one[0] == 0.0 and not one[1].any()


LENGTH_FORMS = {
    "list": lambda v: list(v),
    "tuple": lambda v: tuple(v),
    "int64 array": lambda v: np.array(v, dtype=np.int64),
    "int32 array": lambda v: np.array(v, dtype=np.int32),
    "uint8 array": lambda v: np.array(v, dtype=np.uint8),
    "big-endian array": lambda v: np.array(v, dtype=">i8"),
    "numpy scalars": lambda v: [np.int16(x) for x in v],
    "int64 tensor": lambda v: lucid.tensor(v, dtype=lucid.int64),
    "int32 tensor": lambda v: lucid.tensor(v, dtype=lucid.int32),
}


@pytest.mark.parametrize("form", LENGTH_FORMS)
def test_length_containers(form):
    make = LENGTH_FORMS[form]
    want = losses_of(**valid_args())
    got = losses_of(**valid_args(input_lengths=make([6, 5]), target_lengths=make([2, 1]),
                                 targets=make([[1, 2], [3, 9]])))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize(
    "length",
    [lambda v: v, np.int64, np.int32, np.asarray, lambda v: [v], lucid.tensor,
     lambda v: lucid.tensor([v], dtype=lucid.int32)],
    ids=["int", "np.int64", "np.int32", "0-d array", "list of one", "0-d tensor", "(1,) tensor"],
)
def test_unbatched_lengths(length):
    """Unbatched input takes 0-d lengths in every form; the loss is that of the batch of one."""
    batched = losses_of(**valid_args(log_probs=lucid.tensor(log_probs()[:, :1]),
                                     targets=[[1, 2]], input_lengths=[6], target_lengths=[2]))
    got_loss, got_grad = losses_of(**unbatched_args(input_lengths=length(6),
                                                    target_lengths=length(2)))
    assert got_loss.shape == () and got_grad.shape == (T, C)
    np.testing.assert_array_equal(got_loss, batched[0][0])
    np.testing.assert_array_equal(got_grad, batched[1][:, 0])


def test_empty_targets_in_every_form():
    """All targets empty: [] and zero-width arrays are fine; each loss is -sum lp[:, blank]."""
    lp = log_probs()
    want = -lp[:, :, 0].sum(axis=0)
    for targets in ([], (), np.zeros(0, dtype=np.int64), np.zeros((2, 0), dtype=np.int32)):
        got, _ = losses_of(**valid_args(targets=targets, input_lengths=[6, 6],
                                        target_lengths=[0, 0]))
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_makes_only_its_sample_nan(dtype):
    lp = log_probs(dtype, seed=3)
    clean = losses_of(**valid_args(log_probs=Tensor(lp)))
    lp[2, 1, 3] = np.nan  # sample 1 emits its label 3 at frame 2
    got_loss, got_grad = losses_of(**valid_args(log_probs=Tensor(lp)))
    assert np.isnan(got_loss[1]) and np.isnan(got_grad[:5, 1]).all()
    assert not got_grad[5:, 1].any()  # past input_lengths[1] = 5
    np.testing.assert_array_equal(got_loss[0], clean[0][0])
    np.testing.assert_array_equal(got_grad[:, 0], clean[1][:, 0])


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_neg_inf_is_an_impossible_emission(dtype):
    """-inf removes the paths through it (compare with the reference); a frame where every
    needed class is -inf leaves no path: loss inf, gradient 0."""
    lp = log_probs(dtype, seed=4)
    lp[0, 0, 0] = -np.inf  # sample 0 may not start with a blank
    lp[3, 0, 2] = -np.inf  # nor emit its label 2 at frame 3
    lp[1, 1, [0, 3]] = -np.inf  # sample 1 can emit neither blank nor 3 at frame 1
    got_loss, got_grad = losses_of(**valid_args(log_probs=Tensor(lp)))
    ref_loss, ref_grad = reference(lp.astype(np.float64), [[1, 2], [3]], [6, 5], [2, 1])
    assert np.isfinite(ref_loss[0]) and ref_loss[1] == np.inf
    rtol, atol = (2e-5, 1e-5) if dtype == np.float32 else (1e-9, 1e-9)  # the documented accuracy
    np.testing.assert_allclose(got_loss, ref_loss, rtol=rtol)
    np.testing.assert_allclose(got_grad, ref_grad, atol=atol)
    assert got_grad[0, 0, 0] == 0.0 and got_grad[3, 0, 2] == 0.0
    assert not got_grad[:, 1].any()


def test_requires_grad_read_only_leaf_is_not_written():
    """The gradient is a fresh array: a read-only log_probs leaf is never written to."""
    lp = log_probs(seed=5)
    lp.flags.writeable = False
    leaf = Tensor(lp, requires_grad=True)
    ctc_loss(**valid_args(log_probs=leaf), reduction="sum").backward()
    assert leaf.grad.numpy().shape == lp.shape
    np.testing.assert_array_equal(leaf.numpy(), log_probs(seed=5))


def test_unbatched_matches_reference():
    lp = log_probs()[:, 0]
    got_loss, got_grad = losses_of(**unbatched_args())
    ref_loss, ref_grad = numpy_ctc(lp, [1, 2])
    np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-9)
    np.testing.assert_allclose(got_grad, ref_grad, atol=1e-9)


@pytest.mark.filterwarnings("ignore::lucid.LogProbsWarning")  # free log_probs, on purpose
def test_float32_loss_beyond_its_range_is_inf_without_a_warning():
    """-3e38 per frame is a legal float32 log-probability; six of them sum past float32's
    range (3.4e38), so the float32 loss is inf (the float64 one is finite)."""
    lp = np.full((T, N, C), -3e38, dtype=np.float32)
    args = valid_args(log_probs=Tensor(lp), reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # -3e38 everywhere is no distribution: the LogProbsWarning is right, and not the point
        warnings.filterwarnings("ignore", category=lucid.LogProbsWarning)
        got = ctc_loss(**args).numpy()
    assert got.dtype == np.float32 and got[0] == np.inf
    wide = ctc_loss(**{**args, "log_probs": Tensor(lp.astype(np.float64))}).numpy()
    assert np.isfinite(wide).all() and (wide > np.finfo(np.float32).max).all()


def test_numpy_bool_zero_infinity():
    args = valid_args(input_lengths=[1, 5])  # sample 0 cannot fit [1, 2] in one frame
    got = ctc_loss(**args, zero_infinity=np.bool_(True), reduction="none").numpy()
    assert got[0] == 0.0 and np.isfinite(got[1])


def test_an_overlong_target_costs_no_workspace_and_is_infinite():
    # The workspace is sized from the targets that can fit; a 10**6-label target in 1000
    # frames is +inf without a DP (it used to make the kernel ask for ~16 GB and fail).
    lp = lucid.tensor(np.log(np.full((1000, 2, 5), 0.2)))
    loss = ctc_loss(lp, np.ones((2, 10**6), np.int64), [1000, 1000], [10**6, 3],
                    reduction="none")
    ref, _ = numpy_ctc(lp.numpy()[:, 1], [1, 1, 1])
    assert np.isinf(loss.numpy()[0])
    np.testing.assert_allclose(loss.numpy()[1], ref, rtol=1e-12)


def test_batch_first_log_probs_get_a_layout_hint():
    lp = lucid.tensor(np.log(np.full((2, 7, 4), 0.25)))  # (N, T, C) by mistake
    with pytest.raises(ValueError, match=r"input_lengths must have shape \(7,\).*\(T, N, C\).*"
                                         r"transpose\(0, 1\)"):
        ctc_loss(lp, [[1, 2], [3, 1]], [7, 7], [2, 2])
    # lengths that match neither axis get the plain message
    with pytest.raises(ValueError, match=r"must have shape \(7,\)") as info:
        ctc_loss(lp, [[1, 2], [3, 1]], [7, 7, 7], [2, 2])
    assert "transpose" not in str(info.value)


def test_empty_nested_list_is_an_empty_padded_target():
    lp = lucid.tensor(np.log(np.full((4, 2, 3), 1 / 3)))
    loss = ctc_loss(lp, [[], []], [4, 3], [0, 0], reduction="none")
    np.testing.assert_allclose(loss.numpy(), [-4 * np.log(1 / 3), -3 * np.log(1 / 3)])
