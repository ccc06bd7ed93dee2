"""Gradients of every op against central finite differences, and the rules of the backward pass."""

import numpy as np
import pytest
from helpers.gradcheck import check_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import lucid

rng = np.random.default_rng(1234)


def normal(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


# ------------------------------------------------------------------ elementwise ops
@pytest.mark.parametrize(
    "name, fn, make",
    [
        ("add", lambda a, b: a + b, normal),
        ("sub", lambda a, b: a - b, normal),
        ("mul", lambda a, b: a * b, normal),
        ("div", lambda a, b: a / b, positive),
        ("rsub_expr", lambda a, b: (a - b) * (b - a), normal),
    ],
)
def test_binary_op_gradients(name, fn, make):
    check_gradients(fn, make(3, 4), make(3, 4))


@pytest.mark.parametrize(
    "name, fn",
    [
        ("neg", lambda x: -x),
        ("exp", lambda x: x.exp()),
        ("log", lambda x: x.log()),
        ("pow2", lambda x: x**2),
        ("pow3", lambda x: x**3),
        ("pow_neg1", lambda x: x**-1),
        ("pow_half", lambda x: x**0.5),
        ("pow_2.5", lambda x: x**2.5),
        ("scalar_add", lambda x: x + 2.0),
        ("scalar_radd", lambda x: 2.0 + x),
        ("scalar_rsub", lambda x: 1.5 - x),
        ("scalar_rmul", lambda x: 3 * x),
        ("scalar_div", lambda x: x / 4.0),
        ("scalar_rdiv", lambda x: 2.0 / x),
    ],
)
def test_unary_op_gradients(name, fn):
    check_gradients(fn, positive(2, 3))


def test_pow_with_tensor_exponent_matches_finite_differences():
    rng = np.random.default_rng(5)
    check_gradients(lambda x, y: x ** y, rng.uniform(0.5, 2.0, (3, 2)), rng.normal(size=(2,)))


# ---------------------------------------------------------------------- broadcasting
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((3, 1), (1, 4)), ((4,), (3, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1)), ((1,), ())],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcast_gradients_sum_back_to_input_shapes(shape_a, shape_b, op):
    fns = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
    }
    check_gradients(fns[op], positive(*shape_a), positive(*shape_b))


@settings(max_examples=30, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_broadcast_gradients_any_shapes(shapes, seed):
    r = np.random.default_rng(seed)
    a = r.uniform(0.5, 2.0, shapes.input_shapes[0])
    b = r.uniform(0.5, 2.0, shapes.input_shapes[1])
    check_gradients(lambda x, y: x * y + x / y - y, a, b, seed=seed)


def test_broadcast_gradient_value_is_a_sum():
    # d/db sum(a + b) for b broadcast over 3 rows is 3 for every element of b.
    a = lucid.tensor(np.ones((3, 4)), requires_grad=True)
    b = lucid.tensor(np.ones(4), requires_grad=True)
    (a + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), np.full(4, 3.0))
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((3, 4)))


# ------------------------------------------------------------------------ reductions
@pytest.mark.parametrize(
    "dim, keepdim", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                     ((0, 2), True), (None, True)],
)
def test_sum_and_mean_gradients(dim, keepdim):
    x = normal(2, 3, 4)
    check_gradients(lambda t: t.sum(dim=dim, keepdim=keepdim), x)
    check_gradients(lambda t: t.mean(dim=dim, keepdim=keepdim), x)


def test_sum_and_mean_values_and_shapes():
    x = normal(2, 3, 4)
    t = lucid.tensor(x)
    np.testing.assert_allclose(t.sum(dim=1).numpy(), x.sum(axis=1))
    assert t.sum(dim=1, keepdim=True).shape == (2, 1, 4)
    assert t.sum().shape == ()
    np.testing.assert_allclose(t.mean(dim=(0, 2)).numpy(), x.mean(axis=(0, 2)))
    assert t.mean(dim=-1, keepdim=True).shape == (2, 3, 1)


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_max_gradient_without_ties(dim, keepdim):
    x = rng.permutation(12).reshape(3, 4).astype(np.float64)  # distinct values: no ties
    check_gradients(lambda t: t.max(dim=dim, keepdim=keepdim), x)


def test_max_values():
    x = normal(3, 4)
    t = lucid.tensor(x)
    np.testing.assert_array_equal(t.max().numpy(), x.max())
    np.testing.assert_array_equal(t.max(dim=1).numpy(), x.max(axis=1))
    assert t.max(dim=0, keepdim=True).shape == (1, 4)


