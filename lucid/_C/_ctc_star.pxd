# CTC loss with a wildcard (ctc_loss's star_penalty): the forward-backward algorithm over the
# lattice with a wildcard state in every gap, in log space. Read after _ctc_log.pxd, whose
# recursions this one extends; the driver (_ctc.pyx) sends a sample here instead of the fast
# path when a star_penalty is given. Names (frames, S, the band) as in _lattice.pxd.
#
# Design note
# -----------
# A. Lattice. Star Temporal Classification (Pratap et al., 2022): the transcript may leave out
#    speech anywhere. Gap g = 0 .. S (before l_1, between labels, after l_S) holds a blank b_g
#    and a wildcard *_g beside the labels l_1 .. l_S. With y_t(k) = exp(log_probs[t, n, k])
#    and w the penalty (<= 0), a frame in *_g emits e^w, as a class of probability 1 would: for
#    log-probabilities, e^w times the frame's total probability, so the wildcard stands for any
#    class, blank included, at a cost of w a frame. (It reads no class, so the lattice costs
#    what its states cost, whatever C; forced alignment's wildcard is the same.) Arcs, from
#    frame t - 1 into frame t:
#        b_g, *_g  from b_g, *_g, l_g
#        l_i       from l_i, *_{i-1}, b_{i-1}, l_{i-1} (if l_{i-1} != l_i)
#    A path starts in b_0, *_0 or l_1 and ends in l_S, b_S or *_S. A gap is thus any run of
#    blank and wildcard frames, and every frame-level labelling over the classes and the
#    wildcard is one path (a frame's symbol names its state; a wildcard between two equal labels
#    separates them, as a blank does): p sums each labelling once,
#        p = sum over labellings pi that collapse to the target (wildcards dropped like blanks)
#            of prod_t e(pi_t),  e(k) = y_t(k), e(*) = e^w.
#    The plain lattice's paths are among them, so p >= the plain p and the loss -ln p is at most
#    the plain loss; as w -> -inf it tends to it. alpha and beta (beta without the emission at
#    t, as in _ctc_log.pxd) follow these arcs forwards and backwards:
#        beta_{t-1}(b_g) = beta_{t-1}(*_g) = sum over b_g, *_g, l_{g+1} of beta_t y_t
#        beta_{t-1}(l_i) = sum over l_i, b_i, *_i, l_{i+1} (if l_{i+1} != l_i) of beta_t y_t
#    and gamma_t(s) = alpha_t(s) beta_t(s) / p.
# B. Gradient. d(-ln p)/d log_probs[t, n, k] = -sum_{l'_s = k} gamma_t(s): the wildcard's
#    emission depends on no class, and its posterior gamma*_t (its states summed) leaves the
#    classes' posteriors summing to 1 - gamma*_t. Through a log_softmax (the driver's A.), the
#    gradient for the logits is y_t(k) (1 - gamma*_t) - sum_{l'_s = k} gamma_t(s): the same
#    as if the wildcard had scored w plus the frame's log total probability, which is 0 there
#    (so STC's two usual definitions train alike). The scatter scales the row the driver started
#    at weight y_t by 1 - gamma*_t (computed as the other states' share, without cancellation)
#    before subtracting the classes' posteriors.
# C. Layout. The states are kept by kind, each kind a segment of a row with PADS cells of -inf
#    on each side: B[g] = b_g and W[g] = *_g for g = 0 .. S, L[i] = l_i for i = 1 .. S (L[0] is
#    -inf), so that each kind's loop runs over consecutive cells and vectorises; b_g and *_g
#    share their incoming sum. Frame t holds the gaps and labels of the band (in units):
#    S - (frames - 1 - t) <= g <= t and i <= t + 1; the cells next to each segment's range are
#    set to -inf, which is all the neighbouring frames read outside theirs. Alpha is kept for
#    all frames (frames x width), beta in two rows, the label emissions of each frame in a row of
#    their own (frames x (S + 1 + 2 PADS)), the blank's in one array.
# D. Numerics. Everything in double, in log space, as _ctc_log.pxd: each alpha and beta row
#    shifted by its maximum (alpha's shifts kept for ln p), logsumexp of up to four terms with
#    fast_log and the exp of fast_exp.h. There is no fast path: the argument of _ctc_fast.pxd is
#    made for the plain lattice. The NaN rule of _ctc_log.pxd holds: the classes read are the
#    blank and the labels of the band.

from libc.math cimport INFINITY, NAN
from libc.stdint cimport int64_t

from lucid._C._ctc_log cimport fast_log, lucid_exp_nonpos
from lucid._C._rows cimport floating

cdef enum:
    PADS = 2       # cells of -inf on each side of a segment
    PATH_STAR = 8  # the driver's branch code: log space over the wildcard lattice


