"""Recurrent layers: GRU and LSTM, shaped and initialised as PyTorch's.

Each layer of a stack is one whole-sequence op (:func:`lucid.nn.functional.gru_layer` /
:func:`~lucid.nn.functional.lstm_layer`), both directions in one call. Parameter names, shapes,
gate order and initialisation follow ``torch.nn.GRU`` / ``torch.nn.LSTM``, so a state dict
moves between the two by name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lucid._dtype import DTypeLike, get_default_dtype, to_dtype
from lucid._tensor import Tensor, cat
from lucid.nn import functional as F
from lucid.nn.layers import uniform_parameter
from lucid.nn.module import Module
from lucid.nn.utils.rnn import PackedSequence, pad_packed_sequence, repack_like


class _RNNBase(Module):
    """What GRU and LSTM share: the parameters, the stacking, the layouts, the dropout."""

    _mode = ""
    _gates = 0

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: DTypeLike | None = None) -> None:
        super().__init__()
        cls = type(self).__name__
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{cls}: {name} must be a positive int, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{cls}: dropout must be a number in [0, 1], got {dropout!r}")
        dtype = dtype or get_default_dtype()
        if not to_dtype(dtype).is_floating_point:
            raise TypeError(f"{cls}: dtype must be floating point, got {to_dtype(dtype)}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), batch_first
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self._directions = ("", "_reverse") if bidirectional else ("",)
        D, H, G = len(self._directions), self.hidden_size, self._gates * self.hidden_size
        bound = 1.0 / math.sqrt(H)  # PyTorch: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))
        for layer in range(self.num_layers):
            features = self.input_size if layer == 0 else D * H
            for suffix in self._directions:  # registered in PyTorch's order
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        uniform_parameter(bound, (G, features), dtype))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        uniform_parameter(bound, (G, H), dtype))
                if self.bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}",
                            uniform_parameter(bound, (G,), dtype))
                    setattr(self, f"bias_hh_l{layer}{suffix}",
                            uniform_parameter(bound, (G,), dtype))

    def _layer_params(self, layer: int) -> list:
        return [tuple(getattr(self, f"{kind}_l{layer}{suffix}", None)
                      for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                for suffix in self._directions]

    def _run(self, input: Tensor | PackedSequence, states: tuple, lengths: Any) -> tuple:
        """Checks and layouts around the stack; returns (output, final states)."""
        cls = type(self).__name__
        if isinstance(input, PackedSequence):
            # a packed batch runs as the padded batch with its lengths (what the lengths path
            # computes is what PyTorch computes for packed input) and is packed back the same
            # way; states stay in the original batch order, as PyTorch's do
            if lengths is not None:
                raise ValueError(f"{cls}: a PackedSequence carries its own lengths; do not "
                                 f"pass lengths= with it")
            padded, lengths = pad_packed_sequence(input, self.batch_first)
            output, ends = self._run(padded, states, lengths)
            return repack_like(output, input, self.batch_first), ends
        if not isinstance(input, Tensor) or input.ndim not in (2, 3):
            raise ValueError(f"{cls}: input must be a Tensor of shape (T, N, {self.input_size}) "
                             f"(or (N, T, {self.input_size}) with batch_first, or "
                             f"(T, {self.input_size}) unbatched), got "
                             f"{getattr(input, 'shape', type(input).__name__)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input must have {self.input_size} features on its last "
                             f"axis, got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.reshape(input.shape[0], 1, input.shape[1]) if unbatched else input
        if self.batch_first and not unbatched:
            x = x.transpose(0, 1)
        T, N = x.shape[:2]
        shape = (self.num_layers * len(self._directions), N, self.hidden_size)
        full = []
        for name, s in zip(("h_0", "c_0"), states):
            if s is None:
                s = Tensor(np.zeros(shape, dtype=x.numpy().dtype), device=x.device)
            elif not isinstance(s, Tensor):
                raise TypeError(f"{cls}: {name} must be a Tensor, got {type(s).__name__}")
            elif unbatched and s.shape == (shape[0], shape[2]):
                s = s.reshape(shape)
            if s.shape != shape:
                expected = (shape[0], shape[2]) if unbatched else shape
                raise ValueError(f"{cls}: {name} must have shape {expected}, got {s.shape}")
            full.append(s)

        D = len(self._directions)
        finals = [[] for _ in full]
        for layer in range(self.num_layers):
            layer_states = [s[layer * D:(layer + 1) * D] for s in full]
            output, *ends = self._layer(x, layer_states, self._layer_params(layer), lengths)
            for kept, end in zip(finals, ends):
                kept.append(end)
            if self.training and self.dropout and layer < self.num_layers - 1:
                output = F.dropout(output, self.dropout)
            x = output
        if self.batch_first and not unbatched:
            x = x.transpose(0, 1)
        ends = [kept[0] if len(kept) == 1 else cat(kept) for kept in finals]
        if unbatched:
            x = x.reshape(T, x.shape[-1])
            ends = [e.reshape(shape[0], shape[2]) for e in ends]
        return x, ends

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class GRU(_RNNBase):
    """A multi-layer gated recurrent unit, as ``torch.nn.GRU``.

    Parameters
    ----------
    input_size, hidden_size : int
        Features in, and the state size H.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads layer k-1's output.
    bias : bool, default True
    batch_first : bool, default False
        Input and output as (N, T, F) instead of (T, N, F). The states stay (L * D, N, H).
    dropout : float, default 0
        Dropout on every layer's output except the last, in training mode.
    bidirectional : bool, default False
        Add a direction that reads the sequence backwards (D = 2); outputs are concatenated.
    dtype : lucid dtype, default: the default dtype (float32)

    Parameters are ``weight_ih_l{k}`` (3H, F), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (3H,), gates stacked r, z, n, plus the same with ``_reverse`` for the
    backward direction; all from U(-1/sqrt(H), 1/sqrt(H)). The equations are those of
    :func:`lucid.nn.functional.gru_layer`.

    Call it as ``gru(input, h_0=None, lengths=None)``: ``input`` (T, N, F) (or unbatched
    (T, F)), ``h_0`` (L * D, N, H), zeros by default. ``lengths`` (N,) gives each sample's
    valid frames, as with PyTorch's packed sequences: outputs past a sample's length are 0 and
    ``h_n`` holds the state after its last valid frame (the reverse direction starts there).
    Returns ``(output, h_n)``, output (T, N, D * H). ``input`` may also be a
    :class:`~lucid.nn.utils.rnn.PackedSequence` (without ``lengths``): the output is then
    packed the same way, and ``h_0`` and ``h_n`` are in the original batch order.

    Examples
    --------
    >>> import lucid
    >>> gru = lucid.nn.GRU(8, 16, num_layers=2, bidirectional=True)
    >>> output, h_n = gru(lucid.randn(30, 4, 8), lengths=[30, 25, 20, 12])
    >>> output.shape, h_n.shape
    ((30, 4, 32), (4, 4, 16))
    >>> [name for name, _ in gru.named_parameters()][:5]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l0_reverse']
    """

    _mode, _gates = "GRU", 3

    def forward(self, input: Tensor | PackedSequence, h_0: Tensor | None = None,
                lengths: Any = None) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(input, (h_0,), lengths)
        return output, h_n

    @staticmethod
    def _layer(x: Tensor, states: list, params: list, lengths: Any) -> tuple:
        return F.gru_layer(x, states[0], params, lengths)


class LSTM(_RNNBase):
    """A multi-layer long short-term memory, as ``torch.nn.LSTM`` (no ``proj_size``).

    Arguments and parameter names as :class:`GRU`, with gates stacked i, f, g, o (4H rows);
    equations as :func:`lucid.nn.functional.lstm_layer`.

    Call it as ``lstm(input, (h_0, c_0)=None, lengths=None)``, ``input`` a padded batch or a
    :class:`~lucid.nn.utils.rnn.PackedSequence`; returns ``(output, (h_n, c_n))``.

    Examples
    --------
    >>> import lucid
    >>> lstm = lucid.nn.LSTM(8, 16, batch_first=True)
    >>> output, (h_n, c_n) = lstm(lucid.randn(4, 30, 8))
    >>> output.shape, c_n.shape
    ((4, 30, 16), (1, 4, 16))
    """

    _mode, _gates = "LSTM", 4

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None,
                lengths: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        output, (h_n, c_n) = self._run(input, tuple(hx) if hx is not None else (None, None),
                                       lengths)
        return output, (h_n, c_n)

    @staticmethod
    def _layer(x: Tensor, states: list, params: list, lengths: Any) -> tuple:
        return F.lstm_layer(x, states[0], states[1], params, lengths)
