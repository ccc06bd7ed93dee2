# The CTC DP of _ctc_log.pxd in probability space: the fast path, and why its answers hold.
#
# The second of the loss kernel's three files (after _ctc_log.pxd, before the driver _ctc.pyx).
# The recursions are eqs. (6)-(11) as written there, on the same layout; only the numbers are
# kept differently, several times faster than log-sum-exp. The note below argues when an
# answer of this path is right; the driver sends every other sample to the exact log space.
#
# Design note
# -----------
# A. Row scaling. Emissions are gathered as exp(log y - m_t), m_t the largest needed
#    log-emission of frame t; every alpha row and beta row is scaled by a power of two (exact)
#    so that its largest entry lies in [2^1000, 2^1001): the top of the double range, leaving
#    2^-2000 (e^-1386) of it below the maximum. Smaller entries cannot be kept, and the two
#    sweeps treat them in opposite directions:
#    - alpha rounds DOWN: an entry below FLUSH = 2^-1000, or a product below 2^-1022, becomes
#      0 (a subnormal product is rounded to nearest, so it may round up by as much as half of
#      itself; and a row whose maximum is small can scale it back above FLUSH). Above 2^-1022
#      every operation errs by at most epsilon/2 relative, counted in tol below. So every
#      computed alpha_t(s) <= the exact one up to that rounding, and alpha row 0 (at most two
#      emissions, within 600 nats of each other by guard (a)) is exact.
#    - beta rounds UP: an entry below FLUSH becomes FLUSH, and a sum below 2^-1021 (where a
#      product may have underflowed) gets the products' largest rounding error added. So every
#      computed beta_t(s) >= the exact one, and beta row frames-1 (all ones) is exact.
#    Since alpha_t(s) beta_t(s) can then exceed the double range, it is formed from the two
#    mantissas and exponents (scaled_product). The powers of two and the m_t are kept aside,
#    so ln p has no rounding beyond the DP's own.
#    The passes over a row are arranged for speed and change no number: a row's maximum is
#    found by the loop that writes it, as an integer maximum over the bits of its entries
#    (>= 0 and finite, so their bits order as they do; a floating-point maximum does not
#    vectorise), and exponents are read from the bits rather than by frexp/ldexp; beta's
#    rescaling pass also finds the next frame's scaled_product exponent; an alpha row whose
#    entries cannot fall below FLUSH is only multiplied (or left alone when e = 0); beta's
#    round-up is a second pass, over the rare rows with a sum below 2^-1021.
# B. Why an accepted answer is right. For the exact recursions Z_t = sum_s alpha_t(s) beta_t(s)
#    equals p at every t. With the computed rows, Z_{frames-1} (exact beta) <= p <= Z_0 (exact
#    alpha), up to the rounding of the arithmetic. Check (b) below accepts only when every Z_t,
#    Z_0 included, lies within tol = (4 frames + states + 8) epsilon of Z_{frames-1}: then p lies
#    within tol of Z_{frames-1}, so ln p is right to tol. For the gradient, write D_t =
#    sum_s (alpha_t - computed alpha_t) beta_t (what alpha dropped, weighed exactly) and U_t =
#    sum_s alpha_t (computed beta_t - beta_t) (what beta added); D_t <= p - Z_{frames-1} and
#    U_t <= Z_0 - p, both <= tol p, and sum_s |computed alpha_t beta_t - exact alpha_t beta_t|
#    <= 2 (D_t + U_t): every gamma_t(s), normalised by its own Z_t, is within a few tol of the
#    exact posterior.
#    Dropping in both sweeps (what this kernel once did) has no such bound: alpha can drop the
#    early part of the best alignment and beta its late part, and every Z_t then misses the
#    same mass and agrees.
# C. Wide beta. Rounding beta up costs nothing where the answer is certain, but raising
#    beta_t(s) by d adds alpha_t(s) d to Z_t (and, carried back by the linear recursion, to
#    every earlier Z), and alpha_t(s) can exceed p / max_s beta_t(s) by far more than 2^2000:
#    when the best prefix and the best suffix of a frame sit in states more than ~1300 nats
#    apart (long, very peaky samples: 14 of the 16 of benchmarks/bench_ctc.py's W5 peaky),
#    the floor alone fails check (b). So when check (b) fails, beta is swept again (the wide
#    beta) with an exponent per entry, beta_t(s) = m 2^e, m in [1, 2) or 0, e an int64: no
#    entry is ever flushed or raised, whatever the range of the row. Each step of eq. (11)
#    scales its three products y m to the exponent of the largest nonzero one, which is at
#    least e^-600 > 2^-866 (a nonzero emission passed guard (a); m >= 1); a term scaled below
#    2^-1022 (dropped) or into the subnormals (rounded by 2^-1075) is wrong by less than 2^-155
#    of the sum. The rest is the same multiplications and additions of nonnegative numbers as
#    the row-scaled sweep, each within epsilon/2, and exact power-of-two scalings; so every
#    computed beta_t(s) is the exact one within the rounding counted in tol, and beta row
#    frames-1 (all ones) is exact. The products alpha_t(s) beta_t(s) are scaled by the largest
#    one's exponent; those below 2^-1022 of it (together under states 2^-1020 of Z_t, inside
#    tol) become 0. Hence Z_{frames-1} <= p <= Z_0 up to rounding as before, and the same check
#    (b), with the same tol, accepts only when p lies within tol of Z_{frames-1}; U_t is now
#    rounding alone, so check (b) is left to catch what alpha dropped (D_t), and the gradient
#    bound of B. holds as it stands. The row-scaled beta writes alpha_t beta_t into a scratch
#    row, not over alpha, so the retry reuses alpha as alpha_fast left it; gradient rows the
#    first sweep wrote are started again first. The wide beta costs about twice a row-scaled
#    sweep, and only samples that failed it pay. Both are one sweep (beta_sweep), told apart by
#    the type of the rows it carries (RowScaled, PerEntry).
# D. Guards. A sample goes to the exact path when the fast path could be wrong:
#    (a) an emission more than WIDE = 600 nats below its frame maximum (but not -inf): it
#        would underflow in the gathered emissions themselves;
#    (b) some Z_t differs from Z_{frames-1} by more than tol relative (see B.), with the
#        row-scaled beta and again with the wide one; gamma_t is normalised by its own Z_t;
#    (c) p = 0, or a row's maximum falls below 2^-23 in one step (more than 2^1023 below the
#        last row's), beyond what rescaling can bring back: impossible (-inf) emissions, but
#        also finite ones, when the states that held the last row's mass cannot finish in the
#        frames left (a repeated label needs a blank, so with little slack the band cuts them
#        off) and the states that can are that far below. Such samples are rare.
#    When only the loss is wanted and alpha dropped nothing, alpha is exact up to rounding and
#    ln p comes straight from eq. (8); otherwise beta is swept (with no gradient) for check (b).
# E. Memory. Alpha's gather waits on memory: frame t + 1 of a sample lies N C entries after
#    frame t, and its S + 1 entries are scattered over the row, so every frame waited. Alpha
#    therefore asks for the entries frame t + GATHER_AHEAD will gather (on one thread, the
#    gradient-writing kernel took 15-30% less time for C >= 1000 and for long targets; short
#    rows, already in cache, neither gain nor lose). The scatter prefetches likewise
#    (_ctc_log.pxd says why).

