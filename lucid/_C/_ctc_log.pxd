# CTC loss and its exact gradient: the forward-backward algorithm of Graves et al. (2006), in
# log space.
#
# The loss kernel is three files, read in this order:
#   _ctc_log.pxd   (this file) the algorithm and its exact DP, in log space: what any sample may
#                  take, and what a sample takes when the fast path cannot vouch for its answer;
#   _ctc_fast.pxd  the same DP in probability space, several times faster, and the argument for
#                  when its answer can be trusted;
#   _ctc.pyx       the driver: which path each sample takes, the gradient rows, the workspace and
#                  the threads.
# Names (T, N, C, frames, S, states, width, the band) are those of _lattice.pxd, the lattice the
# loss and the alignment kernel share.
#
# Design note
# -----------
# A. Algorithm. Graves et al., "Connectionist Temporal Classification", ICML 2006, section 4.
#    The paper is 1-based; everything here is 0-based. Sample n has `frames` frames and S
#    labels; the extended target l' = (blank, l_1, blank, ..., l_S, blank) has states = 2S + 1
#    states, blanks at even s. With y_t(k) = exp(log_probs[t, n, k]):
#
#        alpha_0(0) = y_0(blank),  alpha_0(1) = y_0(l_1),  alpha_0(s > 1) = 0
#        alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1)
#                      + [skip s] alpha_{t-1}(s-2)) y_t(l'_s)                  eqs. (6)-(7)
#        p          = alpha_{frames-1}(states-1) + alpha_{frames-1}(states-2)  eq. (8)
#
#    where [skip s] holds when l'_s is a label different from l'_{s-2}. Our beta excludes
#    the emission at t (Graves' beta_t(s) of eqs. (10)-(11) divided by y_t(l'_s)):
#
#        beta_{frames-1}(states-1) = beta_{frames-1}(states-2) = 1, else 0
#        beta_t(s) = c_{t+1}(s) + c_{t+1}(s+1) + [skip s+2] c_{t+1}(s+2),
#        c_{t+1}(s) = y_{t+1}(l'_s) beta_{t+1}(s)
#
#    so that sum_s alpha_t(s) beta_t(s) = p at every t, and the posterior that frame t is in
#    state s is gamma_t(s) = alpha_t(s) beta_t(s) / p. The loss is -ln p and its derivative
#    with respect to log_probs[t, n, k], taken as free variables, is -sum_{l'_s = k} gamma_t(s):
#    the posterior that frame t emits k. (Eq. (16) of the paper is the derivative through a
#    softmax instead; it adds y_t(k), which is what PyTorch returns.) Frames t >= frames and
#    classes absent from l' get exactly 0. (The driver can fold a weight and the log-softmax
#    into what is written: see A. in _ctc.pyx.)
#    Only states on a complete path are visited: at frame t, s in the band
#    [max(0, states - 2(frames - t)), min(states, 2(t + 1))); the rest are zero.
# B. Layout. Per sample, frame by frame as alpha advances, the blank and the labels of the band
#    are read from log_probs (any strides) once each (gather_frame), then spread over the
#    states of a contiguous frames x width array (PAD cells on each side of every row, so the
#    recursions read s-2 .. s+2 without branches). Alpha is kept for all frames in another
#    frames x width array; beta lives in two rows and is swept backwards, fused with the
#    gradient scatter into grad[t, n, :] (scatter), whose rows the driver has started before.
#    The inner loops over s are branch-free, so they vectorise.
# C. Numerics. Everything in double, whatever the input dtype. The same recursions with
#    log-sum-exp, every row shifted by its maximum (kept aside), so the rounding stays relative
#    to the numbers that matter; a vectorisable log (fast_log) and the exp of fast_exp.h keep it
#    within ~3x of the fast path. -inf emissions are impossible ones (zero probability). A NaN
#    (or +inf) among the needed emissions of a frame gives a NaN loss and a NaN gradient on that
#    sample's frames; a sample with no complete path (too few frames, or impossible emissions)
#    gets +inf and a zero gradient.

from libc.math cimport INFINITY, NAN
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from lucid._C._lattice cimport PAD, band_hi, band_lo, fill_pads
from lucid._C._rows cimport FOR_WRITE, floating, max4, prefetch, sum4

