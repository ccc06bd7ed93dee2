"""lucid.Tensor: a numpy array with a dtype, a device tag and reverse-mode autograd.

This file holds the class itself: its attributes, gradient bookkeeping and ``backward``. The
ops are grouped by family in the sibling modules, each op's forward and backward side by side,
and mixed in here: arithmetic (_arith.py), reductions (_reduce.py), topk (_sort.py), shapes
(_shape.py), comparisons (_compare.py), indexing (_index.py), conversions (_convert.py),
activations (_activation.py) and printing (_repr.py). Every differentiable op records its
graph node through :func:`lucid.autograd.record`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid._device import DeviceLike, device, to_device
from lucid._dtype import DType, array_from, to_dtype
from lucid._tensor._activation import ActivationMixin
from lucid._tensor._arith import ArithMixin
from lucid._tensor._base import TensorBase
from lucid._tensor._compare import CompareMixin
from lucid._tensor._convert import ConvertMixin
from lucid._tensor._index import IndexMixin
from lucid._tensor._reduce import ReduceMixin
from lucid._tensor._repr import ReprMixin
from lucid._tensor._shape import ShapeMixin
from lucid._tensor._sort import SortMixin
from lucid.autograd import Node, RemovableHandle, run_backward


class Tensor(TensorBase, ArithMixin, ReduceMixin, SortMixin, ShapeMixin, CompareMixin,
             IndexMixin, ConvertMixin, ActivationMixin, ReprMixin):
    """An n-dimensional array that can record the ops applied to it.

    ``lucid.Tensor(data)`` accepts what :func:`lucid.tensor` accepts (a number, a nested list,
    a numpy array), as lucid 3's constructor does.

    >>> import lucid
    >>> x = lucid.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([[2., 4.],
            [6., 8.]])
    """

    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's reflected op
    # Comparisons return tensors, so equality cannot define the hash: tensors hash by identity
    # and stay usable as dict keys and set members, as in PyTorch.
    __hash__ = object.__hash__
    # Set per tensor only when used (register_hook, retain_grad), so other tensors pay nothing.
    _grad_hooks: dict | None = None
    _retains_grad = False

    def __init__(self, data: Any, *, dtype: Any = None, device: DeviceLike | None = None,
                 requires_grad: bool = False) -> None:
        if not isinstance(data, np.ndarray) or dtype is not None:
            data = array_from(data, dtype)
        self._data = data
        self._device = to_device(device)
        self.grad: Tensor | None = None
        self.grad_fn: Node | None = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    def _wrap(self, data: np.ndarray, device: DeviceLike | None = None) -> Tensor:
        """A new constant tensor (no graph node) holding ``data`` itself (no copy), on
        ``device`` or else this tensor's device. The lower layers (lucid.autograd, the ops'
        mixins) make tensors through this method rather than import the class."""
        return Tensor(np.asarray(data), device=device or self._device)

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple:
        """The size of each axis."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self._data.ndim

    def dim(self) -> int:
        """The number of axes (``ndim``)."""
        return self._data.ndim

    @property
    def dtype(self) -> DType:
        """The element type, e.g. ``lucid.float32``."""
        return to_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        """Where the tensor lives: ``lucid.device("cpu")`` or ``lucid.device("metal")``."""
        return self._device

    @property
    def is_metal(self) -> bool:
        """Whether the tensor carries the "metal" tag."""
        return self._device.is_metal

    @property
    def data(self) -> Tensor:
        """The same values cut from the graph (as ``detach()``); assigning replaces the values
        in place, keeping this object (PyTorch's ``p.data = ...``)."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a lucid.Tensor, got {type(value).__name__}")
        self._data, self._device = value._data, value._device

    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded for backward (floating point only)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not self.dtype.is_floating_point:
            raise TypeError(
                "requires_grad: only floating-point tensors can require gradients, "
                f"got {self.dtype}"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot be switched off on a non-leaf tensor; "
                               "use .detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded op."""
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        """Whether the dtype is float16, float32 or float64."""
        return self.dtype.is_floating_point

    def size(self, dim: int | None = None) -> tuple | int:
        """The shape, or the size of axis ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def eval(self) -> Tensor:
        """Self. lucid 3's Metal backend is lazy and ``loss.eval()`` forces the pending work
        before ``backward()``; here every op runs at once, so there is nothing to force."""
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self._data, device=self._device)

    # --------------------------------------------------------------- autograd
    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(grad)`` each time a backward pass computes this tensor's gradient; if it
        returns a tensor, that tensor replaces the gradient (for this tensor's ``.grad`` and
        for everything the gradient flows on to). Returns a handle whose ``remove()`` takes
        the hook off.

        The hook sees the gradient summed over every use of the tensor in the graph, as in
        PyTorch, as a read-only tensor: return a new one rather than change it in place.

        >>> import lucid
        >>> x = lucid.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> handle = y.register_hook(lambda g: g * 0.5)  # halve what reaches x through y
        >>> (y * y).sum().backward()
        >>> x.grad  # 0.5 * 2y * 3
        Tensor([ 9., 18.])
        >>> handle.remove()
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
        if self._grad_hooks is None:
            self._grad_hooks = {}
        return RemovableHandle(self._grad_hooks, hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward, as leaves do
        (nothing to do on a leaf)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: cannot retain the gradient of a tensor that does "
                               "not require grad")
        if self.grad_fn is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """Whether :meth:`retain_grad` was called on this non-leaf tensor."""
        return self._retains_grad

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf it depends on.

        ``gradient`` is d(something)/d(self); it may be omitted only for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, got shape "
                    f"{self.shape}; pass gradient="
                )
            gradient = np.ones_like(self._data)
        else:
            gradient = np.asarray(gradient.numpy() if isinstance(gradient, Tensor) else gradient)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward: gradient must have shape {self.shape}, got {gradient.shape}"
                )
            gradient = gradient.astype(self._data.dtype, copy=False)
        run_backward(self, gradient, retain_graph)