from libc.math cimport INFINITY, fabs, frexp
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from lucid._C._ctc_log cimport (NAN_EMISSION, WIDE_EMISSION, Lattice, gather_frame,
                                scatter)
from lucid._C._lattice cimport PAD, band_hi, band_lo, fill_pads
from lucid._C._rows cimport FOR_READ, floating, prefetch, sum4

cdef extern from *:
    """
    static const double lucid_ctc_flush = 0x1p-1000;
    static const double lucid_ctc_epsilon = 2.220446049250313e-16;
    static const int64_t lucid_ctc_bits_2_m23 = (int64_t) 1000 << 52;
    static const int64_t lucid_ctc_bits_inf = (int64_t) 2047 << 52;
    static const int64_t lucid_ctc_zero_exp = -((int64_t) 1 << 40);
    """
    const double FLUSH "lucid_ctc_flush"  # entries below become 0 (rows peak in [2^1000, 2^1001))
    const double DBL_EPSILON "lucid_ctc_epsilon"
    const int64_t BITS_2_M23 "lucid_ctc_bits_2_m23"  # bits_of(2^-23)
    const int64_t BITS_INF "lucid_ctc_bits_inf"      # bits_of(inf)
    const int64_t ZERO_EXP "lucid_ctc_zero_exp"  # a zero wide-beta entry's exponent: never largest