cdef extern from "fast_exp.h" nogil:
    double lucid_exp_nonpos(double x)
    float lucid_expf_nonpos(float x)

cdef extern from *:
    """
    static const double lucid_ctc_wide = -600.0;
    """
    # nats below its frame's maximum an emission may lie on the fast path (guard (a) of
    # _ctc_fast.pxd): gather_frame reports those beyond
    const double WIDE "lucid_ctc_wide"

cdef enum:
    AHEAD = 2  # the scatter of frame t prefetches the gradient entries of frame t - AHEAD

# What gathering a frame found (bit flags).
cdef enum:
    WIDE_EMISSION = 1    # guard (a): the fast path cannot hold it, needs log space
    NO_EMISSION = 2      # every needed emission of the frame is -inf: p = 0
    NAN_EMISSION = 4     # a NaN (or +inf) among the needed emissions


cdef struct Lattice:
    # One sample's lattice and its arrays (pointers into the thread's Workspace; the driver
    # carves them, see workspace_shape in _ctc.pyx).
    Py_ssize_t n, frames, states, width  # width = states + 2 PAD
    double* emit        # frames x width: exp(log y_t(l'_s) - m_t) (log space: its log)
    double* alpha       # frames x width
    double* beta        # 2 x width: beta_t and beta_{t-1}
    double* skip        # width: 1.0 where [skip s] holds, else 0.0 (also on the pads)
    double* classes     # width: scratch for one frame's distinct emissions, or alpha_t beta_t
    int64_t* label      # width: l'_s (only 0 <= s < states is read)
    int64_t* alpha_exp  # frames: alpha row t holds alpha_t / 2^alpha_exp[t] / exp(m_0 + ... + m_t)
    int64_t* beta_exp   # 2 x width: the exponents of the wide beta's entries (_ctc_fast.pxd)


cdef inline double fast_log(double x) noexcept nogil:
    """ln x for x >= 0 and normal (0 gives -inf), branch-free so that loops calling it vectorise.

    x = 2^e m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(u), u = (m - 1) / (m + 1),
    |u| < 0.172, by its series to u^19 (truncation below 3e-17 relative).
    """
    cdef uint64_t bits, e_bits
    cdef double m, e, u, u2, p
    memcpy(&bits, &x, sizeof(double))
    e_bits = (bits >> 52) | 0x4330000000000000ULL                  # 2^52 + biased exponent
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL  # the mantissa, in [1, 2)
    memcpy(&e, &e_bits, sizeof(double))
    memcpy(&m, &bits, sizeof(double))
    e = e - 4503599627371519.0                                     # - 2^52 - 1023
    e = e + 1.0 if m > 1.4142135623730951 else e
    m = m * 0.5 if m > 1.4142135623730951 else m
    u = (m - 1.0) / (m + 1.0)
    u2 = u * u
    p = 1.0 / 19.0
    p = p * u2 + 1.0 / 17.0
    p = p * u2 + 1.0 / 15.0
    p = p * u2 + 1.0 / 13.0
    p = p * u2 + 1.0 / 11.0
    p = p * u2 + 1.0 / 9.0
    p = p * u2 + 1.0 / 7.0
    p = p * u2 + 1.0 / 5.0
    p = p * u2 + 1.0 / 3.0
    p = p * u2 + 1.0
    # ln 2 split in two so that e * ln2_hi is exact
    p = e * 6.93147180369123816490e-01 + (2.0 * u * p + e * 1.90821492927058770002e-10)
    return p if x > 0.0 else -INFINITY


cdef inline double logaddexp3(double x, double y, double z) noexcept nogil:
    """ln(e^x + e^y + e^z), -inf when all three are; branch-free (no NaN may come in)."""
    cdef double hi = x if x > y else y
    cdef double lo = y if x > y else x
    cdef double top = hi if hi > z else z
    cdef double mid = z if hi > z else hi
    # the largest term is 1, so the log's argument lies in [1, 3]
    cdef double r = top + fast_log(1.0 + lucid_exp_nonpos(mid - top) + lucid_exp_nonpos(lo - top))
    return r if top > -INFINITY else -INFINITY