cdef struct StarLattice:
    # One sample's wildcard lattice; the arrays point into the thread's Workspace (star_setup).
    Py_ssize_t n, frames, S, units, width  # units = S + 1 cells a segment; width: a row
    Py_ssize_t seg_b, seg_w, seg_l         # where B, W, L start in a row
    const int64_t* target
    int64_t blank
    double star         # w
    double* alpha       # frames x width, then alpha_t beta_t in the backward sweep
    double* beta        # 2 x width
    double* emit        # frames x (units + 2 PADS): ln y_t(l_i) at PADS + i
    double* blank_emit  # frames: ln y_t(blank)
    double* repeat      # units + 1: -inf at i where l_{i-1} = l_i (no arc), else 0


cdef inline Py_ssize_t star_width(Py_ssize_t S) noexcept nogil:
    return 3 * (S + 1 + 2 * PADS)


cdef inline size_t star_bytes(Py_ssize_t frames, Py_ssize_t S) noexcept nogil:
    """Bytes of a StarLattice's arrays."""
    return ((frames + 2) * star_width(S) + frames * (S + 2 + 2 * PADS) + S + 2) * sizeof(double)


cdef inline void star_setup(StarLattice* lat, Py_ssize_t n, Py_ssize_t frames,
                            const int64_t* target, Py_ssize_t S, int64_t blank, double star,
                            char* data) noexcept nogil:
    """The lattice of sample n in the workspace `data` (star_bytes of it): layout (C.), arcs."""
    cdef Py_ssize_t i
    lat.n = n
    lat.frames = frames
    lat.S = S
    lat.units = S + 1
    lat.width = star_width(S)
    lat.seg_b = PADS
    lat.seg_w = lat.seg_b + lat.units + 2 * PADS
    lat.seg_l = lat.seg_w + lat.units + 2 * PADS
    lat.target = target
    lat.blank = blank
    lat.star = star
    lat.alpha = <double*> data
    lat.beta = lat.alpha + frames * lat.width
    lat.emit = lat.beta + 2 * lat.width
    lat.blank_emit = lat.emit + frames * (lat.units + 2 * PADS)
    lat.repeat = lat.blank_emit + frames
    lat.repeat[0] = -INFINITY
    lat.repeat[S + 1] = -INFINITY
    for i in range(1, S + 1):
        lat.repeat[i] = -INFINITY if i == 1 or target[i - 1] == target[i - 2] else 0.0


cdef inline void star_band(const StarLattice* lat, Py_ssize_t t, Py_ssize_t* g_lo,
                           Py_ssize_t* g_hi, Py_ssize_t* i_lo, Py_ssize_t* i_hi) noexcept nogil:
    """The gaps [g_lo, g_hi) and labels [i_lo, i_hi) of frame t (C.)."""
    cdef Py_ssize_t first = lat.S - (lat.frames - 1 - t)
    g_lo[0] = max(0, first)
    g_hi[0] = min(lat.S, t) + 1
    i_lo[0] = max(1, first)
    i_hi[0] = min(lat.S, t + 1) + 1


