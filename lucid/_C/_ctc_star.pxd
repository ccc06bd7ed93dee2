# CTC loss with a wildcard (ctc_loss's star_penalty): the forward-backward algorithm over the
# lattice with a wildcard state in every gap, in log space. Read after _ctc_log.pxd, whose
# recursions this one extends; the driver (_ctc.pyx) sends a sample here instead of the fast
# path when a star_penalty is given. Names (frames, S, states, width, the band) as in
# _lattice.pxd.
#
# Design note
# -----------
# A. Lattice. Star Temporal Classification (Pratap et al., 2022): the transcript may leave out
#    speech anywhere. Gap g = 0 .. S (before l_1, between labels, after l_S) holds a blank b_g
#    and a wildcard *_g, so states = 3S + 2, in the order
#        b_0, *_0, l_1, b_1, *_1, l_2, ..., l_S, b_S, *_S       (b_g = 3g, *_g = 3g + 1, l_i = 3i - 1)
#    With y_t(k) = exp(log_probs[t, n, k]) and w the penalty (<= 0), a frame in *_g emits e^w,
#    as a class of probability 1 would: for log-probabilities, e^w times the frame's total
#    probability, so the wildcard stands for any class, blank included, at a cost of w a frame.
#    (It reads no class, so the lattice costs what its states cost, whatever C; forced
#    alignment's wildcard is the same.) Arcs, from frame t - 1 into frame t:
#        b_g  from b_g, *_g (s + 1), l_g (s - 1)
#        *_g  from *_g, b_g (s - 1), l_g (s - 2)
#        l_i  from l_i, *_{i-1} (s - 1), b_{i-1} (s - 2), l_{i-1} (s - 3) if l_{i-1} != l_i
#    A path starts in b_0, *_0 or l_1 and ends in l_S, b_S or *_S. A gap is thus any run of
#    blank and wildcard frames, and every frame-level labelling over the classes and the
#    wildcard is one path (a frame's symbol names its state; a wildcard between two equal labels
#    separates them, as a blank does): p sums each labelling once, and
#        p = sum over labellings pi that collapse to the target (wildcards dropped like blanks)
#            of prod_t e(pi_t),  e(k) = y_t(k), e(*) = e^w.
#    The plain lattice's paths are among them, so p >= the plain p and the loss -ln p is at most
#    the plain loss; as w -> -inf it tends to it. alpha and beta (beta without the emission at
#    t, as in _ctc_log.pxd) follow these arcs forwards and backwards; gamma_t(s) = alpha_t(s)
#    beta_t(s) / p.
# B. Gradient. d(-ln p)/d log_probs[t, n, k] = -sum_{l'_s = k} gamma_t(s): the wildcard's
#    emission depends on no class, and its posterior gamma*_t (its states summed) leaves the
#    classes' posteriors summing to 1 - gamma*_t. Through a log_softmax (the driver's A.), the
#    gradient for the logits is y_t(k) (1 - gamma*_t) - sum_{l'_s = k} gamma_t(s): the same
#    as if the wildcard had scored w plus the frame's log total probability, which is 0 there
#    (so STC's two usual definitions train alike). The scatter scales the row the driver started
#    at weight y_t by 1 - gamma*_t (computed as the other states' share, without cancellation)
#    before subtracting the classes' posteriors.
# C. Numerics. Everything in double, in log space, as _ctc_log.pxd: each row shifted by its
#    maximum (alpha's shifts kept for ln p), logsumexp of up to five terms per state with
#    fast_log and the exp of fast_exp.h. There is no fast path: the argument of _ctc_fast.pxd
#    is made for the plain lattice. The band moves by three states a frame:
#    s in [max(0, states - 3 - 3 (frames - 1 - t)), min(states, 3 (t + 1))), a superset of the
#    states on a complete path; rows have STAR_PAD cells of -inf on each side (the arcs reach
#    s - 3 and s + 1, beta s - 1 and s + 3). The NaN rule of _ctc_log.pxd holds: the classes
#    read are the blank and the labels of the band.

from libc.math cimport INFINITY, NAN
from libc.stdint cimport int64_t

from lucid._C._ctc_log cimport fast_log, lucid_exp_nonpos
from lucid._C._rows cimport floating, max4, sum4

cdef enum:
    STAR_PAD = 4   # cells on each side of a row
    STAR = -1      # the label of a wildcard state
    PATH_STAR = 8  # the driver's branch code: log space over the wildcard lattice


