"""How an op's result enters the autograd graph: :func:`record`.

Every differentiable op computes its result with numpy (or a kernel) and hands it here with
its inputs and its backward function; the graph itself (:class:`lucid.autograd.Node`) and the
backward pass live one layer down, in :mod:`lucid.autograd`, which knows nothing of tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lucid._tensor._base import TensorBase
from lucid.autograd import Node, is_grad_enabled


def record(
    data: np.ndarray,
    inputs: Sequence[TensorBase],
    backward: Callable,
    name: str,
    device: str | None = None,
    owned: bool = False,
) -> TensorBase:
    """Wrap an op's result in a Tensor; record a graph node when grad mode is on and an input
    needs grad.

    ``backward`` maps the output's gradient to one gradient (or None) per input. ``owned=True``
    promises that every array it returns is new, or saved by the backward alone, and that it
    returns no array twice (nor the incoming gradient): a leaf may then keep it as its
    ``.grad`` without a copy.
    """
    # The op chose the dtype (lucid/_dtype.py has the promotion rules); recording keeps it.
    # inputs[0]._wrap builds a lucid.Tensor, the class these functions' ops are mixed into.
    out = inputs[0]._wrap(np.asarray(data), device)
    if is_grad_enabled() and any(t.requires_grad for t in inputs):
        out._requires_grad = True
        out.grad_fn = Node(name, inputs, backward, owned)
    return out
