"""Row-wise log-softmax and its backward, fused and parallel over rows.

Design note
-----------
a. Why a kernel: numpy needs five full passes (max, subtract, exp, sum, log) with a
   temporary per pass; for a (T, N, C) tensor with a large vocabulary that costs more than
   the CTC loss itself. Here each row is handled while it sits in cache.
b. Numerics: the row max is subtracted before exponentiating, so every exp argument is
   <= 0 and the vectorisable exps of fast_exp.h apply (the float one for float32 rows, the
   double one for float64); sums of exponentials are kept in double, in LANES interleaved
   partial sums (a fixed order: results do not depend on the thread count). float32 rows
   finish in float32, where converting every entry to double and back would cost four times
   the arithmetic: out = (x - hi) - lo with lse = hi + lo split in two floats (x - hi is
   exact when x is near lse, and where it is not, its rounding is below one ulp of the
   result), so out is within one float ulp of x - lse; the backward scales exp(out) by the
   float32 row sum of g (2^-24 of the product, the size of the exp's own error). A row
   holding +inf or NaN yields NaN; an all -inf row yields -inf (PyTorch gives NaN there).
c. Layout and threading: callers pass C-contiguous (rows, C) arrays with the softmax axis
   last; rows (or blocks of short rows, e.) are independent and split over OpenMP threads
   with a static schedule, one thread per GRAIN entries at most (small calls stay on the
   calling thread).
d. Speed: a training step reads and writes each (T, N, C) array once per pass, so every
   pass over a row must run at memory speed. The max (row_max.h) and the sums therefore run
   as vector loops (a single running max or sum is a serial chain), the sums in LANES
   independent lanes; each row is read from memory once: the later passes find it in cache.
   Those later passes are compute-bound (the exps), and the hardware prefetchers, which
   follow cache misses, go quiet during them; so the exp pass asks for the next row, CHUNK
   entries at a time (prefetch_lines), and memory and arithmetic overlap. Measured on one
   thread (AVX-512, 4000 x 1024 and 960 x 8000 float32): forward 1.3x, backward 1.2-1.4x.
   The sum is a pass of its own: summing the exps as they are made measured 1.25x slower
   for that loop than the exp pass and a sum pass that reads the row back from L1.
e. Short rows: with few classes the time goes to per-row costs, not to entries: the loop
   tails of every pass, the horizontal max, the serial chain of sums (tail, then LANES
   partial sums). So the forward takes rows of fewer than SHORT classes BLOCK at a time,
   transposed (row_block.h), one row per vector lane: each lane does what the row loop does,
   in the same order (the same bits), with no tails, and BLOCK chains run side by side; the
   exp pass asks for the next block, a line per step. Measured on one thread (AVX-512,
   float32): 3.8x for 9600 x 28, 1.45x for 6400 x 80 (1.1x for 100000 x 80, from memory).
   Rows of 128 to 255 classes stay on the row loop: blocks gain up to 1.3x there in cache,
   but lose up to 6% from memory.
"""

from cython.parallel cimport prange
from libc.math cimport log, INFINITY, NAN

from lucid._C._rows cimport floating, prefetch_lines, threads_for

cdef enum:
    LANES = 16  # one AVX-512 register of floats; two of doubles
    CHUNK = 256  # entries of a row's exp pass between two prefetches of the next row
    SHORT = 128  # rows with fewer classes than this go through blocks

cdef extern from "fast_exp.h" nogil:
    double lucid_exp_nonpos(double x)
    float lucid_expf_nonpos(float x)

cdef extern from "row_max.h" nogil:
    float lucid_row_max_f(const float* v, long n)
    double lucid_row_max_d(const double* v, long n)

cdef extern from "row_block.h" nogil:
    enum: BLOCK "LUCID_BLOCK"  # rows of a short-row block, one vector lane each
    void lucid_block_in_f(const float* x, long rows, long C, float* xt)
    void lucid_block_in_d(const double* x, long rows, long C, double* xt)
    void lucid_block_max_f(const float* xt, long C, float* m)
    void lucid_block_max_d(const double* xt, long C, double* m)