cdef struct StarLattice:
    # One sample's wildcard lattice; the arrays point into the thread's Workspace (star_attach).
    Py_ssize_t n, frames, S, states, width  # width = states + 2 STAR_PAD
    double star         # w
    double* emit        # frames x width: ln of each state's emission
    double* alpha       # frames x width, then alpha_t beta_t in the backward sweep
    double* beta        # 2 x width
    double* arcs        # 3 x width: 0 or -inf on the arcs from s - 2, s - 3 and s + 1
    int64_t* label      # width: l'_s, STAR for a wildcard state


cdef inline size_t star_bytes(Py_ssize_t frames, Py_ssize_t S) noexcept nogil:
    """Bytes of a StarLattice's arrays (each a multiple of 8 bytes, so all stay aligned)."""
    cdef size_t width = 3 * S + 2 + 2 * STAR_PAD
    return (2 * frames * width + 6 * width) * sizeof(double)


cdef inline void star_attach(StarLattice* lat, char* data) noexcept nogil:
    cdef Py_ssize_t w = lat.width
    lat.emit = <double*> data
    lat.alpha = lat.emit + lat.frames * w
    lat.beta = lat.alpha + lat.frames * w
    lat.arcs = lat.beta + 2 * w
    lat.label = <int64_t*> (lat.arcs + 3 * w)


