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
   (fused float/double).
e. Numerics: sigmoid and tanh are built on the branch-free exp of fast_exp.h (libm's exp and
   tanh are scalar calls: with them the gate pass cost several times the step's matmul, now
   a fraction of it), always of a non-positive argument, and without branches, so the row
   loops vectorise:
       tanh(x)    = copysign((1 - e) / (1 + e), x),   e = exp(-2|x|)
       sigmoid(x) = (1 + tanh(x / 2)) / 2
   Both are exact to a few units of 2^-53 (2^-24 for float32) in absolute terms; near 0,
   and for sigmoid far below 0, the cancellation costs relative but not absolute accuracy.
"""

from cython.parallel cimport prange
from libc.math cimport copysign, copysignf, fabs, fabsf
from libc.string cimport memcpy, memset

from lucid._C._rows cimport floating

cdef extern from "fast_exp.h" nogil:
    double lucid_exp_nonpos(double x)
    float lucid_expf_nonpos(float x)


cdef inline floating exp_nonpos(floating x) noexcept nogil:
    if floating is float:
        return lucid_expf_nonpos(x)
    else:
        return lucid_exp_nonpos(x)


cdef inline floating absval(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating tanh(floating x) noexcept nogil:
    cdef floating e = exp_nonpos(-2 * absval(x))
    if floating is float:
        return copysignf((1 - e) / (1 + e), x)
    else:
        return copysign((1 - e) / (1 + e), x)


cdef inline floating sigmoid(floating x) noexcept nogil:
    return <floating>0.5 + <floating>0.5 * tanh(<floating>0.5 * x)


# ---------------------------------------------------------------------------------- rows
# One row = one sample of one direction. Each loop below writes one block of one array and
# reads only other arrays (or the same index of the one it writes): the compiler then needs
# few run-time overlap checks and vectorises every loop. A row is short (a few H), so the
# extra passes stay in L1.

cdef inline void gru_row_forward(const floating* gx, const floating* gh, const floating* h,
                                 floating* h_new, floating* gates, Py_ssize_t H) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(2 * H):  # r and z side by side
        gates[j] = sigmoid(gx[j] + gh[j])
    for j in range(H):  # n, parked in h_new
        h_new[j] = tanh(gx[2 * H + j] + gates[j] * gh[2 * H + j])
    memcpy(&gates[2 * H], h_new, H * sizeof(floating))
    for j in range(H):  # h' = (1 - z) n + z h
        h_new[j] = h_new[j] + gates[H + j] * (h[j] - h_new[j])


cdef inline void gru_row_backward(floating* dh, const floating* dout, const floating* gates,
                                  const floating* gh, const floating* h, floating* dgx,
                                  floating* dgh, Py_ssize_t H) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(H):  # d = dL/dh', all of it
        dh[j] = dh[j] + dout[j]
    for j in range(H):  # n = tanh(a_n): dL/da_n
        dgx[2 * H + j] = dh[j] * (1 - gates[H + j]) * (1 - gates[2 * H + j] * gates[2 * H + j])
    for j in range(H):  # a_n = gx_n + r * gh_n
        dgh[2 * H + j] = dgx[2 * H + j] * gates[j]
    for j in range(H):  # r = sigmoid(a_r), and dL/dr = dL/da_n * gh_n
        dgh[j] = dgx[2 * H + j] * gh[2 * H + j] * gates[j] * (1 - gates[j])
    for j in range(H):  # z = sigmoid(a_z), dL/dz = d * (h - n)
        dgx[H + j] = dh[j] * (h[j] - gates[2 * H + j]) * gates[H + j] * (1 - gates[H + j])
    memcpy(dgx, dgh, H * sizeof(floating))
    memcpy(&dgh[H], &dgx[H], H * sizeof(floating))
    for j in range(H):  # the direct path h -> h'
        dh[j] = dh[j] * gates[H + j]


cdef inline void lstm_row_forward(const floating* gx, const floating* gh, const floating* c,
                                  floating* c_new, floating* h_new, floating* gates,
                                  floating* tanh_c, Py_ssize_t H) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(2 * H):  # i and f side by side
        gates[j] = sigmoid(gx[j] + gh[j])
    for j in range(H):
        gates[2 * H + j] = tanh(gx[2 * H + j] + gh[2 * H + j])
    for j in range(H):
        gates[3 * H + j] = sigmoid(gx[3 * H + j] + gh[3 * H + j])
    for j in range(H):  # c' = f c + i g
        c_new[j] = gates[H + j] * c[j] + gates[j] * gates[2 * H + j]
    for j in range(H):
        tanh_c[j] = tanh(c_new[j])
    for j in range(H):  # h' = o tanh(c')
        h_new[j] = gates[3 * H + j] * tanh_c[j]


cdef inline void lstm_row_backward(floating* dh, floating* dc, const floating* dout,
                                   const floating* gates, const floating* tanh_c,
                                   const floating* c, floating* dgates,
                                   Py_ssize_t H) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(H):  # d = dL/dh', all of it
        dh[j] = dh[j] + dout[j]
    for j in range(H):  # dL/dc' gains the path through h' = o tanh(c')
        dc[j] = dc[j] + dh[j] * gates[3 * H + j] * (1 - tanh_c[j] * tanh_c[j])
    for j in range(H):  # i
        dgates[j] = dc[j] * gates[2 * H + j] * gates[j] * (1 - gates[j])
    for j in range(H):  # f
        dgates[H + j] = dc[j] * c[j] * gates[H + j] * (1 - gates[H + j])
    for j in range(H):  # g
        dgates[2 * H + j] = dc[j] * gates[j] * (1 - gates[2 * H + j] * gates[2 * H + j])
    for j in range(H):  # o
        dgates[3 * H + j] = dh[j] * tanh_c[j] * gates[3 * H + j] * (1 - gates[3 * H + j])
    for j in range(H):  # the direct path c -> c'
        dc[j] = dc[j] * gates[H + j]
    memset(dh, 0, H * sizeof(floating))  # h reaches h' only through W_hh: the caller adds it


# ------------------------------------------------------------------------------- kernels
def gru_step_forward(
    const floating[:, ::1] gx,      # IN  (rows, 3H) input projection, b_ih included
    const floating[:, ::1] gh,      # IN  (rows, 3H) h @ W_hh^T + b_hh
    const floating[:, ::1] h,       # IN  (rows, H)  state before the step
    const unsigned char[::1] active,  # IN  (rows,) 0 where the sample has ended
    floating[:, ::1] h_new,         # OUT (rows, H)  state after the step
    floating[:, ::1] gates,         # OUT (rows, 3H) r, z, n saved for the backward
    int n_threads,
):
    cdef Py_ssize_t row, H = h.shape[1]
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if active[row]:
            gru_row_forward(&gx[row, 0], &gh[row, 0], &h[row, 0], &h_new[row, 0],
                            &gates[row, 0], H)
        else:  # the sample has ended: its state is kept
            memcpy(&h_new[row, 0], &h[row, 0], H * sizeof(floating))
            memset(&gates[row, 0], 0, 3 * H * sizeof(floating))


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
    cdef Py_ssize_t row, H = h.shape[1]
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if active[row]:
            gru_row_backward(&dh[row, 0], &dout[row, 0], &gates[row, 0], &gh[row, 0],
                             &h[row, 0], &dgx[row, 0], &dgh[row, 0], H)
        else:  # h' = h: dh passes through unchanged, the gates get nothing
            memset(&dgx[row, 0], 0, 3 * H * sizeof(floating))
            memset(&dgh[row, 0], 0, 3 * H * sizeof(floating))


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
    cdef Py_ssize_t row, H = h.shape[1]
    for row in prange(h.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if active[row]:
            lstm_row_forward(&gx[row, 0], &gh[row, 0], &c[row, 0], &c_new[row, 0],
                             &h_new[row, 0], &gates[row, 0], &tanh_c[row, 0], H)
        else:
            memcpy(&c_new[row, 0], &c[row, 0], H * sizeof(floating))
            memcpy(&h_new[row, 0], &h[row, 0], H * sizeof(floating))
            memset(&tanh_c[row, 0], 0, H * sizeof(floating))
            memset(&gates[row, 0], 0, 4 * H * sizeof(floating))


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
    cdef Py_ssize_t row, H = c.shape[1]
    for row in prange(c.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        if active[row]:
            lstm_row_backward(&dh[row, 0], &dc[row, 0], &dout[row, 0], &gates[row, 0],
                              &tanh_c[row, 0], &c[row, 0], &dgates[row, 0], H)
        else:  # h' = h, c' = c: both gradients pass through
            memset(&dgates[row, 0], 0, 4 * H * sizeof(floating))