cdef enum:
    GATHER_AHEAD = 4  # alpha at frame t prefetches the emissions of frame t + GATHER_AHEAD (E.)
    FALL_BACK = 8     # alpha_fast gave up (guard (c)): use log space

# Which branch decided each sample's answer (the driver's optional `paths` output, read by the
# tests).
cdef enum:
    PATH_FAST = 0        # probability space, accepted
    PATH_GUARD_A = 1     # log space: an emission too far below its frame maximum
    PATH_GUARD_B = 2     # log space: Z_t strayed from Z_{frames-1}
    PATH_GUARD_C = 3     # log space: p = 0 or a row all but vanished
    PATH_NAN = 4         # a NaN (or +inf) among the needed emissions
    PATH_INFEASIBLE = 5  # no alignment fits the frames: +inf without a DP
    PATH_EMPTY = 6       # no frames and no labels: loss 0 without a DP
    PATH_WIDE = 7        # probability space, accepted with the wide beta after check (b) failed
    PATH_PARTIAL = 16    # added to a guard: gradient rows were written, then zeroed again


# ------------------------------------------------------------------ bits of doubles
cdef inline int64_t bits_of(double x) noexcept nogil:
    """The bits of x as an integer: for x >= 0 (not NaN) they are ordered as x is."""
    cdef int64_t bits
    memcpy(&bits, &x, sizeof(double))
    return bits


cdef inline int64_t exponent_bits(double x) noexcept nogil:
    """The biased exponent field of x >= 0 (0 for x = 0)."""
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(double))
    return <int64_t> (bits >> 52)


cdef inline double mantissa_of(double x) noexcept nogil:
    """The mantissa of a normal x > 0, in [1, 2)."""
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(double))
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL
    memcpy(&x, &bits, sizeof(double))
    return x


cdef inline double pow2(int64_t k) noexcept nogil:
    """2^k for k <= 1023, built from its bits; 0 when k < -1022 (branch-free)."""
    cdef uint64_t bits = <uint64_t> (k + 1023) << 52
    cdef double x
    memcpy(&x, &bits, sizeof(double))
    return x if k > -1023 else 0.0


cdef inline double frexp_pos(double x, int* exponent) noexcept nogil:
    """frexp(x, exponent), from the bits when x is normal and positive (libm otherwise)."""
    cdef uint64_t bits
    if not (x >= 2.2250738585072014e-308 and x < INFINITY):
        return frexp(x, exponent)
    memcpy(&bits, &x, sizeof(double))
    exponent[0] = <int> (bits >> 52) - 1022
    bits = (bits & 0x000fffffffffffffULL) | 0x3fe0000000000000ULL  # the mantissa, in [1/2, 1)
    memcpy(&x, &bits, sizeof(double))
    return x


