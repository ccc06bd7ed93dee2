"""Reverse-mode autograd: graph nodes, the backward pass and grad mode.

This module sits below the tensor: it builds no tensor and imports nothing of lucid but the
list of lucid 3 names it lacks. Each op that needs a gradient records
(``lucid._tensor._graph.record``) a :class:`Node` holding its input tensors and a
``backward`` function that maps the output's gradient to one gradient per input (or None).
:func:`run_backward` orders the graph with an iterative depth-first search (deep graphs must
not hit Python's recursion limit), then walks it in reverse, summing gradients with ``+`` so
that a tensor used twice receives both contributions.

Who owns a gradient array: a leaf's ``.grad`` is the leaf's alone, and backward passes add
into it in place, under one lock (numpy releases the GIL inside ``+=``: two threads sending
gradients into shared parameters would otherwise lose updates). The first gradient a leaf
receives becomes its ``.grad`` without a copy only when its owner says it may: an op that
records ``owned=True`` promises that each array its backward returns is new (or saved by
that backward alone) and returned for one input only; the engine hands such an array over
once the backward is freed (no ``retain_graph``). An array the engine made itself (a sum
over broadcast axes, a dtype cast) is handed over too. Anything else is copied: the incoming
gradient passed through (``a + b``), a saved array of a retained graph.

Hooks (``Tensor.register_hook``) see the whole gradient of their tensor in one backward pass,
as PyTorch's do: a non-leaf's hooks run when all its contributions are summed, before its
node's backward; a leaf's contributions are summed apart from the others, and its hooks run on
the sum before it enters ``.grad``. A hook may return a new gradient, which replaces the old
from there on. Tensors that ``retain_grad()`` keep their (hooked) gradient in ``.grad``.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from lucid._missing import module_getattr

if TYPE_CHECKING:
    from lucid._tensor import Tensor

BackwardFn = Callable[[np.ndarray], Sequence[np.ndarray | None]]

_state = threading.local()
_grad_lock = threading.Lock()  # held while a gradient is added into a leaf's .grad
_hook_ids = itertools.count()


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

    __slots__ = ("name", "inputs", "backward", "owned")

    def __init__(self, name: str, inputs: Sequence[Tensor], backward: BackwardFn,
                 owned: bool = False) -> None:
        self.name = name
        self.inputs = tuple(inputs)
        self.backward: BackwardFn | None = backward
        self.owned = owned  # see lucid._tensor._graph.record

    def __repr__(self) -> str:
        return f"<{self.name}>"


class RemovableHandle:
    """What ``Tensor.register_hook`` returns: ``remove()`` takes the hook off again. As a
    context manager it removes the hook on leaving the ``with`` block."""

    __slots__ = ("_hooks", "id")

    def __init__(self, hooks: dict, hook: Callable) -> None:
        self._hooks = hooks
        self.id = next(_hook_ids)
        hooks[self.id] = hook

    def remove(self) -> None:
        """Take the hook off (a second call does nothing)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _run_hooks(t: Tensor, grad: np.ndarray) -> np.ndarray:
    """``grad`` after each of t's hooks, in the order they were registered. A hook sees a
    read-only tensor (the array may be shared with other branches of the graph); what it
    returns, if not None, replaces the gradient."""
    for hook in list(t._grad_hooks.values()):
        view = grad.view()
        view.flags.writeable = False
        out = hook(t._wrap(view))
        if out is None:
            continue
        if not hasattr(out, "_data") or out.shape != t.shape:
            got = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"register_hook: a hook must return None or a Tensor of the "
                             f"gradient's shape {t.shape}, got {got}")
        grad = np.asarray(out._data).astype(t._data.dtype, copy=False)
    return grad


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
    if root.grad_fn is None:
        _accumulate_leaf(root, _run_hooks(root, gradient) if root._grad_hooks else gradient,
                         False)
        return
    pending = {id(root): gradient}
    hooked_leaves = {}  # id -> (leaf, summed gradient): leaves whose hooks see the sum
    for t in reversed(_topological_order(root)):
        node = t.grad_fn
        grad = pending.pop(id(t), None)
        if grad is None:  # no path from root carries a gradient here
            continue
        if t._grad_hooks:
            grad = _run_hooks(t, grad)
        if t._retains_grad:
            _accumulate_leaf(t, grad, False)
        if node.backward is None:
            raise RuntimeError(
                "backward: trying to go through the graph a second time, but its saved values "
                "were freed by the first backward(); pass retain_graph=True to the first call"
            )
        input_grads = node.backward(grad)
        # what the backward returns is the engine's to give away once the backward (and the
        # arrays its closure saved) is dropped, if the op said so (record's owned)
        handed_over = node.owned and not retain_graph
        if not retain_graph:
            node.backward = None
        for parent, g in zip(node.inputs, input_grads):
            if g is None or not parent.requires_grad:
                continue
            g = np.asarray(g)
            shaped = unbroadcast(g, parent.shape).astype(parent._data.dtype, copy=False)
            if parent.grad_fn is None and parent._grad_hooks:
                held = hooked_leaves.get(id(parent))
                hooked_leaves[id(parent)] = (parent, shaped if held is None else held[1] + shaped)
            elif parent.grad_fn is None:
                _accumulate_leaf(parent, shaped, handed_over or shaped is not g)
            elif id(parent) in pending:
                pending[id(parent)] = pending[id(parent)] + shaped
            else:
                pending[id(parent)] = shaped
    for leaf, grad in hooked_leaves.values():
        _accumulate_leaf(leaf, _run_hooks(leaf, grad), False)


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray, owned: bool) -> None:
    """Add grad to leaf.grad, or make it leaf.grad: itself if ``owned`` (nothing else refers to
    it), else a copy. Under _grad_lock: another thread may be adding into the same leaf. The
    leaf wraps the array (``_wrap``): autograd builds no tensor itself."""
    if not owned and leaf.grad is None:
        grad, owned = grad.copy(), True  # outside the lock: the copy is the slow part
    with _grad_lock:
        if leaf.grad is None:
            leaf.grad = leaf._wrap(grad if owned else grad.copy())
        else:
            leaf.grad._data += grad


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