cdef inline floating exp_nonpos(floating x) noexcept nogil:
    # float32 rows take the float exp: twice the vector lanes, and exact to the output's ulp
    if floating is float:
        return lucid_expf_nonpos(x)
    else:
        return lucid_exp_nonpos(x)


cdef inline floating row_max(const floating* v, Py_ssize_t n) noexcept nogil:
    """max(v[:n]) (-inf for an all -inf row; NaN or not when the row holds a NaN)."""
    if floating is float:
        return lucid_row_max_f(v, n)
    else:
        return lucid_row_max_d(v, n)


cdef inline double sum_lanes(const floating* v, Py_ssize_t n) noexcept nogil:
    """sum(v[:n]) in double, in a fixed order whatever the thread."""
    cdef double s[LANES]
    cdef double total = 0.0
    cdef Py_ssize_t i = 0, j
    for j in range(LANES):
        s[j] = 0.0
    while i + LANES <= n:
        for j in range(LANES):
            s[j] += v[i + j]
        i += LANES
    while i < n:
        total += v[i]
        i += 1
    for j in range(LANES):
        total += s[j]
    return total


cdef inline void subtract(const floating* x, floating* out, Py_ssize_t C,
                          double lse) noexcept nogil:
    """out[:C] = x[:C] - lse."""
    cdef Py_ssize_t c
    cdef float hi, lo
    if floating is float:
        # x - lse in float, lse split as hi + lo (b.): within one float ulp of the double
        # difference, at a quarter of the cost of converting every entry to double
        hi = <float>lse
        lo = <float>(lse - hi)
        for c in range(C):
            out[c] = (x[c] - hi) - lo
    else:
        for c in range(C):
            out[c] = x[c] - lse


cdef void impossible_row(const floating* x, floating* out, Py_ssize_t C) noexcept nogil:
    """A row whose maximum is -inf: every class impossible, log(0) = -inf; unless the row
    holds a NaN, which the maximum skips: then NaN, as anywhere else (b.)."""
    cdef Py_ssize_t c
    cdef bint nan = False
    for c in range(C):
        nan = nan or x[c] != x[c]
    for c in range(C):
        out[c] = NAN if nan else -INFINITY


cdef inline void log_softmax_row(const floating* x, floating* out, Py_ssize_t C,
                                 const floating* next_x) noexcept nogil:
    cdef Py_ssize_t b, c, end
    cdef floating m = row_max(x, C)  # a NaN anywhere makes the row NaN, through m or exp
    if m == -INFINITY:
        impossible_row(x, out, C)
        return
    b = 0
    while b < C:  # (d.): exps of this row while the next one is fetched
        end = min(b + CHUNK, C)
        if next_x != NULL:
            prefetch_lines(next_x + b, (end - b) * sizeof(floating))
        for c in range(b, end):
            out[c] = exp_nonpos(x[c] - m)
        b = end
    subtract(x, out, C, m + log(sum_lanes(out, C)))