def test_max_ties_share_the_gradient_equally():
    x = lucid.tensor([[1.0, 5.0, 5.0, 5.0], [2.0, 7.0, 7.0, 0.0]], requires_grad=True)
    x.max(dim=1).backward(gradient=np.array([3.0, 1.0]))
    # row 0: three-way tie, each gets 3/3; row 1: two-way tie, each gets 1/2
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 1, 1], [0, 0.5, 0.5, 0]])

    y = lucid.tensor([4.0, 4.0, 1.0, 4.0], requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad.numpy(), [1 / 3, 1 / 3, 0, 1 / 3])


def test_max_two_way_tie_matches_central_difference():
    # At a two-way tie, +eps on one element raises the max by eps and -eps leaves it, so the
    # central difference is exactly 1/2: the equal share.
    check_gradients(lambda t: t.max(dim=1), np.array([[3.0, 3.0, 1.0], [0.0, 2.0, 2.0]]))


# ---------------------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3, 4), (4, 2)),
        ((2, 3, 4), (4, 5)),  # (T, N, F) @ (F, C)
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((2, 3, 4), (4,)),
        ((4,), (2, 4, 3)),
        ((4,), (4,)),
    ],
    ids=lambda s: "x".join(map(str, s)) or "scalar",
)
def test_matmul_gradients(shape_a, shape_b):
    a, b = normal(*shape_a), normal(*shape_b)
    np.testing.assert_allclose((lucid.tensor(a) @ lucid.tensor(b)).numpy(), a @ b)
    check_gradients(lambda x, y: x @ y, a, b)


def test_matmul_with_numpy_constant_on_either_side():
    w = normal(4, 2)
    check_gradients(lambda x: x @ w, normal(3, 4))
    check_gradients(lambda x: w.T @ x, normal(4, 3))  # ndarray @ Tensor defers to __rmatmul__


# ---------------------------------------------------------------------- shape ops
@pytest.mark.parametrize(
    "name, fn",
    [
        ("reshape_args", lambda t: t.reshape(4, 6)),
        ("reshape_tuple", lambda t: t.reshape((6, -1))),
        ("reshape_flat", lambda t: t.reshape(-1)),
        ("transpose", lambda t: t.transpose(0, 2)),
        ("transpose_neg", lambda t: t.transpose(-1, 0)),
        ("permute_args", lambda t: t.permute(2, 0, 1)),
        ("permute_tuple", lambda t: t.permute((1, 2, 0))),
        ("permute_neg", lambda t: t.permute(-1, -3, -2)),
    ],
)
def test_shape_op_gradients(name, fn):
    check_gradients(fn, normal(2, 3, 4))


def test_shape_op_values():
    x = normal(2, 3, 4)
    t = lucid.tensor(x)
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), np.swapaxes(x, 0, 2))
    np.testing.assert_array_equal(t.permute(2, 0, 1).numpy(), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.reshape(4, 6).numpy(), x.reshape(4, 6))
    with pytest.raises(ValueError):
        t.permute(0, 0, 1)


@pytest.mark.parametrize(
    "name, index",
    [
        ("int", 1),
        ("negative_int", -1),
        ("slice", slice(1, 3)),
        ("step_slice", (slice(None), slice(None, None, 2))),
        ("int_and_slice", (0, slice(1, None))),
        ("fancy_repeated", [0, 2, 0, 0]),
        ("fancy_pair_repeated", ([0, 0, 1], [1, 1, 3])),
        ("ellipsis", (Ellipsis, 2)),
        ("newaxis", (None, 1)),
        ("bool_mask", np.array([True, False, True])),
    ],
)
def test_indexing_gradients(name, index):
    x = normal(3, 4)
    np.testing.assert_array_equal(lucid.tensor(x)[index].numpy(), x[index])
    check_gradients(lambda t: t[index], x)


