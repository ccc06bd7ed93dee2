"""One time step of the GRU and LSTM cells, forward and backward, with the matmuls left out.

Design note
-----------
a. Split of work. A recurrent layer at step t needs h_{t-1} @ W_hh^T (a matmul: numpy/BLAS
   does it, for both directions at once as one stacked matmul) and then a dozen elementwise
   operations on the gates. In numpy those are a dozen calls, each with its own temporary and
   a few microseconds of Python overhead per step; here they are one pass over the rows. The
   input projections x_t @ W_ih^T of all steps are one matmul before the loop, and the weight
   gradients one matmul after it, so these kernels only ever see one step's gate rows.
b. Equations, PyTorch's gate order (sigma = logistic sigmoid, * = elementwise):
       GRU   r = sigma(gx_r + gh_r)   z = sigma(gx_z + gh_z)   n = tanh(gx_n + r * gh_n)
             h' = (1 - z) * n + z * h
       LSTM  i, f, o = sigma(gx + gh)[i, f, o]   g = tanh(gx_g + gh_g)
             c' = f * c + i * g    h' = o * tanh(c')
   gx = x_t W_ih^T + b_ih and gh = h W_hh^T + b_hh (biases added by the caller). The forward
   saves the activated gates; the backward maps dL/dh' (and dL/dc') to the gradients of the
   gate pre-activations, from which the caller's matmuls give dL/dh, dL/dW and dL/dx.
c. Lengths. A row whose sample has ended (active[r] == 0) keeps its state (h' = h, c' = c),
   its gate gradients are 0 and its state gradient passes through unchanged; its output is
   a constant zero, so the output gradient is not added. This is how a padded batch with
   per-sample lengths behaves like PyTorch's packed sequences.
d. Layout and threading: C-contiguous (rows, width) arrays, rows = directions x batch,
   gates [r | z | n] or [i | f | g | o] side by side in a row, as in PyTorch's weights. Rows
   are independent and split over OpenMP threads (static schedule); a step is small, so the
   caller asks for one thread unless the rows are many. Arithmetic in the input's precision
   (fused float/double), with libm's exp and tanh.
"""

from cython.parallel cimport prange
from libc.math cimport exp, tanh

from lucid._C._rows cimport floating


cdef inline floating sigmoid(floating x) noexcept nogil:
    return 1 / (1 + exp(-x))


def gru_step_forward(
    const floating[:, ::1] gx,      # IN  (rows, 3H) input projection, b_ih included
    const floating[:, ::1] gh,      # IN  (rows, 3H) h @ W_hh^T + b_hh
    const floating[:, ::1] h,       # IN  (rows, H)  state before the step
    const unsigned char[::1] active,  # IN  (rows,) 0 where the sample has ended
    floating[:, ::1] h_new,         # OUT (rows, H)  state after the step
    floating[:, ::1] gates,         # OUT (rows, 3H) r, z, n saved for the backward
    int n_threads,
):
    cdef Py_ssize_t row, j, H = h.shape[1]
    cdef floating r, z, n
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if not active[row]:
            for j in range(H):
                h_new[row, j] = h[row, j]
                gates[row, j] = 0
                gates[row, H + j] = 0
                gates[row, 2 * H + j] = 0
            continue
        for j in range(H):
            r = sigmoid(gx[row, j] + gh[row, j])
            z = sigmoid(gx[row, H + j] + gh[row, H + j])
            n = tanh(gx[row, 2 * H + j] + r * gh[row, 2 * H + j])
            h_new[row, j] = (1 - z) * n + z * h[row, j]
            gates[row, j] = r
            gates[row, H + j] = z
            gates[row, 2 * H + j] = n


