"""Recurrent layers as whole-sequence ops: one GRU or LSTM layer, one or both directions.

A layer is one graph node, not one per time step: the forward runs the recurrence over all
frames and saves what the backward needs, and the backward runs backpropagation through time
in one call. Per step, both directions share one stacked matmul ``h @ W_hh^T`` (numpy/BLAS)
and one call of a fused cell kernel (lucid/_C/_rnn.pyx) for the gates; the input projections
of all frames, and the weight gradients, are single matmuls outside the loop.

Variable lengths: with ``lengths``, sample n runs over its first ``lengths[n]`` frames only,
in both directions (the reverse direction starts at its own last frame), its state is frozen
after them and its output there is 0 - what PyTorch computes for a packed sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid._C import _rnn
from lucid._tensor import Tensor, record
from lucid._threads import get_num_threads

# Below this many gate values per step a second thread costs more in hand-off than it saves.
_PARALLEL_GATES = 1 << 16

_CELLS = {"gru": 3, "lstm": 4}  # gates per hidden unit


def gru_layer(
    x: Tensor, h0: Tensor, params: Sequence[Sequence[Tensor | None]], lengths: Any = None
) -> tuple[Tensor, Tensor]:
    """One GRU layer over a whole sequence, in one or two directions (PyTorch's equations).

    Per direction, with ``(w_ih, w_hh, b_ih, b_hh)`` as in ``torch.nn.GRU``'s
    ``weight_ih_l0`` etc. (gate order r, z, n)::

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    Parameters
    ----------
    x : Tensor, shape (T, N, F)
    h0 : Tensor, shape (D, N, H)
        Initial state of each direction; D = len(params).
    params : sequence of D tuples (w_ih, w_hh, b_ih, b_hh)
        Shapes (3H, F), (3H, H), (3H,), (3H,); biases may be None. The second tuple, if
        any, runs backwards in time.
    lengths : array-like of ints, shape (N,), optional
        Valid frames per sample, each in [0, T]; default all T.

    Returns
    -------
    output : Tensor, shape (T, N, D * H)
        Each frame's state, directions concatenated (forward first); 0 past a sample's length.
    h_n : Tensor, shape (D, N, H)
        Each direction's state after its last valid frame.

    Examples
    --------
    >>> import lucid
    >>> gru = lucid.nn.GRU(4, 3)
    >>> w = [(gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
    >>> out, h_n = lucid.nn.functional.gru_layer(lucid.randn(5, 2, 4), lucid.zeros(1, 2, 3), w)
    >>> out.shape, h_n.shape
    ((5, 2, 3), (1, 2, 3))
    """
    output, h_n = _recurrence("gru", x, (h0,), params, lengths)
    return output, h_n


def lstm_layer(
    x: Tensor, h0: Tensor, c0: Tensor, params: Sequence[Sequence[Tensor | None]],
    lengths: Any = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer over a whole sequence, in one or two directions (PyTorch's equations).

    Per direction, with weights as in ``torch.nn.LSTM`` (gate order i, f, g, o)::

        i, f, o = sigmoid(x W_i^T + b_i + h W_h^T + b_h)  (their rows of the weights)
        g = tanh(x W_ig^T + b_ig + h W_hg^T + b_hg)
        c' = f * c + i * g
        h' = o * tanh(c')

    Parameters
    ----------
    x : Tensor, shape (T, N, F)
    h0, c0 : Tensor, shape (D, N, H)
    params : sequence of D tuples (w_ih, w_hh, b_ih, b_hh)
        Shapes (4H, F), (4H, H), (4H,), (4H,); biases may be None.
    lengths : array-like of ints, shape (N,), optional
        As for :func:`gru_layer`.

    Returns
    -------
    output : Tensor, shape (T, N, D * H)
    h_n, c_n : Tensor, shape (D, N, H)

    Examples
    --------
    >>> import lucid
    >>> lstm = lucid.nn.LSTM(4, 3)
    >>> w = [(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)]
    >>> h0 = c0 = lucid.zeros(1, 2, 3)
    >>> out, h_n, c_n = lucid.nn.functional.lstm_layer(lucid.randn(5, 2, 4), h0, c0, w)
    >>> out.shape, c_n.shape
    ((5, 2, 3), (1, 2, 3))
    """
    output, h_n, c_n = _recurrence("lstm", x, (h0, c0), params, lengths)
    return output, h_n, c_n


# ---------------------------------------------------------------------------- checking
def _check(kind: str, x: Tensor, states: tuple, params: Sequence) -> tuple:
    fn = f"{kind}_layer"
    if not isinstance(x, Tensor) or x.ndim != 3:
        raise ValueError(f"{fn}: x must be a Tensor of shape (T, N, F), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{fn}: x must be float32 or float64, got {x.dtype}")
    if len(params) not in (1, 2):
        raise ValueError(f"{fn}: params must hold 1 or 2 directions, got {len(params)}")
    for d, group in enumerate(params):
        if len(group) != 4:
            raise ValueError(f"{fn}: params[{d}] must be (w_ih, w_hh, b_ih, b_hh), got "
                             f"{len(group)} items")
    w_hh = params[0][1]
    if not isinstance(w_hh, Tensor) or w_hh.ndim != 2:
        got = getattr(w_hh, "shape", type(w_hh).__name__)
        raise ValueError(f"{fn}: params[0] w_hh must be a Tensor of shape "
                         f"({_CELLS[kind]} * H, H), got {got}")
    T, N, F = x.shape
    D, H = len(params), w_hh.shape[1]
    G = _CELLS[kind] * H
    expected = ((G, F), (G, H), (G,), (G,))
    for d, group in enumerate(params):
        for name, p, shape in zip(("w_ih", "w_hh", "b_ih", "b_hh"), group, expected):
            if p is None and name.startswith("b"):
                continue
            if not isinstance(p, Tensor) or p.shape != shape:
                raise ValueError(f"{fn}: params[{d}] {name} must have shape {shape}, got "
                                 f"{getattr(p, 'shape', type(p).__name__)}")
            if p.dtype != x.dtype:
                raise TypeError(f"{fn}: params[{d}] {name} has dtype {p.dtype}, but x has "
                                f"{x.dtype}")
    for name, s in zip(("h0", "c0"), states):
        if not isinstance(s, Tensor) or s.shape != (D, N, H):
            raise ValueError(f"{fn}: {name} must have shape {(D, N, H)}, got "
                             f"{getattr(s, 'shape', type(s).__name__)}")
        if s.dtype != x.dtype:
            raise TypeError(f"{fn}: {name} has dtype {s.dtype}, but x has {x.dtype}")
    return T, N, F, D, H, G


def _check_lengths(lengths: Any, T: int, N: int, fn: str) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    arr = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{fn}: lengths must hold integers, got dtype {arr.dtype}")
    if arr.shape != (N,):
        raise ValueError(f"{fn}: lengths must have shape ({N},), got {arr.shape}")
    if N and (arr.min() < 0 or arr.max() > T):
        raise ValueError(f"{fn}: lengths must lie in [0, {T}] (T = x.shape[0]), got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


# ------------------------------------------------------------------- forward and backward
def _recurrence(kind: str, x: Tensor, states: tuple, params: Sequence, lengths: Any) -> tuple:
    T, N, F, D, H, G = _check(kind, x, states, params)
    lengths = _check_lengths(lengths, T, N, f"{kind}_layer")
    dtype = x.numpy().dtype
    R = D * N  # rows the cell kernels see: direction-major, then batch
    threads = get_num_threads() if R * G >= _PARALLEL_GATES else 1
    step_forward = _rnn.gru_step_forward if kind == "gru" else _rnn.lstm_step_forward
    step_backward = _rnn.gru_step_backward if kind == "gru" else _rnn.lstm_step_backward

    def arr(p: Tensor | None, shape: tuple) -> np.ndarray:
        return np.zeros(shape, dtype) if p is None else p.numpy()

    w_ih = np.concatenate([arr(p[0], (G, F)) for p in params])           # (D*G, F)
    b_ih = np.concatenate([arr(p[2], (G,)) for p in params])             # (D*G,)
    w_hh = np.stack([arr(p[1], (G, H)) for p in params])                 # (D, G, H)
    w_hh_t = np.ascontiguousarray(w_hh.transpose(0, 2, 1))               # (D, H, G)
    b_hh = np.stack([arr(p[3], (G,)) for p in params])[:, None, :]       # (D, 1, G)

    # Frame of step k for each direction and sample: the reverse direction walks each
    # sample's own valid frames backwards; padding frames stay where they are. The map is its
    # own inverse, so it also takes per-step results back to frame order.
    steps = np.arange(T)[:, None]
    active = steps < lengths[None, :]                                    # (T, N)
    frame_of = [np.broadcast_to(steps, (T, N)),
                np.where(active, lengths[None, :] - 1 - steps, steps)][:D]
    batch = np.arange(N)[None, :]

    x2 = np.ascontiguousarray(x.numpy()).reshape(T * N, F)
    proj = (x2 @ w_ih.T + b_ih).reshape(T, N, D, G)
    gx = np.empty((T, D, N, G), dtype)
    for d in range(D):
        gx[:, d] = proj[frame_of[d], batch, d]
    active_rows = np.ascontiguousarray(np.tile(active, (1, D)), dtype=np.uint8)  # (T, R)

    hs = np.empty((T + 1, D, N, H), dtype)
    hs[0] = states[0].numpy()
    gh = np.empty((T, D, N, G), dtype)
    gates = np.empty((T, D, N, G), dtype)
    if kind == "lstm":
        cs = np.empty((T + 1, D, N, H), dtype)
        cs[0] = states[1].numpy()
        tanh_c = np.empty((T, D, N, H), dtype)
    for t in range(T):
        np.matmul(hs[t], w_hh_t, out=gh[t])
        gh[t] += b_hh
        if kind == "gru":
            step_forward(gx[t].reshape(R, G), gh[t].reshape(R, G), hs[t].reshape(R, H),
                         active_rows[t], hs[t + 1].reshape(R, H), gates[t].reshape(R, G),
                         threads)
        else:
            step_forward(gx[t].reshape(R, G), gh[t].reshape(R, G), cs[t].reshape(R, H),
                         hs[t].reshape(R, H), active_rows[t], cs[t + 1].reshape(R, H),
                         hs[t + 1].reshape(R, H), gates[t].reshape(R, G),
                         tanh_c[t].reshape(R, H), threads)

    output = np.empty((T, N, D, H), dtype)
    for d in range(D):
        output[:, :, d] = hs[1:, d][frame_of[d], batch]
    output *= active[:, :, None, None]
    finals = [hs[T]] + ([cs[T]] if kind == "lstm" else [])
    flat = np.concatenate([output.ravel()] + [f.ravel() for f in finals])

    weights = [p for group in params for p in group if p is not None]

    def backward(g: np.ndarray):
        g_out = g[: output.size].reshape(T, N, D, H)
        g_final = g[output.size:].reshape(len(finals), D, N, H)
        dout = np.empty((T, D, N, H), dtype)
        for d in range(D):
            dout[:, d] = g_out[:, :, d][frame_of[d], batch]
        dh = g_final[0].copy()                                           # (D, N, H)
        through_w = np.empty_like(dh)
        dgx = np.empty((T, D, N, G), dtype)
        if kind == "gru":
            dgh = np.empty((T, D, N, G), dtype)
        else:
            dc = g_final[1].copy()
            dgh = dgx  # c' depends on gx + gh only: the two gradients are equal
        for t in range(T - 1, -1, -1):
            if kind == "gru":
                step_backward(dh.reshape(R, H), dout[t].reshape(R, H), gates[t].reshape(R, G),
                              gh[t].reshape(R, G), hs[t].reshape(R, H), active_rows[t],
                              dgx[t].reshape(R, G), dgh[t].reshape(R, G), threads)
            else:
                step_backward(dh.reshape(R, H), dc.reshape(R, H), dout[t].reshape(R, H),
                              gates[t].reshape(R, G), tanh_c[t].reshape(R, H),
                              cs[t].reshape(R, H), active_rows[t], dgx[t].reshape(R, G),
                              threads)
            np.matmul(dgh[t], w_hh, out=through_w)
            dh += through_w

        dproj = np.empty((T, N, D, G), dtype)
        weight_grads = []
        for d in range(D):
            dproj[:, :, d] = dgx[:, d][frame_of[d], batch]
        dproj = dproj.reshape(T * N, D * G)
        dw_ih, db_ih = dproj.T @ x2, dproj.sum(axis=0)
        for d, group in enumerate(params):
            dgh_d = dgh[:, d].reshape(T * N, G)
            per_param = (dw_ih[d * G:(d + 1) * G], dgh_d.T @ hs[:T, d].reshape(T * N, H),
                         db_ih[d * G:(d + 1) * G], dgh_d.sum(axis=0))
            weight_grads += [g for g, p in zip(per_param, group) if p is not None]
        dx = (dproj @ w_ih).reshape(T, N, F)
        state_grads = [dh] + ([dc] if kind == "lstm" else [])
        return [dx, *state_grads, *weight_grads]

    name = "GruBackward" if kind == "gru" else "LstmBackward"
    combined = record(flat, (x, *states, *weights), backward, name, owned=True)
    return _split(combined, [(T, N, D * H)] + [(D, N, H)] * len(finals))


def _split(flat: Tensor, shapes: list) -> tuple:
    """Cut a 1-D tensor into consecutive pieces of the given shapes, each differentiable."""
    pieces, start = [], 0
    size, dtype = flat.shape[0], flat.numpy().dtype
    for shape in shapes:
        stop = start + int(np.prod(shape))

        def backward(g: np.ndarray, start=start, stop=stop):
            full = np.zeros(size, dtype)
            full[start:stop] = g.ravel()
            return (full,)

        pieces.append(record(flat.numpy()[start:stop].reshape(shape), (flat,), backward,
                             "SplitBackward", owned=True))
        start = stop
    return tuple(pieces)