def test_repeated_fancy_index_accumulates_every_occurrence():
    x = lucid.tensor([10.0, 20.0, 30.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_indexing_with_tensor_indices():
    x = lucid.tensor(normal(3, 4), requires_grad=True)
    idx = lucid.tensor([2, 2, 0])
    x[idx, lucid.tensor([1, 1, 3])].sum().backward()
    want = np.zeros((3, 4))
    want[2, 1], want[0, 3] = 2.0, 1.0
    np.testing.assert_array_equal(x.grad.numpy(), want)


# ------------------------------------------------------------------------- to(dtype)
def test_to_dtype_gradient_flows_and_keeps_leaf_dtype():
    x = lucid.tensor([1.0, 2.0, 3.0], dtype=lucid.float64, requires_grad=True)
    y = x.to(lucid.float32)
    assert y.dtype is lucid.float32 and y.requires_grad
    (y * lucid.tensor([2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.dtype is lucid.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


def test_to_dtype_round_trip_gradcheck():
    # A float32 detour rounds to ~1e-7 relative, so the step must be large; f is quadratic,
    # for which central differences are exact up to that rounding.
    check_gradients(lambda t: (t.to("float32").to(lucid.float64) * t), positive(5),
                    eps=1e-2, rtol=1e-4, atol=1e-4)


def test_to_same_dtype_is_identity_and_int_target_has_no_grad():
    x = lucid.tensor([1.5, 2.5], requires_grad=True)
    assert x.to(lucid.float32) is x
    n = x.to(lucid.int64)
    assert n.dtype is lucid.int64 and not n.requires_grad


# --------------------------------------------------------------------- composites
def test_composite_expression_gradcheck():
    def f(a, b, c):
        h = (a @ b).exp() / (1.0 + (a @ b).exp())
        return ((h - c) ** 2).mean(dim=0) + (h * 0.5).log().sum() - (-b).max()

    check_gradients(f, normal(3, 4) * 0.5, normal(4, 2) * 0.5, normal(3, 2))


def test_composite_expression_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = normal(2, 3, 4), normal(4, 5)

    la = lucid.tensor(a, requires_grad=True)
    lb = lucid.tensor(b, requires_grad=True)
    lout = ((la @ lb).exp().sum(dim=-1, keepdim=True).log() * la[..., :1] - lb.mean()).sum()
    lout.backward()

    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tout = ((ta @ tb).exp().sum(dim=-1, keepdim=True).log() * ta[..., :1] - tb.mean()).sum()
    tout.backward()

    np.testing.assert_allclose(lout.item(), tout.item(), rtol=1e-12)
    np.testing.assert_allclose(la.grad.numpy(), ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(lb.grad.numpy(), tb.grad.numpy(), rtol=1e-10)


# ----------------------------------------------------------------- backward() rules
def test_tensor_used_twice_accumulates():
    x = lucid.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_intermediate_used_twice_accumulates():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    (y * y + y).sum().backward()  # d/dx (9x^2 + 3x) = 18x + 3
    np.testing.assert_array_equal(x.grad.numpy(), [21.0, 39.0])


def test_gradient_reaching_a_leaf_and_an_intermediate_is_not_double_counted():
    # out = (a + (a + a))^2 = 9a^2: the add node hands one gradient array to the leaf a and to
    # the intermediate a + a, whose own backward then adds into a again.
    a = lucid.tensor([1.0, 2.0, 3.0], dtype=lucid.float64, requires_grad=True)
    n = a + (a + a)
    (n * n).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [18.0, 36.0, 54.0])


def test_backward_does_not_alias_or_mutate_the_given_gradient():
    a = lucid.tensor([1.0, 2.0], requires_grad=True)
    b = lucid.tensor([3.0, 4.0], requires_grad=True)
    w = np.array([1.0, 1.0], dtype=np.float32)
    wt = lucid.tensor([1.0, 1.0])
    (a + b).backward(gradient=w)
    (a - b).backward(gradient=wt)
    (a * 3.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(w, [1.0, 1.0])
    np.testing.assert_array_equal(wt.numpy(), [1.0, 1.0])
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


# Random small graphs: every op reads earlier nodes, so tensors are shared and reused freely.
GRAPH_OPS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "neg": lambda x, y: -x,
    "half": lambda x, y: x * 0.5,
    "gather": lambda x, y: x[[2, 0, 0]],
    "reshape": lambda x, y: x.reshape(3, 1).reshape(3),
    "sum_bcast": lambda x, y: x.sum() + y,
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_leaves=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_graph_gradients(data, n_leaves, seed):
    steps = data.draw(st.lists(
        st.tuples(st.sampled_from(sorted(GRAPH_OPS)), st.integers(0, 100), st.integers(0, 100)),
        min_size=1, max_size=8,
    ))

    def program(*leaves):
        nodes = list(leaves)
        for name, i, j in steps:
            nodes.append(GRAPH_OPS[name](nodes[i % len(nodes)], nodes[j % len(nodes)]))
        return nodes[-1] + nodes[len(nodes) // 2]

    r = np.random.default_rng(seed)
    check_gradients(program, *(r.uniform(0.5, 1.5, 3) for _ in range(n_leaves)), seed=seed)


def _all_programs(n_leaves, n_steps, ops):
    """Every straight-line program of n_steps binary ops, each reading any two earlier nodes."""
    programs = [[]]
    for step in range(n_steps):
        n_nodes = n_leaves + step
        programs = [p + [(op, i, j)] for p in programs for op in ops
                    for i in range(n_nodes) for j in range(n_nodes)]
    return programs


@pytest.mark.parametrize("n_leaves, n_steps", [(1, 3), (2, 2)])
def test_every_small_graph_of_add_sub_mul(n_leaves, n_steps):
    # Exhaustive rather than sampled: sharing bugs hide in specific orders of reuse.
    ops = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}
    leaves = [np.array([0.7, 1.1, 1.3]) + 0.2 * k for k in range(n_leaves)]
    for steps in _all_programs(n_leaves, n_steps, sorted(ops)):

        def program(*xs, steps=steps):
            nodes = list(xs)
            for name, i, j in steps:
                nodes.append(ops[name](nodes[i], nodes[j]))
            return nodes[-1]

        try:
            check_gradients(program, *leaves)
        except AssertionError as err:
            raise AssertionError(f"program {steps}: {err}") from None


def test_grads_accumulate_across_backward_calls():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


def test_grad_dtype_matches_leaf_dtype():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    w = lucid.tensor([1.0, 2.0], dtype=lucid.float64)
    (x * w).sum().backward()
    assert x.grad.dtype is lucid.float32


def test_ten_thousand_op_chain_backward():
    x = lucid.tensor([1.5], dtype=lucid.float64, requires_grad=True)
    y = x
    for i in range(10_000):
        y = y * (2.0 if i % 2 == 0 else 0.5)  # exact in binary: the product is 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0])
    np.testing.assert_array_equal(y.numpy(), [1.5])


def test_second_backward_through_freed_graph_raises():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_shared_subgraph_freed_by_first_backward_raises():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    (h * 2.0).sum().backward()
    with pytest.raises(RuntimeError):
        (h * 3.0).sum().backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 * 2x
    with pytest.raises(RuntimeError):
        y.backward()  # the second call did not retain


def test_backward_on_non_scalar_needs_gradient():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError):
        y.backward()
    y.backward(gradient=lucid.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_shape_is_checked():
    y = lucid.tensor([1.0, 2.0], requires_grad=True) * 2.0
    with pytest.raises(ValueError):
        y.backward(gradient=np.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError):
        (lucid.tensor([1.0]) * 2.0).sum().backward()


def test_backward_on_one_element_non_scalar_is_allowed():
    x = lucid.tensor([[3.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[6.0]])


def test_only_inputs_that_require_grad_get_grads():
    a = lucid.tensor([1.0, 2.0], requires_grad=True)
    b = lucid.tensor([3.0, 4.0])
    (a * b).sum().backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


def test_is_leaf_and_detach():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    assert x.is_leaf and not y.is_leaf
    assert y.grad_fn is not None and x.grad_fn is None
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), y.numpy())
    (d * x).sum().backward()  # no gradient flows through the detached branch
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_requires_grad_cannot_be_switched_off_on_non_leaf():
    y = lucid.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError):
        y.requires_grad = False


# ---------------------------------------------------------------------------- no_grad
def test_no_grad_context_records_nothing_and_restores():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    assert lucid.is_grad_enabled()
    with lucid.no_grad():
        assert not lucid.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert lucid.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert (x * 2.0).requires_grad


def test_no_grad_restores_state_after_exception():
    with pytest.raises(KeyError):
        with lucid.no_grad():
            raise KeyError("boom")
    assert lucid.is_grad_enabled()


def test_no_grad_nests():
    with lucid.no_grad():
        with lucid.no_grad():
            assert not lucid.is_grad_enabled()
        assert not lucid.is_grad_enabled()
    assert lucid.is_grad_enabled()


def test_no_grad_decorator():
    x = lucid.tensor([1.0, 2.0], requires_grad=True)

    @lucid.no_grad()
    def double(t):
        """Doubles."""
        assert not lucid.is_grad_enabled()
        return t * 2.0

    y = double(x)
    assert not y.requires_grad and y.grad_fn is None
    assert lucid.is_grad_enabled()
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])


def test_backward_from_threads_into_shared_leaves_loses_no_update():
    """numpy releases the GIL inside ``+=``: without a lock around the accumulation, two threads
    adding into one leaf's .grad overwrite each other's sums (hundreds of entries were wrong
    on Python 3.11, hundreds of thousands on 3.13)."""
    import threading

    weight = lucid.tensor(np.zeros(1 << 20, np.float32), requires_grad=True)
    scale = lucid.tensor(np.ones(1 << 20, np.float32))
    start = threading.Barrier(4)

    def worker():
        start.wait()
        for _ in range(25):
            (weight * scale).sum().backward()  # each pass adds 1 to every entry

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrong = int(np.count_nonzero(weight.grad.numpy() != 100.0))
    assert wrong == 0, f"{wrong} entries lost an update"


def test_a_gradient_passed_through_is_copied_and_an_owned_one_handed_over():
    a = lucid.tensor(np.ones(4), requires_grad=True)
    b = lucid.tensor(np.ones(4), requires_grad=True)
    (a + b).sum().backward()  # add's backward returns the incoming gradient for both
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad = None
    (a * 3.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3, 3, 3, 3])
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1, 1, 1])
    x = lucid.tensor(np.ones((2, 3)), requires_grad=True)
    w = lucid.tensor(np.ones((3, 4)), requires_grad=True)
    loss = (x @ w).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)  # a retained graph hands over nothing: 2x, not 4x
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 12.0))
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 4), 6.0))