def gru_step_backward(
    floating[:, ::1] dh,            # IN/OUT (rows, H) dL/dh' without this step's output term;
                                    #        on return the part of dL/dh not through W_hh
    const floating[:, ::1] dout,    # IN  (rows, H)  dL/d(output at this step)
    const floating[:, ::1] gates,   # IN  (rows, 3H) r, z, n from the forward
    const floating[:, ::1] gh,      # IN  (rows, 3H) h @ W_hh^T + b_hh from the forward
    const floating[:, ::1] h,       # IN  (rows, H)  state before the step
    const unsigned char[::1] active,  # IN  (rows,)
    floating[:, ::1] dgx,           # OUT (rows, 3H) dL/dgx
    floating[:, ::1] dgh,           # OUT (rows, 3H) dL/dgh
    int n_threads,
):
    cdef Py_ssize_t row, j, H = h.shape[1]
    cdef floating r, z, n, d, dn, dr
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if not active[row]:  # h' = h: the gradient passes through, the gates get none
            for j in range(3 * H):
                dgx[row, j] = 0
                dgh[row, j] = 0
            continue
        for j in range(H):
            r, z, n = gates[row, j], gates[row, H + j], gates[row, 2 * H + j]
            d = dh[row, j] + dout[row, j]
            dn = d * (1 - z) * (1 - n * n)                        # through tanh
            dr = dn * gh[row, 2 * H + j] * r * (1 - r)
            dgx[row, j] = dr
            dgh[row, j] = dr
            dgx[row, H + j] = d * (h[row, j] - n) * z * (1 - z)
            dgh[row, H + j] = dgx[row, H + j]
            dgx[row, 2 * H + j] = dn
            dgh[row, 2 * H + j] = dn * r
            dh[row, j] = d * z


def lstm_step_forward(
    const floating[:, ::1] gx,      # IN  (rows, 4H) input projection, b_ih included
    const floating[:, ::1] gh,      # IN  (rows, 4H) h @ W_hh^T + b_hh
    const floating[:, ::1] c,       # IN  (rows, H)  cell state before the step
    const floating[:, ::1] h,       # IN  (rows, H)  state before the step
    const unsigned char[::1] active,  # IN  (rows,)
    floating[:, ::1] c_new,         # OUT (rows, H)
    floating[:, ::1] h_new,         # OUT (rows, H)
    floating[:, ::1] gates,         # OUT (rows, 4H) i, f, g, o saved for the backward
    floating[:, ::1] tanh_c,        # OUT (rows, H)  tanh(c') saved for the backward
    int n_threads,
):
    cdef Py_ssize_t row, j, H = h.shape[1]
    cdef floating i, f, g, o, cn
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if not active[row]:
            for j in range(H):
                c_new[row, j] = c[row, j]
                h_new[row, j] = h[row, j]
                tanh_c[row, j] = 0
            for j in range(4 * H):
                gates[row, j] = 0
            continue
        for j in range(H):
            i = sigmoid(gx[row, j] + gh[row, j])
            f = sigmoid(gx[row, H + j] + gh[row, H + j])
            g = tanh(gx[row, 2 * H + j] + gh[row, 2 * H + j])
            o = sigmoid(gx[row, 3 * H + j] + gh[row, 3 * H + j])
            cn = f * c[row, j] + i * g
            c_new[row, j] = cn
            tanh_c[row, j] = tanh(cn)
            h_new[row, j] = o * tanh_c[row, j]
            gates[row, j] = i
            gates[row, H + j] = f
            gates[row, 2 * H + j] = g
            gates[row, 3 * H + j] = o


def lstm_step_backward(
    floating[:, ::1] dh,            # IN/OUT (rows, H) dL/dh' without this step's output term;
                                    #        on return the part of dL/dh not through W_hh
    floating[:, ::1] dc,            # IN/OUT (rows, H) dL/dc' -> dL/dc
    const floating[:, ::1] dout,    # IN  (rows, H)  dL/d(output at this step)
    const floating[:, ::1] gates,   # IN  (rows, 4H) i, f, g, o from the forward
    const floating[:, ::1] tanh_c,  # IN  (rows, H)  tanh(c') from the forward
    const floating[:, ::1] c,       # IN  (rows, H)  cell state before the step
    const unsigned char[::1] active,  # IN  (rows,)
    floating[:, ::1] dgates,        # OUT (rows, 4H) dL/d(gate pre-activations) = dL/dgx = dL/dgh
    int n_threads,
):
    cdef Py_ssize_t row, j, H = c.shape[1]
    cdef floating i, f, g, o, tc, d, dct
    for row in prange(c.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if not active[row]:  # h' = h, c' = c: both gradients pass through
            for j in range(4 * H):
                dgates[row, j] = 0
            continue
        for j in range(H):
            i, f = gates[row, j], gates[row, H + j]
            g, o = gates[row, 2 * H + j], gates[row, 3 * H + j]
            tc = tanh_c[row, j]
            d = dh[row, j] + dout[row, j]
            dct = dc[row, j] + d * o * (1 - tc * tc)
            dgates[row, j] = dct * g * i * (1 - i)
            dgates[row, H + j] = dct * c[row, j] * f * (1 - f)
            dgates[row, 2 * H + j] = dct * i * (1 - g * g)
            dgates[row, 3 * H + j] = d * tc * o * (1 - o)
            dc[row, j] = dct * f
            dh[row, j] = 0
