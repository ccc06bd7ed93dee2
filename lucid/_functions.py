"""Free functions mirroring Tensor methods: ``lucid.sum(x, dim)`` is ``x.sum(dim)``.

Each checks that its first argument is a lucid tensor, so a PyTorch tensor passed by habit gets
a message naming its type and the conversion, rather than an AttributeError.
"""

from __future__ import annotations

from typing import Any

from lucid._tensor import Dims, Tensor, expect_tensor


def _method(name: str, doc: str):
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        expect_tensor(input, name, "input")
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{doc} Same as ``input.{name}(...)``: see :meth:`lucid.Tensor.{name}`."
    return fn


sum = _method("sum", "Sum over ``dim``.")
mean = _method("mean", "Mean over ``dim``.")
var = _method("var", "Variance over ``dim``.")
std = _method("std", "Standard deviation over ``dim``.")
max = _method("max", "Maximum over ``dim``.")
min = _method("min", "Minimum over ``dim``.")
argmax = _method("argmax", "Positions of the maxima.")
argmin = _method("argmin", "Positions of the minima.")
topk = _method("topk", "The k largest (or smallest) elements along ``dim``, and their indices.")
exp = _method("exp", "Elementwise exponential.")
log = _method("log", "Elementwise natural logarithm.")
sqrt = _method("sqrt", "Elementwise square root.")
abs = _method("abs", "Elementwise absolute value.")
clamp = _method("clamp", "Elementwise clamp to ``[min, max]``.")
maximum = _method("maximum", "Elementwise maximum of two operands.")
minimum = _method("minimum", "Elementwise minimum of two operands.")
matmul = _method("matmul", "Matrix product.")
reshape = _method("reshape", "The elements in a new shape.")
flatten = _method("flatten", "Merge a range of axes.")
squeeze = _method("squeeze", "Drop axes of size 1.")
unsqueeze = _method("unsqueeze", "Insert an axis of size 1.")
permute = _method("permute", "Reorder the axes.")
transpose = _method("transpose", "Swap two axes.")
sigmoid = _method("sigmoid", "Elementwise logistic sigmoid.")
tanh = _method("tanh", "Elementwise hyperbolic tangent.")
softmax = _method("softmax", "Softmax along ``dim``.")
log_softmax = _method("log_softmax", "Log-softmax along ``dim``.")

__all__ = [
    "Dims", "sum", "mean", "var", "std", "max", "min", "argmax", "argmin", "topk", "exp", "log",
    "sqrt", "abs", "clamp", "maximum", "minimum", "matmul", "reshape", "flatten", "squeeze",
    "unsqueeze", "permute", "transpose", "sigmoid", "tanh", "softmax", "log_softmax",
]