cdef inline void log_softmax_block(const floating* x, floating* out, Py_ssize_t rows,
                                   Py_ssize_t C, const floating* next_x,
                                   Py_ssize_t next_n) noexcept nogil:
    """log_softmax_row on `rows` (<= BLOCK) short rows (C < SHORT) at once, one per lane (e.)."""
    cdef floating xt[SHORT * BLOCK]
    cdef double s[BLOCK]
    cdef double total[BLOCK]
    cdef floating m[BLOCK]
    cdef Py_ssize_t r, c, j
    if floating is float:
        lucid_block_in_f(x, rows, C, xt)  # lanes past the last row compute on zeros, unused
        lucid_block_max_f(xt, C, m)
    else:
        lucid_block_in_d(x, rows, C, xt)
        lucid_block_max_d(xt, C, m)
    for c in range(C):  # in place, then summed: two loops run faster than one (d.)
        if c * BLOCK < next_n:  # (d.): the next block, a line per step, while the exps run
            prefetch_lines(next_x + c * BLOCK, BLOCK * sizeof(floating))
        for r in range(BLOCK):
            xt[c * BLOCK + r] = exp_nonpos(xt[c * BLOCK + r] - m[r])
    # sum_lanes's order: the tail in order, then the LANES partial sums one by one, partial
    # sum j holding the entries j mod LANES of the full groups
    for r in range(BLOCK):
        total[r] = 0.0
    for c in range(C - C % LANES, C):
        for r in range(BLOCK):
            total[r] += xt[c * BLOCK + r]
    for j in range(LANES):
        for r in range(BLOCK):
            s[r] = 0.0
        c = j
        while c < C - C % LANES:
            for r in range(BLOCK):
                s[r] += xt[c * BLOCK + r]
            c += LANES
        for r in range(BLOCK):
            total[r] += s[r]
    for r in range(rows):
        if m[r] == -INFINITY:
            impossible_row(&x[r * C], &out[r * C], C)
            continue
        subtract(&x[r * C], &out[r * C], C, m[r] + log(total[r]))


def log_softmax_rows(
    const floating[:, ::1] x,   # IN  (rows, C)
    floating[:, ::1] out,       # OUT (rows, C)
    int n_threads,
):
    """out[r] = x[r] - logsumexp(x[r]) for every row r."""
    cdef Py_ssize_t r, b, rows = x.shape[0], C = x.shape[1]
    n_threads = threads_for(rows * C, n_threads)
    if C < SHORT:
        for b in prange((rows + BLOCK - 1) // BLOCK, nogil=True, num_threads=n_threads,
                        schedule="static"):
            log_softmax_block(&x[b * BLOCK, 0], &out[b * BLOCK, 0],
                              min(BLOCK, rows - b * BLOCK), C,
                              &x[(b + 1) * BLOCK, 0] if (b + 1) * BLOCK < rows else NULL,
                              max(0, min(BLOCK, rows - (b + 1) * BLOCK)) * C)
        return
    for r in prange(rows, nogil=True, num_threads=n_threads, schedule="static"):
        log_softmax_row(&x[r, 0], &out[r, 0], C, &x[r + 1, 0] if r + 1 < rows else NULL)


cdef inline void log_softmax_backward_row(const floating* g, const floating* out,
                                          floating* grad_in, Py_ssize_t C,
                                          const floating* next_g,
                                          const floating* next_out) noexcept nogil:
    cdef Py_ssize_t b = 0, c, end
    # in the rows' precision: the sum's rounding to float32 adds at most 2^-24 of
    # exp(out) * total, as much as the float exp's own error (b.)
    cdef floating total = <floating>sum_lanes(g, C)
    while b < C:  # (d.): the exp pass is compute-bound, fetch the next rows meanwhile
        end = min(b + CHUNK, C)
        if next_g != NULL:
            prefetch_lines(next_g + b, (end - b) * sizeof(floating))
            prefetch_lines(next_out + b, (end - b) * sizeof(floating))
        for c in range(b, end):
            grad_in[c] = g[c] - exp_nonpos(out[c]) * total
        b = end


def log_softmax_backward_rows(
    const floating[:, ::1] grad_out,  # IN  (rows, C) gradient w.r.t. the log-softmax output
    const floating[:, ::1] out,       # IN  (rows, C) the log-softmax output
    floating[:, ::1] grad_in,         # OUT (rows, C) gradient w.r.t. its input
    int n_threads,
):
    """grad_in[r] = grad_out[r] - exp(out[r]) * sum(grad_out[r]) for every row r."""
    cdef Py_ssize_t r, rows = out.shape[0], C = out.shape[1]
    n_threads = threads_for(rows * C, n_threads)
    for r in prange(rows, nogil=True, num_threads=n_threads, schedule="static"):
        log_softmax_backward_row(&grad_out[r, 0], &out[r, 0], &grad_in[r, 0], C,
                                 &grad_out[r + 1, 0] if r + 1 < rows else NULL,
                                 &out[r + 1, 0] if r + 1 < rows else NULL)
