"""How a tensor prints: ``repr`` shows values, dtype (when not float32), device (when not cpu)
and the grad state; ``format`` applies a number format to a one-element tensor
(``f"{loss:.4f}"``)."""

from __future__ import annotations

import numpy as np

from lucid._dtype import float32


class ReprMixin:
    """``__repr__`` and ``__format__`` of :class:`lucid.Tensor`."""

    def __repr__(self) -> str:
        body = np.array2string(
            self._data, separator=", ", prefix="Tensor(", threshold=200, edgeitems=3, precision=4
        )
        extras = []
        if self.dtype is not float32:
            extras.append(f"dtype={self.dtype!r}")
        if self.device != "cpu":
            extras.append(f"device={str(self.device)!r}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    def __format__(self, spec: str) -> str:
        if self._data.size == 1 and spec:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(f"format: a format spec needs a one-element tensor, got shape "
                            f"{self.shape}")
        return repr(self)