cdef inline double scaled_product(double a, double b, int64_t shift) noexcept nogil:
    """a b 2^(2046 - shift), for a, b >= 0 normal or 0 with exponent_bits(a) + exponent_bits(b)
    <= shift (so below 4); 0 where that is below 2^-1022. Needs no range for a b itself."""
    cdef uint64_t bits_a, bits_b, bits_scale
    cdef int64_t k
    cdef double ma, mb, scale
    memcpy(&bits_a, &a, sizeof(double))
    memcpy(&bits_b, &b, sizeof(double))
    k = <int64_t> (bits_a >> 52) + <int64_t> (bits_b >> 52) - shift
    bits_a = (bits_a & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL  # mantissas, in [1, 2)
    bits_b = (bits_b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL
    bits_scale = <uint64_t> (k + 1023) << 52                          # 2^k
    memcpy(&ma, &bits_a, sizeof(double))
    memcpy(&mb, &bits_b, sizeof(double))
    memcpy(&scale, &bits_scale, sizeof(double))
    return ma * mb * scale if k > -1023 and a > 0.0 and b > 0.0 else 0.0


# ------------------------------------------------------------------ row scaling (A.)
cdef inline bint rescale(
    double* row, Py_ssize_t lo, Py_ssize_t hi,
    int64_t top,                        # IN bits_of(the largest entry of row[lo:hi])
    int64_t low,                        # IN bits_of(x) of an x <= every nonzero entry, or 0
    int64_t* exponent,                  # OUT e
    uint64_t* lossy,                    # IN/OUT set if a nonzero entry is flushed
    bint round_up,                      # flush to FLUSH instead of 0 (an upper bound)
    const double* partner,              # IN the alpha row of beta's frame, or NULL
    int64_t* shift,                     # OUT with partner: max of its exponent sums with row
) noexcept nogil:
    """Scale row[lo:hi] by 2^-e so its maximum lies in [2^1000, 2^1001), flushing below FLUSH
    (to 0, or up to FLUSH when round_up).

    The entries are >= 0 and finite (sums of products of scaled entries and emissions <= 1),
    so the loop that wrote them finds the maximum as an integer maximum over their bits, which
    vectorises. With partner, the largest exponent_bits(partner[s]) + exponent_bits(row[s]),
    which the row-scaled beta scales the next frame's alpha beta by, is found in the same pass.
    When low shows that no entry can be flushed, the row is only multiplied (not at all when
    e = 0): the same numbers, without the comparisons. Returns False when the maximum is below
    2^-23 (the row all but vanished, guard (c)) or not finite.
    """
    cdef double x, scale
    cdef Py_ssize_t s
    cdef int64_t e, exponents, largest = 0
    cdef double floor = FLUSH if round_up else 0.0
    cdef uint64_t lost = 0
    if not (BITS_2_M23 <= top < BITS_INF):  # 2^-23: 2^(1001 - e) fits
        return False
    e = (top >> 52) - 1022 - 1001  # frexp's exponent of the maximum, less 1001
    scale = pow2(-e)
    # a nonzero entry is >= x >= 2^((low >> 52) - 1023); scaled, it stays >= FLUSH = 2^-1000
    if partner == NULL and low > 0 and (low >> 52) - e >= 23:
        if e != 0:
            for s in range(lo, hi):
                row[s] = row[s] * scale
        exponent[0] = e
        return True
    for s in range(lo, hi):
        x = row[s] * scale
        lost |= (x < FLUSH) & (x > 0.0)
        x = x if x >= FLUSH else (floor if x > 0.0 else 0.0)
        row[s] = x
        if partner != NULL:
            exponents = exponent_bits(partner[s]) + exponent_bits(x)
            largest = exponents if exponents > largest else largest
    exponent[0] = e
    lossy[0] |= lost
    if partner != NULL:
        shift[0] = largest
    return True


# ------------------------------------------------------------------ alpha
cdef inline int alpha_fast(
    const floating[:, :, :] log_probs, Lattice lat,
    double* log_scale,                  # OUT sum of the m_t
    Py_ssize_t* first_lossy,            # OUT the first row that lost an entry (frames if none)
) noexcept nogil:
    """Eqs. (6)-(7) in probability space, each row rescaled, gathering as it goes.

    Returns 0, NAN_EMISSION, WIDE_EMISSION (guard (a)) or FALL_BACK (p = 0, a row that
    vanished: guard (c)). Alpha rows before first_lossy are exact up to rounding.
    """
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width, n = lat.n
    cdef Py_ssize_t t, s, lo, hi
    cdef double* a = lat.alpha + PAD
    cdef double* prev = lat.alpha + PAD
    cdef double* y = lat.emit + PAD
    cdef const double* skip = lat.skip + PAD
    cdef int found
    cdef int64_t e
    cdef double x, v
    cdef int64_t top, low
    cdef uint64_t lost = 0, below
    log_scale[0] = 0.0
    first_lossy[0] = frames
    for t in range(frames):
        if t + GATHER_AHEAD < frames:  # ask for a later frame's emissions, far away (see E.)
            lo = band_lo(t + GATHER_AHEAD, frames, states)
            hi = band_hi(t + GATHER_AHEAD, states)
            prefetch(&log_probs[t + GATHER_AHEAD, n, lat.label[0]], FOR_READ)
            for s in range(lo | 1, hi, 2):
                prefetch(&log_probs[t + GATHER_AHEAD, n, lat.label[s]], FOR_READ)
        lo = band_lo(t, frames, states)
        hi = band_hi(t, states)
        found = gather_frame(log_probs, n, t, lo, hi, lat.label, False, lat.classes, y,
                             log_scale)
        if found & NAN_EMISSION:
            return NAN_EMISSION
        if found & WIDE_EMISSION:
            return WIDE_EMISSION
        if found:
            return FALL_BACK
        top = 0
        low = 0  # row 0 is rescaled in full
        if t == 0:
            for s in range(lo, hi):
                a[s] = y[s]
                top = max(top, bits_of(a[s]))
        else:
            below = ~(<uint64_t> 0)
            for s in range(lo, hi):
                x = prev[s] + prev[s - 1] + skip[s] * prev[s - 2]
                v = x * y[s]
                # a product below 2^-1022 (unlike the exact zeros of unreachable states) is
                # subnormal, rounded to nearest and maybe up by up to 50%: drop it, so that
                # alpha only ever rounds down (see A.)
                lost |= (v < 2.2250738585072014e-308) & (x > 0.0) & (y[s] > 0.0)
                a[s] = v if v >= 2.2250738585072014e-308 else 0.0
                top = max(top, bits_of(a[s]))
                # the smallest nonzero product, a bound for the smallest nonzero entry (of v,
                # not a[s]: that keeps the loop vectorisable); less 1, unsigned, so that a zero
                # wraps round to the top, out of the minimum
                below = min(below, <uint64_t> bits_of(v) - 1)
            low = <int64_t> (below + 1)
        fill_pads(a, lo, hi, 0.0)
        if not rescale(a, lo, hi, top, low, &e, &lost, False, NULL, NULL):
            return FALL_BACK
        if lost and first_lossy[0] == frames:
            first_lossy[0] = t
        lat.alpha_exp[t] = e if t == 0 else lat.alpha_exp[t - 1] + e
        prev = a
        a += width
        y += width
    return 0


# ------------------------------------------------------------------ beta, and check (b)
cdef inline bint near(double mantissa, int64_t exponent, double ref_mantissa, int64_t ref_exp,
                      double tol) noexcept nogil:
    """Whether mantissa 2^exponent is within tol relative of ref_mantissa 2^ref_exp (check (b))."""
    return (-2 < exponent - ref_exp < 2 and
            fabs(mantissa / ref_mantissa * pow2(exponent - ref_exp) - 1.0) <= tol)


cdef inline int check_b(
    double z, int64_t z_scale,          # IN Z_t = z 2^z_scale (z >= 0), the common factor aside
    bint first,                         # t = frames - 1: Z_t becomes the reference
    double tol, int partial,            # check (b)'s tolerance; PATH_PARTIAL once rows are written
    double* ref_mantissa, int64_t* ref_exp,  # IN/OUT Z_{frames-1} = ref_mantissa 2^ref_exp
) noexcept nogil:
    """One frame of a beta sweep's check: PATH_FAST to go on, or the guard that ends the sweep
    (guard (c) when Z_{frames-1} = 0, guard (b) when Z_t strays from it; see B.)."""
    cdef int mantissa_exp
    cdef double mantissa = frexp_pos(z, &mantissa_exp)
    cdef int64_t z_exp = mantissa_exp + z_scale
    if first:
        if not (z > 0.0):
            return PATH_GUARD_C
        ref_mantissa[0] = mantissa
        ref_exp[0] = z_exp
    elif not (z > 0.0 and near(mantissa, z_exp, ref_mantissa[0], ref_exp[0], tol)):
        return PATH_GUARD_B | partial  # a later frame: rows from frames - 1 on are written
    return PATH_FAST


# The two ways a beta sweep keeps its rows (A. and C.): beta_sweep is written once for both and
# compiled for each, telling them apart by the type of the rows it carries.
cdef struct RowScaled:
    # One power of two per row; entries below FLUSH are raised to it (an upper bound).
    double* b           # beta_t, at state 0
    double* b_prev      # beta_{t-1}
    int64_t beta_exp    # the row exponents so far: beta_t = b 2^beta_exp
    int64_t shift       # the largest exponent_bits(alpha_t(s)) + exponent_bits(b[s])

cdef struct PerEntry:
    # An exponent per entry, beta_t(s) = m[s] 2^e[s] with m[s] in [1, 2) or 0: nothing is
    # flushed or raised.
    double* m
    double* m_prev
    int64_t* e          # ZERO_EXP for a zero entry
    int64_t* e_prev

ctypedef fused BetaRows:
    RowScaled
    PerEntry


cdef inline void row_scaled_start(RowScaled* beta, Lattice lat, const double* a,
                                  Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """beta_{frames-1} = 1 on the band; the shift of alpha_{frames-1} beta_{frames-1} (later
    frames get theirs from rescale)."""
    cdef Py_ssize_t s
    cdef int64_t exponents
    beta.b = lat.beta + PAD
    beta.b_prev = lat.beta + lat.width + PAD
    beta.beta_exp = 0
    for s in range(lo, hi):
        beta.b[s] = 1.0
    fill_pads(beta.b, lo, hi, 0.0)
    # alpha_t(s) beta_t(s) may not fit in a double: scale by the largest exponent
    beta.shift = 0
    for s in range(lo, hi):
        exponents = exponent_bits(a[s]) + exponent_bits(beta.b[s])
        beta.shift = exponents if exponents > beta.shift else beta.shift


cdef inline void per_entry_start(PerEntry* beta, Lattice lat, Py_ssize_t lo,
                                 Py_ssize_t hi) noexcept nogil:
    """beta_{frames-1} = 1 2^0 on the band, zero (ZERO_EXP) elsewhere."""
    cdef Py_ssize_t s
    beta.m = lat.beta + PAD
    beta.m_prev = lat.beta + lat.width + PAD
    beta.e = lat.beta_exp + PAD
    beta.e_prev = lat.beta_exp + lat.width + PAD
    for s in range(2 * lat.width):
        lat.beta_exp[s] = ZERO_EXP
    for s in range(lo, hi):
        beta.m[s] = 1.0
        beta.e[s] = 0
    fill_pads(beta.m, lo, hi, 0.0)


cdef inline int64_t row_scaled_products(RowScaled* beta, const double* a, double* ab,
                                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """ab = alpha_t beta_t / 2^(the return value + alpha_exp[t]), in range."""
    cdef Py_ssize_t s
    cdef const double* b = beta.b
    cdef int64_t shift = beta.shift
    for s in range(lo, hi):
        ab[s] = scaled_product(a[s], b[s], shift)
    return beta.beta_exp + shift - 2046


cdef inline int64_t per_entry_products(PerEntry* beta, const double* a, double* ab,
                                       Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """ab = alpha_t beta_t / 2^(the return value + alpha_exp[t]): in [1, 4) for the largest, 0
    below 2^-1022 of it. a[s] m[s] 2^e[s] spans any range: scale by the largest exponent."""
    cdef Py_ssize_t s
    cdef int64_t k, shift = ZERO_EXP
    cdef const double* m = beta.m
    cdef const int64_t* e = beta.e
    for s in range(lo, hi):
        k = exponent_bits(a[s]) + e[s]
        shift = k if (k > shift) & (a[s] > 0.0) & (m[s] > 0.0) else shift
    for s in range(lo, hi):
        ab[s] = (mantissa_of(a[s]) * m[s] * pow2(exponent_bits(a[s]) + e[s] - shift)
                 if (a[s] > 0.0) & (m[s] > 0.0) else 0.0)
    return shift - 1023


cdef inline void round_up_tiny(
    const double* b, const double* y, const double* skip,  # IN beta_t, y_t, [skip s]
    double* b_prev,                     # IN/OUT beta_{t-1}(s) of row[lo:hi], as summed
    Py_ssize_t lo, Py_ssize_t hi,
) noexcept nogil:
    """Raise the entries of beta_{t-1} that may have lost a subnormal product (rare: only for a
    row with a sum below 2^-1021)."""
    cdef Py_ssize_t s
    cdef double x
    for s in range(lo, hi):
        x = b_prev[s]
        # each of the three products errs by at most 2^-1075 once it is subnormal (below
        # 2^-1022, where x then lies too): add that, so x stays above the true sum
        b_prev[s] = x + (1.5e-323 if (x < 4.450147717014403e-308) & (  # 3 * 2^-1074, 2^-1021
            ((b[s] > 0.0) & (y[s] > 0.0)) | ((b[s + 1] > 0.0) & (y[s + 1] > 0.0))
            | ((skip[s + 2] > 0.0) & (b[s + 2] > 0.0) & (y[s + 2] > 0.0))) else 0.0)


cdef inline bint row_scaled_step(RowScaled* beta, const double* y, const double* skip,
                                 Py_ssize_t lo, Py_ssize_t hi,
                                 const double* a_prev) noexcept nogil:
    """beta_{t-1} from beta_t by eq. (11), rounded up and rescaled, then made beta_t; the shift
    of the next products, with alpha_{t-1} = a_prev. False when the row vanished (guard (c))."""
    cdef Py_ssize_t s
    cdef double* b = beta.b
    cdef double* b_prev = beta.b_prev
    cdef int64_t top = 0, e
    cdef uint64_t tiny = 0
    cdef uint64_t rounded_up = 0  # rescale reports it; beta needs no flag: it only rounds up
    cdef double x
    for s in range(lo, hi):  # y b is the beta of eq. (11), which includes the emission
        x = b[s] * y[s] + b[s + 1] * y[s + 1] + skip[s + 2] * (b[s + 2] * y[s + 2])
        b_prev[s] = x
        tiny |= x < 4.450147717014403e-308  # 2^-1021
        top = max(top, bits_of(x))
    if tiny:
        round_up_tiny(b, y, skip, b_prev, lo, hi)
    fill_pads(b_prev, lo, hi, 0.0)
    # round_up_tiny only raised entries below 2^-1021: the maximum is still top, or all of
    # them are below 2^-23 and rescale refuses the row either way
    if not rescale(b_prev, lo, hi, top, 0, &e, &rounded_up, True, a_prev, &beta.shift):
        return False
    beta.beta_exp += e
    beta.b = b_prev
    beta.b_prev = b
    return True


cdef inline void per_entry_step(PerEntry* beta, const double* y, const double* skip,
                                Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """beta_{t-1} from beta_t by eq. (11), entry by entry, then made beta_t (C.)."""
    cdef Py_ssize_t s
    cdef const double* m = beta.m
    cdef const int64_t* e = beta.e
    cdef double* m_prev = beta.m_prev
    cdef int64_t* e_prev = beta.e_prev
    cdef double c0, c1, c2, x
    cdef int64_t e0, e1, e2, top, k
    for s in range(lo, hi):
        # the three terms of eq. (11), aligned to the largest nonzero one's exponent; a
        # nonzero y is at least e^-600 (guard (a)), so that term is above 2^-866 and
        # what a term below 2^-1022 loses is below 2^-155 of the sum
        c0 = m[s] * y[s]
        c1 = m[s + 1] * y[s + 1]
        c2 = skip[s + 2] * (m[s + 2] * y[s + 2])
        e0 = e[s] if c0 > 0.0 else ZERO_EXP
        e1 = e[s + 1] if c1 > 0.0 else ZERO_EXP
        e2 = e[s + 2] if c2 > 0.0 else ZERO_EXP
        top = e0 if e0 > e1 else e1
        top = top if top > e2 else e2
        x = c0 * pow2(e0 - top) + c1 * pow2(e1 - top) + c2 * pow2(e2 - top)
        k = exponent_bits(x) - 1023  # x is 0 or normal, below 6
        m_prev[s] = x * pow2(-k)
        e_prev[s] = top + k if x > 0.0 else ZERO_EXP
    fill_pads(m_prev, lo, hi, 0.0)
    beta.m_prev = beta.m
    beta.m = m_prev
    beta.e_prev = beta.e
    beta.e = e_prev


cdef inline int beta_sweep(
    BetaRows* beta,                     # WORK the rows, of either kind (set up here)
    Lattice lat,                        # alpha as alpha_fast left it
    floating[:, :, ::1] grad, bint want_grad, double weight,
    double* p_mantissa,                 # OUT p / exp(sum of the m_t) = p_mantissa 2^p_exponent
    int64_t* p_exponent,
) noexcept nogil:
    """Beta (eqs. (10)-(11), emission excluded) swept back from frame frames-1, checking Z_t.

    Scatters -gamma into grad when want_grad (alpha is left as it is, for a second sweep).
    Returns PATH_FAST, or the guard that failed, leaving grad rows t..frames-1 written:
    PATH_GUARD_B when Z_t strays from Z_{frames-1}, PATH_GUARD_C when p = 0 or a row vanished.
    Either kind of rows only rounds beta up (RowScaled) or not at all (PerEntry), so that beta
    is an upper bound (see B. and C.).
    """
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width
    cdef Py_ssize_t t, lo, hi
    cdef double* ab = lat.classes + PAD  # alpha_t(s) beta_t(s), scaled
    cdef const double* a
    cdef const double* y
    cdef const double* skip = lat.skip + PAD
    cdef double z, ref_mantissa = 1.0
    cdef int64_t z_scale, ref_exp = 0
    cdef int status
    cdef int partial = PATH_PARTIAL if want_grad else 0  # once a row of grad is written
    # Rounding bound on |Z_t / Z_{frames-1} - 1|: a few ulps per recursion step and per state.
    cdef double tol = (4.0 * frames + states + 8.0) * DBL_EPSILON

    lo = band_lo(frames - 1, frames, states)
    hi = band_hi(frames - 1, states)
    if BetaRows is RowScaled:
        row_scaled_start(beta, lat, lat.alpha + (frames - 1) * width + PAD, lo, hi)
    else:
        per_entry_start(beta, lat, lo, hi)
    for t in range(frames - 1, -1, -1):
        a = lat.alpha + t * width + PAD
        y = lat.emit + t * width + PAD
        lo = band_lo(t, frames, states)
        hi = band_hi(t, states)
        if BetaRows is RowScaled:
            z_scale = row_scaled_products(beta, a, ab, lo, hi)
        else:
            z_scale = per_entry_products(beta, a, ab, lo, hi)
        z = sum4(ab + lo, hi - lo)
        status = check_b(z, lat.alpha_exp[t] + z_scale, t == frames - 1, tol, partial,
                         &ref_mantissa, &ref_exp)
        if status != PATH_FAST:
            return status
        if want_grad:
            scatter(grad, t, lat.n, ab, z, lo, hi, lat.label, weight)
        if t == 0:
            break
        lo = band_lo(t - 1, frames, states)
        hi = band_hi(t - 1, states)
        if BetaRows is RowScaled:
            if not row_scaled_step(beta, y, skip, lo, hi, a - width):
                return PATH_GUARD_C | partial
        else:
            per_entry_step(beta, y, skip, lo, hi)
    p_mantissa[0] = ref_mantissa
    p_exponent[0] = ref_exp
    return PATH_FAST