cdef inline void star_setup(StarLattice* lat, const int64_t* target, int64_t blank) noexcept nogil:
    """Labels and arcs (A.); the arcs' pads are -inf too."""
    cdef Py_ssize_t s, kind, w = lat.width
    cdef double* from2 = lat.arcs + STAR_PAD
    cdef double* from3 = from2 + w
    cdef double* from_next = from3 + w
    for s in range(3 * w):
        lat.arcs[s] = -INFINITY
    for s in range(lat.states):
        kind = s % 3  # 0: blank, 1: wildcard, 2: label
        lat.label[s] = blank if kind == 0 else STAR if kind == 1 else target[s // 3]
        from2[s] = 0.0 if kind != 0 else -INFINITY
        from3[s] = (0.0 if kind == 2 and s >= 5 and target[s // 3] != target[s // 3 - 1]
                    else -INFINITY)
        from_next[s] = 0.0 if kind == 0 else -INFINITY


cdef inline void star_band(const StarLattice* lat, Py_ssize_t t, Py_ssize_t* lo,
                           Py_ssize_t* hi) noexcept nogil:
    lo[0] = max(0, lat.states - 3 - 3 * (lat.frames - 1 - t))
    hi[0] = min(lat.states, 3 * (t + 1))


cdef inline void star_pads(double* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(1, STAR_PAD + 1):
        row[lo - k] = -INFINITY
        row[hi + k - 1] = -INFINITY


cdef inline double logsumexp5(double a, double b, double c, double d, double e) noexcept nogil:
    """ln(e^a + ... + e^e), -inf when all five are; branch-free (no NaN may come in)."""
    cdef double top = a if a > b else b
    top = top if top > c else c
    top = top if top > d else d
    top = top if top > e else e
    cdef double r = top + fast_log(lucid_exp_nonpos(a - top) + lucid_exp_nonpos(b - top)
                                   + lucid_exp_nonpos(c - top) + lucid_exp_nonpos(d - top)
                                   + lucid_exp_nonpos(e - top))
    return r if top > -INFINITY else -INFINITY


cdef inline double shift_row(double* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Subtract the maximum of row[lo:hi] from it and return that maximum (-inf: left alone)."""
    cdef double top = max4(row + lo, hi - lo)
    cdef Py_ssize_t s
    if top == -INFINITY:
        return top
    for s in range(lo, hi):
        row[s] -= top
    return top


cdef inline bint star_gather(const floating[:, :, :] log_probs, StarLattice* lat, Py_ssize_t t,
                             Py_ssize_t lo, Py_ssize_t hi, double* y) noexcept nogil:
    """y[s] = ln of state s's emission at frame t for s in the band; False on a NaN or +inf."""
    cdef Py_ssize_t s
    cdef double v, star = lat.star
    cdef bint bad = False
    for s in range(lo, hi):
        v = star if lat.label[s] == STAR else log_probs[t, lat.n, lat.label[s]]
        bad |= not (v < INFINITY)
        y[s] = v
    star_pads(y, lo, hi)
    return not bad


cdef inline void star_scatter(
    floating[:, :, ::1] grad, StarLattice* lat, Py_ssize_t t, const double* ab, double z,
    Py_ssize_t lo, Py_ssize_t hi, double weight, bint through_log_softmax,
) noexcept nogil:
    """Subtract weight gamma_t (B.) from grad[t, n]: ab[s] / z at each label's and the blank's
    class; through log_softmax, first scale the row by the classes' share 1 - gamma*_t."""
    cdef floating* g = &grad[t, lat.n, 0]
    cdef double inv_z = weight / z, blank = 0.0, labels = 0.0
    cdef floating share
    cdef Py_ssize_t s, k
    for s in range(lo, hi):
        if s % 3 == 0:
            blank += ab[s]
        elif s % 3 == 2:
            labels += ab[s]
    if through_log_softmax:
        share = <floating> ((blank + labels) / z)
        for k in range(grad.shape[2]):
            g[k] *= share
    g[lat.label[0]] -= blank * inv_z
    for s in range(lo + (2 - lo % 3) % 3, hi, 3):  # the label states
        g[lat.label[s]] -= ab[s] * inv_z


cdef inline double star_log_space(
    const floating[:, :, :] log_probs, StarLattice* lat,
    floating[:, :, ::1] grad, bint want_grad, double weight, bint through_log_softmax,
) noexcept nogil:
    """ln p over the wildcard lattice (A.); scatters -weight gamma into grad if wanted (B.).
    NaN if a needed emission is NaN or +inf; the gradient is written only when p > 0."""
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width
    cdef Py_ssize_t t, s, lo, hi
    cdef double* a = lat.alpha + STAR_PAD
    cdef double* prev = a
    cdef double* b = lat.beta + STAR_PAD
    cdef double* b_prev = lat.beta + width + STAR_PAD
    cdef double* swap
    cdef double* y = lat.emit + STAR_PAD
    cdef const double* from2 = lat.arcs + STAR_PAD
    cdef const double* from3 = from2 + width
    cdef const double* from_next = from3 + width
    cdef double total = 0.0, top
    for t in range(frames):
        star_band(lat, t, &lo, &hi)
        if not star_gather(log_probs, lat, t, lo, hi, y):
            return NAN
        if t == 0:
            for s in range(lo, hi):
                a[s] = y[s]
        else:
            for s in range(lo, hi):
                a[s] = logsumexp5(prev[s], prev[s - 1], prev[s - 2] + from2[s],
                                  prev[s - 3] + from3[s], prev[s + 1] + from_next[s]) + y[s]
        star_pads(a, lo, hi)
        total += shift_row(a, lo, hi)
        prev = a
        a += width
        y += width
    # ends: l_S, b_S, *_S (states - 3 is a pad when S = 0)
    total += logsumexp5(prev[states - 3], prev[states - 2], prev[states - 1], -INFINITY,
                        -INFINITY)
    if not want_grad or not (total > -INFINITY):
        return total

    star_band(lat, frames - 1, &lo, &hi)
    for s in range(lo, hi):
        b[s] = 0.0
    star_pads(b, lo, hi)
    for t in range(frames - 1, -1, -1):
        a = lat.alpha + t * width + STAR_PAD
        y = lat.emit + t * width + STAR_PAD
        star_band(lat, t, &lo, &hi)
        for s in range(lo, hi):  # alpha_t beta_t, over alpha: this path needs alpha no more
            a[s] += b[s]
        top = max4(a + lo, hi - lo)
        for s in range(lo, hi):
            a[s] = lucid_exp_nonpos(a[s] - top)
        star_scatter(grad, lat, t, a, sum4(a + lo, hi - lo), lo, hi, weight, through_log_softmax)
        if t == 0:
            break
        star_band(lat, t - 1, &lo, &hi)
        for s in range(lo, hi):  # the arcs of A., read from their far end
            b_prev[s] = logsumexp5(b[s] + y[s], b[s + 1] + y[s + 1],
                                   b[s + 2] + y[s + 2] + from2[s + 2],
                                   b[s + 3] + y[s + 3] + from3[s + 3],
                                   b[s - 1] + y[s - 1] + from_next[s - 1])
        star_pads(b_prev, lo, hi)
        shift_row(b_prev, lo, hi)
        swap = b
        b = b_prev
        b_prev = swap
    return total