cdef inline double shift_to_max(double* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Subtract the maximum of the log-space row[lo:hi] from it and return that maximum."""
    cdef double top = max4(row + lo, hi - lo)
    cdef Py_ssize_t s
    if top == -INFINITY:
        return top
    for s in range(lo, hi):
        row[s] -= top
    return top


cdef inline int gather_frame(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Py_ssize_t n, Py_ssize_t t, Py_ssize_t lo, Py_ssize_t hi,
    const int64_t* label, bint log_space,
    double* v,                          # WORK S + 1: the distinct emissions (blank first)
    double* row,                        # OUT the emissions of states lo..hi-1, and the pads
    double* log_scale,                  # IN/OUT m_t is added
) noexcept nogil:
    """Gather frame t of sample n relative to its maximum m_t; return *_EMISSION flags.

    The blank and the labels of the band are read and (but for log space) exponentiated once
    each, into v, then spread over the states.
    """
    cdef Py_ssize_t s, k, first = lo // 2, count = hi // 2 - lo // 2 + 1
    cdef double top, d
    cdef uint64_t wide = 0, nan = 0
    cdef bint impossible
    # the blank, unless the band is a single label state
    v[0] = log_probs[t, n, label[0]] if (lo + 1) // 2 < (hi + 1) // 2 else -INFINITY
    top = v[0] if v[0] > -INFINITY else -INFINITY  # NaNs are skipped here, caught below
    for k in range(1, count):
        v[k] = log_probs[t, n, label[2 * (first + k) - 1]]
        top = v[k] if v[k] > top else top
    if top == INFINITY:
        return NAN_EMISSION
    impossible = top == -INFINITY  # every emission -inf (or NaN)
    if impossible:
        top = 0.0  # the -inf (and NaN) go through unchanged
    log_scale[0] += top
    if log_space:
        for k in range(count):
            d = v[k] - top
            nan |= d != d
            v[k] = d
    else:
        for k in range(count):
            d = v[k] - top
            nan |= d != d
            wide |= (d < WIDE) & (d > -INFINITY)
            v[k] = lucid_exp_nonpos(d)
    for k in range(first, first + count - 1):  # blank then label k, state by state
        row[2 * k] = v[0]
        row[2 * k + 1] = v[k - first + 1]
    row[2 * (first + count - 1)] = v[0]
    fill_pads(row, lo, hi, -INFINITY if log_space else 0.0)
    if nan:
        return NAN_EMISSION
    if impossible:
        return NO_EMISSION
    return WIDE_EMISSION if wide else 0


# Why scatter prefetches. By the time beta reaches a gradient row, the driver's pass that
# started the rows has long left it: a large batch's gradient outlives the caches, and the
# scatter's writes fall on lines scattered over the row (S + 1 classes of C), which the hardware
# cannot foresee. So the scatter of frame t prefetches the lines frame t - AHEAD will write (the
# classes of its own band, which moves one state per frame; the whole row when it has fewer
# lines than the band has labels), and the misses overlap the DP instead of stalling it.
# Starting each row inside beta, right before its scatter, would keep the scatter in L1 but
# visits the rows sample by sample, a jump of N C entries per row, and that pass no longer
# streams: it measured slower than the memory-order pass plus the prefetched scatter.
cdef inline void scatter(
    floating[:, :, ::1] grad,           # IN/OUT row grad[t, n, :]
    Py_ssize_t t, Py_ssize_t n,
    const double* ab,                   # IN alpha_t(s) beta_t(s) up to a common factor
    double z,                           # sum of ab over the band
    Py_ssize_t lo, Py_ssize_t hi, const int64_t* label,
    double weight,                      # the sample's weight in the reduction
) noexcept nogil:
    """Subtract weight gamma_t(s) = weight ab[s] / z from grad[t, n] at each state's class (blank
    states summed first); ask for the lines the scatter of frame t - AHEAD will write."""
    cdef floating* g = &grad[t, n, 0]
    cdef floating* later
    cdef double inv_z = weight / z, b0 = 0.0, b1 = 0.0
    cdef Py_ssize_t s, row_bytes = grad.shape[2] * sizeof(floating)
    if t >= AHEAD:
        later = &grad[t - AHEAD, n, 0]
        if row_bytes < 32 * (hi - lo):
            for s in range(0, row_bytes, 64):
                prefetch(<char*> later + s, FOR_WRITE)
            prefetch(<char*> later + row_bytes - 1, FOR_WRITE)  # the row need not start on a line
        else:
            prefetch(&later[label[0]], FOR_WRITE)
            for s in range(lo | 1, hi, 2):
                prefetch(&later[label[s]], FOR_WRITE)
    s = lo + (lo & 1)
    while s + 2 < hi:  # two partial sums, so the additions pipeline
        b0 += ab[s]
        b1 += ab[s + 2]
        s += 4
    if s < hi:
        b0 += ab[s]
    g[label[0]] -= (b0 + b1) * inv_z
    for s in range(lo | 1, hi, 2):
        g[label[s]] -= ab[s] * inv_z


cdef inline double log_space(
    const floating[:, :, :] log_probs, Lattice lat,
    floating[:, :, ::1] grad, bint want_grad, double weight,
) noexcept nogil:
    """ln p by eqs. (6)-(8) in log space, gathering as it goes; scatters -gamma if wanted.

    Each alpha row and beta row is shifted by its maximum; only the alpha shifts and the m_t
    enter ln p, and gamma_t is normalised per frame. Returns NaN if a needed emission is NaN;
    the gradient is written only when p > 0.
    """
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width
    cdef Py_ssize_t t, s, lo, hi
    cdef double* a = lat.alpha + PAD
    cdef double* prev = lat.alpha + PAD
    cdef double* b = lat.beta + PAD
    cdef double* b_prev = lat.beta + width + PAD
    cdef double* swap
    cdef double* y = lat.emit + PAD
    cdef const double* skip = lat.skip + PAD
    cdef double total = 0.0, top
    for t in range(frames):
        lo = band_lo(t, frames, states)
        hi = band_hi(t, states)
        # an all -inf frame is left as it is: the rows go -inf and so does ln p
        if gather_frame(log_probs, lat.n, t, lo, hi, lat.label, True, lat.classes, y,
                        &total) & NAN_EMISSION:
            return NAN
        if t == 0:
            for s in range(lo, hi):
                a[s] = y[s]
        else:
            for s in range(lo, hi):
                a[s] = logaddexp3(prev[s], prev[s - 1],
                                  prev[s - 2] if skip[s] != 0.0 else -INFINITY) + y[s]
        fill_pads(a, lo, hi, -INFINITY)
        total += shift_to_max(a, lo, hi)
        prev = a
        a += width
        y += width
    # eq. (8); states - 2 is a pad (-inf) when states = 1
    total += logaddexp3(prev[states - 1], prev[states - 2], -INFINITY)
    if not want_grad or not (total > -INFINITY):
        return total

    lo = band_lo(frames - 1, frames, states)
    hi = band_hi(frames - 1, states)
    for s in range(lo, hi):
        b[s] = 0.0
    fill_pads(b, lo, hi, -INFINITY)
    for t in range(frames - 1, -1, -1):
        a = lat.alpha + t * width + PAD
        y = lat.emit + t * width + PAD
        lo = band_lo(t, frames, states)
        hi = band_hi(t, states)
        for s in range(lo, hi):  # alpha_t beta_t, over alpha: this path needs alpha no more
            a[s] += b[s]
        top = max4(a + lo, hi - lo)
        for s in range(lo, hi):
            a[s] = lucid_exp_nonpos(a[s] - top)
        scatter(grad, t, lat.n, a, sum4(a + lo, hi - lo), lo, hi, lat.label, weight)
        if t == 0:
            break
        lo = band_lo(t - 1, frames, states)
        hi = band_hi(t - 1, states)
        for s in range(lo, hi):
            b_prev[s] = logaddexp3(b[s] + y[s], b[s + 1] + y[s + 1],
                                   b[s + 2] + y[s + 2] if skip[s + 2] != 0.0 else -INFINITY)
        fill_pads(b_prev, lo, hi, -INFINITY)
        shift_to_max(b_prev, lo, hi)
        swap = b
        b = b_prev
        b_prev = swap
    return total