cdef inline void pad_range(double* seg, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """-inf in the two cells on each side of seg[lo:hi], which the neighbouring frames read."""
    seg[lo - 2] = -INFINITY
    seg[lo - 1] = -INFINITY
    seg[hi] = -INFINITY
    seg[hi + 1] = -INFINITY


cdef inline void pad_row(const StarLattice* lat, double* row, Py_ssize_t t) noexcept nogil:
    cdef Py_ssize_t g_lo, g_hi, i_lo, i_hi
    star_band(lat, t, &g_lo, &g_hi, &i_lo, &i_hi)
    pad_range(row + lat.seg_b, g_lo, g_hi)
    pad_range(row + lat.seg_w, g_lo, g_hi)
    pad_range(row + lat.seg_l, i_lo, i_hi)


cdef inline double logsumexp3(double a, double b, double c) noexcept nogil:
    """ln(e^a + e^b + e^c), -inf when all are; branch-free (no NaN may come in)."""
    cdef double top = a if a > b else b
    top = top if top > c else c
    cdef double r = top + fast_log(lucid_exp_nonpos(a - top) + lucid_exp_nonpos(b - top)
                                   + lucid_exp_nonpos(c - top))
    return r if top > -INFINITY else -INFINITY


cdef inline double logsumexp4(double a, double b, double c, double d) noexcept nogil:
    cdef double top = a if a > b else b
    top = top if top > c else c
    top = top if top > d else d
    cdef double r = top + fast_log(lucid_exp_nonpos(a - top) + lucid_exp_nonpos(b - top)
                                   + lucid_exp_nonpos(c - top) + lucid_exp_nonpos(d - top))
    return r if top > -INFINITY else -INFINITY


cdef inline double row_max(const StarLattice* lat, const double* row, Py_ssize_t g_lo,
                           Py_ssize_t g_hi, Py_ssize_t i_lo, Py_ssize_t i_hi) noexcept nogil:
    cdef double top = -INFINITY
    cdef Py_ssize_t k
    for k in range(g_lo, g_hi):
        top = row[lat.seg_b + k] if row[lat.seg_b + k] > top else top
        top = row[lat.seg_w + k] if row[lat.seg_w + k] > top else top
    for k in range(i_lo, i_hi):
        top = row[lat.seg_l + k] if row[lat.seg_l + k] > top else top
    return top


cdef inline double shift_row(const StarLattice* lat, double* row, Py_ssize_t t) noexcept nogil:
    """Subtract the maximum of frame t's cells of row from them, and return it (-inf: left)."""
    cdef Py_ssize_t k, g_lo, g_hi, i_lo, i_hi
    star_band(lat, t, &g_lo, &g_hi, &i_lo, &i_hi)
    cdef double top = row_max(lat, row, g_lo, g_hi, i_lo, i_hi)
    if top == -INFINITY:
        return top
    for k in range(g_lo, g_hi):
        row[lat.seg_b + k] -= top
        row[lat.seg_w + k] -= top
    for k in range(i_lo, i_hi):
        row[lat.seg_l + k] -= top
    return top


cdef inline bint star_gather(const floating[:, :, :] log_probs, StarLattice* lat, Py_ssize_t t,
                             bint gaps, Py_ssize_t i_lo, Py_ssize_t i_hi) noexcept nogil:
    """Frame t's emissions: the blank's (if the frame has gaps) and those of the labels of the
    band, -inf in the cells beside them; False on a NaN or +inf."""
    cdef Py_ssize_t i
    cdef double y = log_probs[t, lat.n, lat.blank] if gaps else -INFINITY
    cdef double* row = lat.emit + t * (lat.units + 2 * PADS) + PADS
    cdef bint bad = not (y < INFINITY)
    lat.blank_emit[t] = y
    for i in range(i_lo, i_hi):
        y = log_probs[t, lat.n, lat.target[i - 1]]
        bad |= not (y < INFINITY)
        row[i] = y
    pad_range(row, i_lo, i_hi)
    return not bad


cdef inline void star_scatter(
    floating[:, :, ::1] grad, const StarLattice* lat, Py_ssize_t t, const double* ab,
    Py_ssize_t g_lo, Py_ssize_t g_hi, Py_ssize_t i_lo, Py_ssize_t i_hi, double weight,
    bint through_log_softmax,
) noexcept nogil:
    """Subtract weight gamma_t (B.) from grad[t, n]: the blank states' and each label's share
    of ab (alpha_t beta_t up to a common factor); through log_softmax, first scale the row by
    the classes' share 1 - gamma*_t."""
    cdef floating* g = &grad[t, lat.n, 0]
    cdef const double* ab_b = ab + lat.seg_b
    cdef const double* ab_w = ab + lat.seg_w
    cdef const double* ab_l = ab + lat.seg_l
    cdef double blank = 0.0, star = 0.0, labels = 0.0, inv_z
    cdef floating share
    cdef Py_ssize_t k
    for k in range(g_lo, g_hi):
        blank += ab_b[k]
        star += ab_w[k]
    for k in range(i_lo, i_hi):
        labels += ab_l[k]
    inv_z = weight / (blank + star + labels)
    if through_log_softmax:
        share = <floating> ((blank + labels) / (blank + star + labels))
        for k in range(grad.shape[2]):
            g[k] *= share
    g[lat.blank] -= blank * inv_z
    for k in range(i_lo, i_hi):
        g[lat.target[k - 1]] -= ab_l[k] * inv_z


cdef inline double star_log_space(
    const floating[:, :, :] log_probs, StarLattice* lat,
    floating[:, :, ::1] grad, bint want_grad, double weight, bint through_log_softmax,
) noexcept nogil:
    """ln p over the wildcard lattice (A.); scatters -weight gamma into grad if wanted (B.).
    NaN if a needed emission is NaN or +inf; the gradient is written only when p > 0."""
    cdef Py_ssize_t frames = lat.frames, S = lat.S, width = lat.width, ew = lat.units + 2 * PADS
    cdef Py_ssize_t t, k, g_lo, g_hi, i_lo, i_hi
    cdef const double* repeat = lat.repeat
    cdef const double* prev
    cdef double* row
    cdef double* y
    cdef double* b = lat.beta
    cdef double* b_prev = lat.beta + width
    cdef double* swap
    cdef double total = 0.0, into, blank, star = lat.star, top, z
    for k in range(2 * width):
        lat.beta[k] = -INFINITY
    for t in range(frames):
        star_band(lat, t, &g_lo, &g_hi, &i_lo, &i_hi)
        if not star_gather(log_probs, lat, t, g_lo < g_hi, i_lo, i_hi):
            return NAN
        row = lat.alpha + t * width
        prev = row - width
        y = lat.emit + t * ew + PADS
        blank = lat.blank_emit[t]
        if t == 0:
            for k in range(g_lo, g_hi):
                row[lat.seg_b + k] = -INFINITY
                row[lat.seg_w + k] = -INFINITY
            if g_lo == 0:
                row[lat.seg_b] = blank
                row[lat.seg_w] = star
            for k in range(i_lo, i_hi):
                row[lat.seg_l + k] = y[k]  # l_1 alone (a band of one label)
        else:
            for k in range(g_lo, g_hi):  # b_g and *_g, from b_g, *_g, l_g
                into = logsumexp3(prev[lat.seg_b + k], prev[lat.seg_w + k], prev[lat.seg_l + k])
                row[lat.seg_b + k] = into + blank
                row[lat.seg_w + k] = into + star
            for k in range(i_lo, i_hi):  # l_i from l_i, *_{i-1}, b_{i-1}, l_{i-1}
                row[lat.seg_l + k] = logsumexp4(
                    prev[lat.seg_l + k], prev[lat.seg_w + k - 1], prev[lat.seg_b + k - 1],
                    prev[lat.seg_l + k - 1] + repeat[k]) + y[k]
        row[lat.seg_l] = -INFINITY  # L[0]: no such label
        pad_row(lat, row, t)
        total += shift_row(lat, row, t)
    row = lat.alpha + (frames - 1) * width  # ends: l_S, b_S, *_S (L[0] is -inf when S = 0)
    total += logsumexp3(row[lat.seg_l + S], row[lat.seg_b + S], row[lat.seg_w + S])
    if not want_grad or not (total > -INFINITY):
        return total

    b[lat.seg_b + S] = 0.0
    b[lat.seg_w + S] = 0.0
    b[lat.seg_l + S] = 0.0 if S > 0 else -INFINITY
    for t in range(frames - 1, -1, -1):
        star_band(lat, t, &g_lo, &g_hi, &i_lo, &i_hi)
        row = lat.alpha + t * width
        for k in range(g_lo, g_hi):  # alpha_t beta_t, over alpha: this path needs alpha no more
            row[lat.seg_b + k] += b[lat.seg_b + k]
            row[lat.seg_w + k] += b[lat.seg_w + k]
        for k in range(i_lo, i_hi):
            row[lat.seg_l + k] += b[lat.seg_l + k]
        top = row_max(lat, row, g_lo, g_hi, i_lo, i_hi)
        for k in range(g_lo, g_hi):
            row[lat.seg_b + k] = lucid_exp_nonpos(row[lat.seg_b + k] - top)
            row[lat.seg_w + k] = lucid_exp_nonpos(row[lat.seg_w + k] - top)
        for k in range(i_lo, i_hi):
            row[lat.seg_l + k] = lucid_exp_nonpos(row[lat.seg_l + k] - top)
        star_scatter(grad, lat, t, row, g_lo, g_hi, i_lo, i_hi, weight, through_log_softmax)
        if t == 0:
            break
        # c = beta_t + y_t in b itself (beta_t is needed no more), then the arcs of A. backwards
        y = lat.emit + t * ew + PADS
        blank = lat.blank_emit[t]
        for k in range(g_lo, g_hi):
            b[lat.seg_b + k] += blank
            b[lat.seg_w + k] += star
        for k in range(i_lo, i_hi):
            b[lat.seg_l + k] += y[k]
        star_band(lat, t - 1, &g_lo, &g_hi, &i_lo, &i_hi)
        for k in range(g_lo, g_hi):
            b_prev[lat.seg_b + k] = logsumexp3(b[lat.seg_b + k], b[lat.seg_w + k],
                                               b[lat.seg_l + k + 1])
            b_prev[lat.seg_w + k] = b_prev[lat.seg_b + k]
        for k in range(i_lo, i_hi):
            b_prev[lat.seg_l + k] = logsumexp4(b[lat.seg_l + k], b[lat.seg_b + k],
                                               b[lat.seg_w + k],
                                               b[lat.seg_l + k + 1] + repeat[k + 1])
        b_prev[lat.seg_l] = -INFINITY
        pad_row(lat, b_prev, t - 1)
        shift_row(lat, b_prev, t - 1)
        swap = b
        b = b_prev
        b_prev = swap
    return total
