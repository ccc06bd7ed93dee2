"""Reverse-mode autograd: graph nodes, the backward pass and grad mode.

Each op that needs a gradient records a :class:`Node` holding its input tensors and a
``backward`` function that maps the output's gradient to one gradient per input (or None).
:func:`run_backward` orders the graph with an iterative depth-first search (deep graphs must
not hit Python's recursion limit), then walks it in reverse, summing gradients with ``+``
so that a tensor used twice receives both contributions. A leaf keeps a gradient array as
its ``.grad`` without copying it when nothing else can reach that array's memory.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from lucid import _buffers

if TYPE_CHECKING:
    from lucid._tensor import Tensor

BackwardFn = Callable[[np.ndarray], Sequence[Optional[np.ndarray]]]

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside ``no_grad``)."""
    return getattr(_state, "enabled", True)


class no_grad:
    """Context manager and decorator that turns off graph recording.

    >>> import lucid
    >>> x = lucid.tensor([1.0, 2.0], requires_grad=True)
    >>> with lucid.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _mode = False

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _state.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper

    def _fresh(self) -> no_grad:
        """A new context of the same mode (a decorated function may be re-entered)."""
        return type(self)()


class enable_grad(no_grad):
    """Context manager and decorator that turns graph recording back on (inside ``no_grad``).

    >>> import lucid
    >>> x = lucid.tensor([1.0], requires_grad=True)
    >>> with lucid.no_grad():
    ...     with lucid.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """

    _mode = True


class set_grad_enabled(no_grad):
    """Turn graph recording on or off: as a function call, a context manager or a decorator.

    >>> import lucid
    >>> x = lucid.tensor([1.0], requires_grad=True)
    >>> with lucid.set_grad_enabled(False):
    ...     y = x * 2
    >>> y.requires_grad, lucid.is_grad_enabled()
    (False, True)
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        _state.enabled = self._mode  # a plain call takes effect at once, as in PyTorch

    def __enter__(self) -> None:
        pass  # switched by __init__; __exit__ restores the mode from before it

    def __call__(self, fn: Callable) -> Callable:
        _state.enabled = self._prev  # used as a decorator: only calls of fn switch the mode
        return super().__call__(fn)

    def _fresh(self) -> no_grad:
        return set_grad_enabled(self._mode)


class Node:
    """One recorded op: its inputs and how to send a gradient back to them."""

    __slots__ = ("name", "inputs", "backward")

    def __init__(self, name: str, inputs: Sequence[Tensor], backward: BackwardFn) -> None:
        self.name = name
        self.inputs = tuple(inputs)
        self.backward: BackwardFn | None = backward

    def __repr__(self) -> str:
        return f"<{self.name}>"


def record(
    data: np.ndarray,
    inputs: Sequence[Tensor],
    backward: Callable,
    name: str,
    device: str | None = None,
) -> Tensor:
    """Wrap an op's result in a Tensor; record a graph node when grad mode is on and an input
    needs grad. Every differentiable op goes through here.

    ``backward`` maps the output's gradient to one gradient (or None) per input.
    """
    from lucid._tensor import Tensor  # _tensor builds on this module

    # The op chose the dtype (lucid/_dtype.py has the promotion rules); recording keeps it.
    out = Tensor(np.asarray(data), device=device or inputs[0].device)
    if is_grad_enabled() and any(t.requires_grad for t in inputs):
        out._requires_grad = True
        out.grad_fn = Node(name, inputs, backward)
    return out


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes numpy broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _topological_order(root: Tensor) -> list:
    """Tensors with a grad_fn reachable from root, each after all tensors it depends on."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, children_done = stack.pop()
        if children_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        for parent in t.grad_fn.inputs:
            if parent.grad_fn is not None and id(parent) not in visited:
                stack.append((parent, False))
    return order


def run_backward(root: Tensor, gradient: np.ndarray, retain_graph: bool) -> None:
    """Accumulate d root / d leaf (times ``gradient``) into every leaf's ``.grad``."""
    from lucid._tensor import Tensor

    if root.grad_fn is None:
        _accumulate_leaf(root, gradient.copy(), Tensor)
        return
    pending = {id(root): gradient}
    del gradient  # the caller's reference is enough: the root gradient is never handed over
    for t in reversed(_topological_order(root)):
        node = t.grad_fn
        grad = pending.pop(id(t), None)
        if grad is None:  # no path from root carries a gradient here
            continue
        if node.backward is None:
            raise RuntimeError(
                "backward: trying to go through the graph a second time, but its saved values "
                "were freed by the first backward(); pass retain_graph=True to the first call"
            )
        input_grads = list(node.backward(grad))
        # Drop every reference this loop holds that is not a result, so that a leaf can tell
        # by reference counts whether it may keep its gradient (see _unshared); freeing the
        # backward also frees the arrays its closure saved, unless the graph is kept.
        del grad
        if not retain_graph:
            node.backward = None
        for i, parent in enumerate(node.inputs):
            g, input_grads[i] = input_grads[i], None
            if g is None or not parent.requires_grad:
                continue
            g = unbroadcast(np.asarray(g), parent.shape).astype(parent._data.dtype, copy=False)
            if parent.grad_fn is None:
                counts = _reference_counts(g)  # a statement of its own, as _ALONE was measured
                _accumulate_leaf(parent, g if _unshared(g, counts) else g.copy(), Tensor)
            elif id(parent) in pending:
                pending[id(parent)] = pending[id(parent)] + g
            else:
                pending[id(parent)] = g
            del g


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray, tensor_cls: type) -> None:
    """Add grad to leaf.grad; grad must be the leaf's to keep (no other array shares it)."""
    if leaf.grad is None:
        leaf.grad = tensor_cls(grad, device=leaf.device)
    else:
        leaf.grad._data += grad


def _reference_counts(arr: np.ndarray) -> tuple[int, int]:
    """sys.getrefcount of arr and of its base (0 if it owns its memory)."""
    return sys.getrefcount(arr), (0 if arr.base is None else sys.getrefcount(arr.base))


def _counts_when_alone() -> tuple[int, int]:
    """What _reference_counts gives for an array held by one local variable of its caller (as
    run_backward holds g), and for the base of a view that nothing else holds.

    Measured rather than assumed: the references the interpreter holds during a call differ
    between Python versions.
    """
    owner = np.empty(1)
    view = np.empty(1)[:]
    return _reference_counts(owner)[0], _reference_counts(view)[1]


_ALONE = _buffers.untraced(_counts_when_alone)


def _unshared(g: np.ndarray, counts: tuple[int, int]) -> bool:
    """Whether g's memory can be reached only through the caller's one local reference to g,
    given ``counts = _reference_counts(g)`` taken in the caller: then a leaf may keep g itself
    as its gradient instead of a copy.

    Nothing else may hold g (a saved value, the incoming gradient, another input's result, a
    closure kept by retain_graph), and g must own its memory or view that of an ndarray that
    only g holds (a view holds a reference to its base, so a second view counts too).
    """
    base = g.base
    if base is not None and (type(base) is not np.ndarray or base.base is not None):
        return False  # memory lent by some other object: a buffer, a memmap, ...
    refs, base_refs = counts
    if base is not None and _buffers.holds(base):  # lent by lucid's buffer cache
        base_refs -= 1  # the cache's own reference, which lends the block to no one else
    return g.flags.writeable and refs <= _ALONE[0] and (base is None or base_refs <= _ALONE[1])
