"""CTC loss and its exact gradient: the forward-backward algorithm of Graves et al. (2006).

Design note
-----------
A. Algorithm. Graves et al., "Connectionist Temporal Classification", ICML 2006, section 4.
   The paper is 1-based; everything here is 0-based. Sample n has L = input_lengths[n]
   frames and S labels; the extended target l' = (blank, l_1, blank, ..., l_S, blank) has
   K = 2S + 1 states, blanks at even s. With y_t(k) = exp(log_probs[t, n, k]):

       alpha_0(0) = y_0(blank),  alpha_0(1) = y_0(l_1),  alpha_0(s > 1) = 0
       alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1)
                     + [skip s] alpha_{t-1}(s-2)) y_t(l'_s)                   eqs. (6)-(7)
       p          = alpha_{L-1}(K-1) + alpha_{L-1}(K-2)                       eq. (8)

   where [skip s] holds when l'_s is a label different from l'_{s-2}. Our beta excludes
   the emission at t (Graves' beta_t(s) of eqs. (10)-(11) divided by y_t(l'_s)):

       beta_{L-1}(K-1) = beta_{L-1}(K-2) = 1, else 0
       beta_t(s) = c_{t+1}(s) + c_{t+1}(s+1) + [skip s+2] c_{t+1}(s+2),
       c_{t+1}(s) = y_{t+1}(l'_s) beta_{t+1}(s)

   so that sum_s alpha_t(s) beta_t(s) = p at every t, and the posterior that frame t is in
   state s is gamma_t(s) = alpha_t(s) beta_t(s) / p. The loss is -ln p and its derivative
   with respect to log_probs[t, n, k], taken as free variables, is -sum_{l'_s = k} gamma_t(s):
   the posterior that frame t emits k. (Eq. (16) of the paper is the derivative through a
   softmax instead; it adds y_t(k), which is what PyTorch returns.) Frames t >= L and
   classes absent from l' get exactly 0.
   Two options shape what is written (the reduction's weight and the softmax are folded in
   here, so that no further pass over a (T, N, C) array is needed): every gradient row is
   multiplied by ``weight`` (1/N for a batch mean), and with ``through_log_softmax`` the
   kernel writes the gradient with respect to the logits z of log_probs = log_softmax(z)
   over the classes instead, weight (y_t(k) - sum_{l'_s = k} gamma_t(s)) on frames t < L
   (the log-softmax backward g - y sum_k g with sum_k gamma_t = 1), weight 0 y_t(k) after
   them (0, or NaN where log_probs is NaN, as that backward gives), and 0 y_t(k) on every
   frame of a sample with no complete path. This is warp-ctc's gradient with respect to
   activations.
   Only states on a complete path are visited: at frame t, s in
   [max(0, K - 2(L - t)), min(K, 2(t + 1))) (the "band"); the rest are zero.
B. Layout. Per sample, frame by frame as alpha advances, the blank and the labels of the band
   are read from log_probs (any strides) and exponentiated once each, then spread over the
   states of a contiguous L x W array (W = K + 4: two padding cells on each side of every
   row, so the recursions read s-2 .. s+2 without branches). Alpha is kept for all frames in
   another L x W array; beta lives in two columns and is swept backwards, fused with the
   gradient scatter into grad[t, n, :] (alpha_t beta_t goes to a scratch row: alpha is kept
   for a second beta sweep, see C.), whose rows one pass over the whole batch starts first,
   in memory order (zero, or weight y_t; grad may be np.empty). The inner loops over s are
   branch-free, so they vectorise.
   By the time beta reaches a row, that pass has long left it: a large batch's gradient
   outlives the caches, and the scatter's writes fall on lines scattered over the row
   (S + 1 classes of C), which the hardware cannot foresee. So the scatter of frame t
   prefetches the lines frame t - 2 will write (the classes of its own band, which moves
   one state per frame; the whole row when it has fewer lines than the band has labels),
   and the misses overlap the DP instead of stalling it. Starting each row inside beta,
   right before its scatter, would keep the scatter in L1 but visits the rows sample by
   sample, a jump of N C entries per row, and that pass no longer streams: it measured
   slower than the memory-order pass plus the prefetched scatter.
   Alpha's gather has the same trouble: frame t + 1 of a sample lies N C entries after
   frame t, and its S + 1 entries are scattered over the row, so every frame waited on
   memory. Alpha therefore asks for the entries frame t + GATHER_AHEAD will gather (on one
   thread, the gradient-writing kernel took 15-30% less time for C >= 1000 and for long
   targets; short rows, already in cache, neither gain nor lose).
C. Numerics. Everything in double, whatever the input dtype.
   Fast path, probability space: emissions are gathered as exp(log y - m_t), m_t the largest
   needed log-emission of frame t; every alpha row and beta column is scaled by a power of
   two (exact) so that its largest entry lies in [2^1000, 2^1001): the top of the double
   range, leaving 2^-2000 (e^-1386) of it below the maximum. Smaller entries cannot be kept,
   and the two sweeps treat them in opposite directions:
   - alpha rounds DOWN: an entry below FLUSH = 2^-1000, or a product below 2^-1022, becomes
     0 (a subnormal product is rounded to nearest, so it may round up by as much as half of
     itself; and a row whose maximum is small can scale it back above FLUSH). Above 2^-1022
     every operation errs by at most epsilon/2 relative, counted in tol below. So every
     computed alpha_t(s) <= the exact one up to that rounding, and alpha row 0 (at most two
     emissions, within 600 nats of each other by (a)) is exact.
   - beta rounds UP: an entry below FLUSH becomes FLUSH, and a sum below 2^-1021 (where a
     product may have underflowed) gets the products' largest rounding error added. So every
     computed beta_t(s) >= the exact one, and beta row L-1 (all ones) is exact.
   Since alpha_t(s) beta_t(s) can then exceed the double range, it is formed from the two
   mantissas and exponents (scaled_product). The powers of two and the m_t are kept aside,
   so ln p has no rounding beyond the DP's own.
   The passes over a row are arranged for speed and change no number: a row's maximum is
   found by the loop that writes it, as an integer maximum over the bits of its entries
   (>= 0 and finite, so their bits order as they do; a floating-point maximum does not
   vectorise), and exponents are read from the bits rather than by frexp/ldexp; beta's
   rescaling pass also finds the next frame's scaled_product exponent; an alpha row whose
   entries cannot fall below FLUSH is only multiplied (or left alone when e = 0); beta's
   round-up is a second pass, over the rare rows with a sum below 2^-1021.
   Why an accepted answer is right. For the exact recursions Z_t = sum_s alpha_t(s) beta_t(s)
   equals p at every t. With the computed rows, Z_{L-1} (exact beta) <= p <= Z_0 (exact
   alpha), up to the rounding of the arithmetic. Check (b) below accepts only when every Z_t,
   Z_0 included, lies within tol = (4L + K + 8) epsilon of Z_{L-1}: then p lies within tol of
   Z_{L-1}, so ln p is right to tol. For the gradient, write D_t = sum_s (alpha_t - computed
   alpha_t) beta_t (what alpha dropped, weighed exactly) and U_t = sum_s alpha_t (computed
   beta_t - beta_t) (what beta added); D_t <= p - Z_{L-1} and U_t <= Z_0 - p, both <= tol p,
   and sum_s |computed alpha_t beta_t - exact alpha_t beta_t| <= 2 (D_t + U_t): every
   gamma_t(s), normalised by its own Z_t, is within a few tol of the exact posterior.
   Dropping in both sweeps (what this kernel once did) has no such bound: alpha can drop the
   early part of the best alignment and beta its late part, and every Z_t then misses the
   same mass and agrees.
   Wide beta. Rounding beta up costs nothing where the answer is certain, but raising
   beta_t(s) by d adds alpha_t(s) d to Z_t (and, carried back by the linear recursion, to
   every earlier Z), and alpha_t(s) can exceed p / max_s beta_t(s) by far more than 2^2000:
   when the best prefix and the best suffix of a frame sit in states more than ~1300 nats
   apart (long, very peaky samples: 14 of the 16 of benchmarks/bench_ctc.py's W5 peaky),
   the floor alone fails check (b). So when check (b) fails, beta is swept again (beta_wide)
   with an exponent per entry, beta_t(s) = m 2^e, m in [1, 2) or 0, e an int64: no entry is
   ever flushed or raised, whatever the range of the row. Each step of eq. (11) scales its
   three products y m to the exponent of the largest nonzero one, which is at least
   e^-600 > 2^-866 (a nonzero emission passed guard (a); m >= 1); a term scaled below
   2^-1022 (dropped) or into the subnormals (rounded by 2^-1075) is wrong by less than 2^-155
   of the sum. The rest is the same multiplications and additions of nonnegative numbers as
   the row-scaled sweep, each within epsilon/2, and exact power-of-two scalings; so every
   computed beta_t(s) is the exact one within the rounding counted in tol, and beta row L-1
   (all ones) is exact. The products alpha_t(s) beta_t(s) are scaled by the largest one's
   exponent; those below 2^-1022 of it (together under K 2^-1020 of Z_t, inside tol) become
   0. Hence Z_{L-1} <= p <= Z_0 up to rounding as before, and the same check (b), with the
   same tol, accepts only when p lies within tol of Z_{L-1}; U_t is now rounding alone, so
   check (b) is left to catch what alpha dropped (D_t), and the gradient bound above holds
   as it stands. beta_fast writes alpha_t beta_t into a scratch row, not over alpha, so the
   retry reuses alpha as alpha_fast left it; gradient rows beta_fast wrote are started again
   first. beta_wide costs about twice a beta_fast sweep, and only samples that failed it pay.
   A sample goes to the exact path below when the fast path could be wrong:
   (a) an emission more than WIDE = 600 nats below its frame maximum (but not -inf): it
       would underflow in the gathered emissions themselves;
   (b) some Z_t differs from Z_{L-1} by more than tol relative (see above), with the
       row-scaled beta and again with the wide one; gamma_t is normalised by its own Z_t;
   (c) p = 0, or a row's maximum falls below 2^-23 in one step (more than 2^1023 below the
       last row's), beyond what rescaling can bring back: impossible (-inf) emissions, but
       also finite ones, when the states that held the last row's mass cannot finish in the
       frames left (a repeated label needs a blank, so with little slack the band cuts them
       off) and the states that can are that far below. Such samples are rare.
   When only the loss is wanted and alpha dropped nothing, alpha is exact up to rounding and
   ln p comes straight from eq. (8); otherwise beta is swept (with no gradient) for check (b).
   Exact path, log space: the same recursions with log-sum-exp, every row shifted by its
   maximum (kept aside), so the rounding stays relative to the numbers that matter; a
   vectorisable log (fast_log) and the exp of fast_exp.h keep it within ~3x of the fast path.
   -inf emissions are impossible ones (zero probability). A NaN (or +inf) among the needed
   emissions of a frame gives a NaN loss and a NaN gradient on that sample's frames; a
   sample with no complete path (too few frames, or impossible emissions) gets +inf and a
   zero gradient.
D. Threading. Samples are independent, so the batch is split over OpenMP threads (dynamic
   schedule: lengths vary); the states of one frame are not, since several s share a class
   and would race on grad. Each thread mallocs one workspace inside the parallel region and
   frees it there, sized for the largest sample (the largest L x W of one sample, not the
   longest L times the widest W of two), since the dynamic schedule may give it any sample.
   Every sample runs the same sequential code whichever thread takes it, so results do not
   depend on the thread count. A small batch stays on the calling thread (dp_threads: one
   thread per DP_GRAIN lattice cells, at most one per sample): waking a second thread costs
   microseconds on a quiet machine, and on a busy one the region waits until the scheduler
   runs that thread, milliseconds for a call whose work takes a few microseconds.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, fabs, frexp
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from lucid._C._lattice cimport band_hi, band_lo, can_skip, ext_label, fill_pads, has_dp, repeats
from lucid._C._rows cimport floating, max4, sum4, threads_for

cdef extern from "fast_exp.h" nogil:
    double lucid_exp_nonpos(double x)
    float lucid_expf_nonpos(float x)

# Probability-space thresholds (see C. in the design note).
cdef double WIDE = -600.0      # nats below the frame maximum that an emission may lie
cdef double FLUSH = 2.0 ** -1000  # entries below this become 0 (rows peak in [2^1000, 2^1001))
cdef double DBL_EPSILON = 2.220446049250313e-16
cdef double LN2 = 0.6931471805599453
cdef enum:
    AHEAD = 2  # the scatter of frame t prefetches the gradient entries of frame t - AHEAD (B.)
    GATHER_AHEAD = 4  # alpha at frame t prefetches the emissions of frame t + GATHER_AHEAD (B.)

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define LUCID_PREFETCH_W(p) __builtin_prefetch(p, 1)
    #define LUCID_PREFETCH_R(p) __builtin_prefetch(p, 0)
    #else
    #define LUCID_PREFETCH_W(p) ((void) 0)
    #define LUCID_PREFETCH_R(p) ((void) 0)
    #endif
    """
    void PREFETCH_W "LUCID_PREFETCH_W" (void* p) noexcept nogil
    void PREFETCH_R "LUCID_PREFETCH_R" (const void* p) noexcept nogil

# What gathering a frame found (bit flags), and how a path ended.
cdef enum:
    WIDE_EMISSION = 1    # guard (a): needs log space
    NO_EMISSION = 2      # every needed emission of the frame is -inf: p = 0
    NAN_EMISSION = 4     # a NaN (or +inf) among the needed emissions
    FALL_BACK = 8        # the fast path gave up: use log space

# Which branch decided each sample's answer (the optional `paths` output, read by the tests).
cdef enum:
    PATH_FAST = 0        # probability space, accepted
    PATH_GUARD_A = 1     # log space: an emission too far below its frame maximum
    PATH_GUARD_B = 2     # log space: Z_t strayed from Z_{L-1}
    PATH_GUARD_C = 3     # log space: p = 0 or a row all but vanished
    PATH_NAN = 4         # a NaN (or +inf) among the needed emissions
    PATH_INFEASIBLE = 5  # no alignment fits the frames: +inf without a DP
    PATH_EMPTY = 6       # no frames and no labels: loss 0 without a DP
    PATH_WIDE = 7        # probability space, accepted with beta_wide after check (b) failed
    PATH_PARTIAL = 16    # added to a guard: gradient rows were written, then zeroed again

PATHS = {PATH_FAST: "fast", PATH_GUARD_A: "guard (a)", PATH_GUARD_B: "guard (b)",
         PATH_GUARD_C: "guard (c)", PATH_NAN: "nan",
         PATH_INFEASIBLE: "infeasible", PATH_EMPTY: "empty", PATH_WIDE: "fast, wide beta"}
PATH_PARTIAL_CODE = PATH_PARTIAL


cdef struct Workspace:
    double* emit      # L x W: exp(log y_t(l'_s) - m_t), or log y_t(l'_s) - m_t in log space
    double* alpha     # L x W
    double* beta      # 2 x W: beta_t and beta_{t-1}
    double* skip      # W: 1.0 where [skip s] holds, else 0.0 (also on the pads)
    double* classes   # W: scratch for one frame's distinct emissions
    int64_t* label    # W: l'_s (only 0 <= s < K is read)
    int64_t* alpha_exp  # L: alpha row t holds alpha_t / 2^alpha_exp[t] / exp(m_0 + ... + m_t)
    int64_t* beta_exp   # 2 x W: the exponents of the wide beta's entries (beta_wide)


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
    which beta_fast scales the next frame's alpha beta by, is found in the same pass. When low
    shows that no entry can be flushed, the row is only multiplied (not at all when e = 0): the
    same numbers, without the comparisons. Returns False when the maximum is below 2^-23 (the
    row all but vanished, check (c)) or not finite.
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


cdef int64_t BITS_2_M23 = 1000 << 52  # bits_of(2^-23)
cdef int64_t BITS_INF = 2047 << 52    # bits_of(inf)


cdef inline int64_t bits_of(double x) noexcept nogil:
    """The bits of x as an integer: for x >= 0 (not NaN) they are ordered as x is."""
    cdef int64_t bits
    memcpy(&bits, &x, sizeof(double))
    return bits


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


cdef inline double shift_to_max(double* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Subtract the maximum of the log-space row[lo:hi] from it and return that maximum."""
    cdef double top = max4(row + lo, hi - lo)
    cdef Py_ssize_t s
    if top == -INFINITY:
        return top
    for s in range(lo, hi):
        row[s] -= top
    return top


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


cdef int gather_frame(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Py_ssize_t n, Py_ssize_t t, Py_ssize_t lo, Py_ssize_t hi,
    const int64_t* label, bint log_space,
    double* v,                          # WORK S + 1: the distinct emissions (blank first)
    double* row,                        # OUT the emissions of states lo..hi-1, and the pads
    double* log_scale,                  # IN/OUT m_t is added
) noexcept nogil:
    """Gather frame t of sample n relative to its maximum m_t; return *_EMISSION flags.

    The blank and the labels of the band are read and exponentiated once each, into v,
    then spread over the states.
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


cdef int alpha_fast(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t L, Py_ssize_t K, Py_ssize_t W,
    Workspace ws,
    double* log_scale,                  # OUT sum of the m_t
    Py_ssize_t* first_lossy,            # OUT the first row that lost an entry (L if none)
) noexcept nogil:
    """Eqs. (6)-(7) in probability space, each row rescaled, gathering as it goes.

    Returns 0, NAN_EMISSION, WIDE_EMISSION (guard (a)) or FALL_BACK (p = 0, a row that
    vanished: guard (c)). Alpha rows before first_lossy are exact up to rounding.
    """
    cdef Py_ssize_t t, s, lo, hi
    cdef double* a = ws.alpha + 2
    cdef double* prev = ws.alpha + 2
    cdef double* y = ws.emit + 2
    cdef const double* skip = ws.skip + 2
    cdef int found
    cdef int64_t e
    cdef double x, v
    cdef int64_t top, low
    cdef uint64_t lost = 0, below
    log_scale[0] = 0.0
    first_lossy[0] = L
    for t in range(L):
        if t + GATHER_AHEAD < L:  # ask for a later frame's emissions, far away (see B.)
            lo = band_lo(t + GATHER_AHEAD, L, K)
            hi = band_hi(t + GATHER_AHEAD, K)
            PREFETCH_R(&log_probs[t + GATHER_AHEAD, n, ws.label[0]])
            for s in range(lo | 1, hi, 2):
                PREFETCH_R(&log_probs[t + GATHER_AHEAD, n, ws.label[s]])
        lo = band_lo(t, L, K)
        hi = band_hi(t, K)
        found = gather_frame(log_probs, n, t, lo, hi, ws.label, False, ws.classes, y,
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
                # alpha only ever rounds down (see C.)
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
        if lost and first_lossy[0] == L:
            first_lossy[0] = t
        ws.alpha_exp[t] = e if t == 0 else ws.alpha_exp[t - 1] + e
        prev = a
        a += W
        y += W
    return 0


cdef inline int64_t exponent_bits(double x) noexcept nogil:
    """The biased exponent field of x >= 0 (0 for x = 0)."""
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(double))
    return <int64_t> (bits >> 52)


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


cdef inline void scatter(
    floating[:, :, ::1] grad,           # IN/OUT row grad[t, n, :]
    Py_ssize_t t, Py_ssize_t n,
    const double* ab,                   # IN alpha_t(s) beta_t(s) up to a common factor
    double z,                           # sum of ab over the band
    Py_ssize_t lo, Py_ssize_t hi, const int64_t* label,
    double weight,                      # the sample's weight in the reduction
) noexcept nogil:
    """Subtract weight gamma_t(s) = weight ab[s] / z from grad[t, n] at each state's class (blank
    states summed first); ask for the lines the scatter of frame t - AHEAD will write (see B.).

    The band moves by one state per frame, so frame t - AHEAD's band names nearly the same
    classes; a row of fewer lines than the band has labels is fetched whole. (The prefetches
    stay in here: GCC takes a function that only prefetches for one without effects, and
    drops its calls.)
    """
    cdef floating* g = &grad[t, n, 0]
    cdef floating* later
    cdef double inv_z = weight / z, b0 = 0.0, b1 = 0.0
    cdef Py_ssize_t s, row_bytes = grad.shape[2] * sizeof(floating)
    if t >= AHEAD:
        later = &grad[t - AHEAD, n, 0]
        if row_bytes < 32 * (hi - lo):
            for s in range(0, row_bytes, 64):
                PREFETCH_W(<char*> later + s)
            PREFETCH_W(<char*> later + row_bytes - 1)  # the row need not start on a line
        else:
            PREFETCH_W(&later[label[0]])
            for s in range(lo | 1, hi, 2):
                PREFETCH_W(&later[label[s]])
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


cdef int beta_fast(
    Workspace ws, Py_ssize_t n, Py_ssize_t L, Py_ssize_t K, Py_ssize_t W,
    floating[:, :, ::1] grad, bint want_grad, double weight,
    double* p_mantissa,                 # OUT p / exp(sum of the m_t) = p_mantissa 2^p_exponent
    int64_t* p_exponent,
) noexcept nogil:
    """Beta (eqs. (10)-(11), emission excluded) swept back from frame L-1, checking Z_t.

    Scatters -gamma into grad when want_grad (alpha is left as it is, for beta_wide). Returns
    PATH_FAST, or the guard that failed, leaving grad rows t..L-1 written: PATH_GUARD_B when
    Z_t strays from Z_{L-1}, PATH_GUARD_C when p = 0 or a row vanished. Beta never drops
    mass: entries that would underflow or be flushed are rounded up instead, so that beta is
    an upper bound (see C. in the design note).
    """
    cdef Py_ssize_t t, s, lo, hi
    cdef double* b = ws.beta + 2
    cdef double* b_prev = ws.beta + W + 2
    cdef double* swap
    cdef double* ab = ws.classes + 2  # alpha_t(s) beta_t(s), scaled
    cdef const double* a
    cdef const double* y
    cdef const double* skip = ws.skip + 2
    cdef double z, ref_mantissa = 1.0
    cdef int64_t shift, exponents, e, beta_exp = 0, ref_exp = 0, top
    cdef int status
    cdef uint64_t rounded_up = 0  # rescale reports it; beta needs no flag: it only rounds up
    cdef uint64_t tiny
    cdef double x
    cdef int partial = PATH_PARTIAL if want_grad else 0  # once a row of grad is written
    # Rounding bound on |Z_t / Z_{L-1} - 1|: a few ulps per recursion step and per state.
    cdef double tol = (4.0 * L + K + 8.0) * DBL_EPSILON

    lo = band_lo(L - 1, L, K)
    hi = band_hi(L - 1, K)
    for s in range(lo, hi):
        b[s] = 1.0
    fill_pads(b, lo, hi, 0.0)
    # alpha_t(s) beta_t(s) may not fit in a double: scale by the largest exponent (rescale
    # finds it for the frames before L - 1)
    a = ws.alpha + (L - 1) * W + 2
    shift = 0
    for s in range(lo, hi):
        exponents = exponent_bits(a[s]) + exponent_bits(b[s])
        shift = exponents if exponents > shift else shift
    for t in range(L - 1, -1, -1):
        a = ws.alpha + t * W + 2
        y = ws.emit + t * W + 2
        lo = band_lo(t, L, K)
        hi = band_hi(t, K)
        for s in range(lo, hi):
            ab[s] = scaled_product(a[s], b[s], shift)
        z = sum4(ab + lo, hi - lo)
        status = check_b(z, ws.alpha_exp[t] + beta_exp + shift - 2046, t == L - 1, tol,
                         partial, &ref_mantissa, &ref_exp)
        if status != PATH_FAST:
            return status
        if want_grad:
            scatter(grad, t, n, ab, z, lo, hi, ws.label, weight)
        if t == 0:
            break
        lo = band_lo(t - 1, L, K)
        hi = band_hi(t - 1, K)
        top = 0
        tiny = 0
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
        if not rescale(b_prev, lo, hi, top, 0, &e, &rounded_up, True, a - W, &shift):
            return PATH_GUARD_C | partial
        beta_exp += e
        swap = b
        b = b_prev
        b_prev = swap
    p_mantissa[0] = ref_mantissa
    p_exponent[0] = ref_exp
    return PATH_FAST


cdef void round_up_tiny(
    const double* b, const double* y, const double* skip,  # IN beta_t, y_t, [skip s]
    double* b_prev,                     # IN/OUT beta_{t-1}(s) of row[lo:hi], as summed
    Py_ssize_t lo, Py_ssize_t hi,
) noexcept nogil:
    """Raise the entries of beta_{t-1} that may have lost a subnormal product (rare: beta_fast
    calls it only for a row with a sum below 2^-1021)."""
    cdef Py_ssize_t s
    cdef double x
    for s in range(lo, hi):
        x = b_prev[s]
        # each of the three products errs by at most 2^-1075 once it is subnormal (below
        # 2^-1022, where x then lies too): add that, so x stays above the true sum
        b_prev[s] = x + (1.5e-323 if (x < 4.450147717014403e-308) & (  # 3 * 2^-1074, 2^-1021
            ((b[s] > 0.0) & (y[s] > 0.0)) | ((b[s + 1] > 0.0) & (y[s + 1] > 0.0))
            | ((skip[s + 2] > 0.0) & (b[s + 2] > 0.0) & (y[s + 2] > 0.0))) else 0.0)


cdef inline int check_b(
    double z, int64_t z_scale,          # IN Z_t = z 2^z_scale (z >= 0), the common factor aside
    bint first,                         # t = L - 1: Z_t becomes the reference
    double tol, int partial,            # check (b)'s tolerance; PATH_PARTIAL once rows are written
    double* ref_mantissa, int64_t* ref_exp,  # IN/OUT Z_{L-1} = ref_mantissa 2^ref_exp
) noexcept nogil:
    """One frame of a beta sweep's check: PATH_FAST to go on, or the guard that ends the sweep
    (guard (c) when Z_{L-1} = 0, guard (b) when Z_t strays from it; see C.)."""
    cdef int mantissa_exp
    cdef double mantissa = frexp_pos(z, &mantissa_exp)
    cdef int64_t z_exp = mantissa_exp + z_scale
    if first:
        if not (z > 0.0):
            return PATH_GUARD_C
        ref_mantissa[0] = mantissa
        ref_exp[0] = z_exp
    elif not (z > 0.0 and near(mantissa, z_exp, ref_mantissa[0], ref_exp[0], tol)):
        return PATH_GUARD_B | partial  # a later frame: rows from L - 1 on are written
    return PATH_FAST


cdef inline bint near(double mantissa, int64_t exponent, double ref_mantissa, int64_t ref_exp,
                      double tol) noexcept nogil:
    """Whether mantissa 2^exponent is within tol relative of ref_mantissa 2^ref_exp (check (b))."""
    return (-2 < exponent - ref_exp < 2 and
            fabs(mantissa / ref_mantissa * pow2(exponent - ref_exp) - 1.0) <= tol)


cdef int64_t ZERO_EXP = -(1 << 40)  # the exponent of a zero wide-beta entry: never the largest


cdef inline double pow2(int64_t k) noexcept nogil:
    """2^k for k <= 1023, built from its bits; 0 when k < -1022 (branch-free)."""
    cdef uint64_t bits = <uint64_t> (k + 1023) << 52
    cdef double x
    memcpy(&x, &bits, sizeof(double))
    return x if k > -1023 else 0.0


cdef inline double mantissa_of(double x) noexcept nogil:
    """The mantissa of a normal x > 0, in [1, 2)."""
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(double))
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL
    memcpy(&x, &bits, sizeof(double))
    return x


cdef int beta_wide(
    Workspace ws, Py_ssize_t n, Py_ssize_t L, Py_ssize_t K, Py_ssize_t W,
    floating[:, :, ::1] grad, bint want_grad, double weight,
    double* p_mantissa,                 # OUT p / exp(sum of the m_t) = p_mantissa 2^p_exponent
    int64_t* p_exponent,
) noexcept nogil:
    """beta_fast again, each beta entry with its own exponent: nothing is flushed or raised.

    beta_t(s) = m[s] 2^e[s], m[s] in [1, 2) (or 0), so no row has a window: what beta_fast's
    floor adds where alpha is large is gone, and only rounding is left (see C.). Returns as
    beta_fast does; alpha must be as alpha_fast left it.
    """
    cdef Py_ssize_t t, s, lo, hi
    cdef double* m = ws.beta + 2
    cdef double* m_prev = ws.beta + W + 2
    cdef int64_t* e = ws.beta_exp + 2
    cdef int64_t* e_prev = ws.beta_exp + W + 2
    cdef double* swap
    cdef int64_t* swap_exp
    cdef double* ab = ws.classes + 2  # alpha_t(s) beta_t(s) / 2^(shift + alpha_exp[t] - 1023)
    cdef const double* a
    cdef const double* y
    cdef const double* skip = ws.skip + 2
    cdef double z, ref_mantissa = 1.0, c0, c1, c2, x
    cdef int64_t shift, k, top, e0, e1, e2, ref_exp = 0
    cdef int status
    cdef int partial = PATH_PARTIAL if want_grad else 0
    cdef double tol = (4.0 * L + K + 8.0) * DBL_EPSILON

    for s in range(2 * W):
        ws.beta_exp[s] = ZERO_EXP
    lo = band_lo(L - 1, L, K)
    hi = band_hi(L - 1, K)
    for s in range(lo, hi):
        m[s] = 1.0
        e[s] = 0
    fill_pads(m, lo, hi, 0.0)
    for t in range(L - 1, -1, -1):
        a = ws.alpha + t * W + 2
        y = ws.emit + t * W + 2
        lo = band_lo(t, L, K)
        hi = band_hi(t, K)
        # a[s] m[s] 2^e[s] spans any range: scale by the largest exponent of a product
        shift = ZERO_EXP
        for s in range(lo, hi):
            k = exponent_bits(a[s]) + e[s]
            shift = k if (k > shift) & (a[s] > 0.0) & (m[s] > 0.0) else shift
        for s in range(lo, hi):  # in [1, 4) for the largest; 0 below 2^-1022 of it
            ab[s] = (mantissa_of(a[s]) * m[s] * pow2(exponent_bits(a[s]) + e[s] - shift)
                     if (a[s] > 0.0) & (m[s] > 0.0) else 0.0)
        z = sum4(ab + lo, hi - lo)
        status = check_b(z, ws.alpha_exp[t] + shift - 1023, t == L - 1, tol, partial,
                         &ref_mantissa, &ref_exp)
        if status != PATH_FAST:
            return status
        if want_grad:
            scatter(grad, t, n, ab, z, lo, hi, ws.label, weight)
        if t == 0:
            break
        lo = band_lo(t - 1, L, K)
        hi = band_hi(t - 1, K)
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
        swap = m
        m = m_prev
        m_prev = swap
        swap_exp = e
        e = e_prev
        e_prev = swap_exp
    p_mantissa[0] = ref_mantissa
    p_exponent[0] = ref_exp
    return PATH_FAST


cdef double log_space(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t L, Py_ssize_t K, Py_ssize_t W,
    Workspace ws, floating[:, :, ::1] grad, bint want_grad, double weight,
) noexcept nogil:
    """ln p by eqs. (6)-(8) in log space, gathering as it goes; scatters -gamma if wanted.

    Each alpha row and beta column is shifted by its maximum; only the alpha shifts and the
    m_t enter ln p, and gamma_t is normalised per frame. Returns NaN if a needed emission is
    NaN; the gradient is written only when p > 0.
    """
    cdef Py_ssize_t t, s, lo, hi
    cdef double* a = ws.alpha + 2
    cdef double* prev = ws.alpha + 2
    cdef double* b = ws.beta + 2
    cdef double* b_prev = ws.beta + W + 2
    cdef double* swap
    cdef double* y = ws.emit + 2
    cdef const double* skip = ws.skip + 2
    cdef double total = 0.0, top
    for t in range(L):
        lo = band_lo(t, L, K)
        hi = band_hi(t, K)
        # an all -inf frame is left as it is: the rows go -inf and so does ln p
        if gather_frame(log_probs, n, t, lo, hi, ws.label, True, ws.classes, y,
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
        a += W
        y += W
    # eq. (8); K - 2 is a pad (-inf) when K = 1
    total += logaddexp3(prev[K - 1], prev[K - 2], -INFINITY)
    if not want_grad or not (total > -INFINITY):
        return total

    lo = band_lo(L - 1, L, K)
    hi = band_hi(L - 1, K)
    for s in range(lo, hi):
        b[s] = 0.0
    fill_pads(b, lo, hi, -INFINITY)
    for t in range(L - 1, -1, -1):
        a = ws.alpha + t * W + 2
        y = ws.emit + t * W + 2
        lo = band_lo(t, L, K)
        hi = band_hi(t, K)
        for s in range(lo, hi):
            a[s] += b[s]
        top = max4(a + lo, hi - lo)
        for s in range(lo, hi):
            a[s] = lucid_exp_nonpos(a[s] - top)
        scatter(grad, t, n, a, sum4(a + lo, hi - lo), lo, hi, ws.label, weight)
        if t == 0:
            break
        lo = band_lo(t - 1, L, K)
        hi = band_hi(t - 1, K)
        for s in range(lo, hi):
            b_prev[s] = logaddexp3(b[s] + y[s], b[s + 1] + y[s + 1],
                                   b[s + 2] + y[s + 2] if skip[s + 2] != 0.0 else -INFINITY)
        fill_pads(b_prev, lo, hi, -INFINITY)
        shift_to_max(b_prev, lo, hi)
        swap = b
        b = b_prev
        b_prev = swap
    return total


cdef inline void row_exp(const floating* x, floating* out, Py_ssize_t C, floating w) noexcept nogil:
    """out = w exp(x), x <= 0 (a log-softmax output)."""
    cdef Py_ssize_t c
    for c in range(C):
        out[c] = w * exp_nonpos(x[c])


cdef inline floating exp_nonpos(floating x) noexcept nogil:
    # float32 rows take the float exp: twice the vector lanes, exact to the output's ulp
    if floating is float:
        return lucid_expf_nonpos(x)
    else:
        return lucid_exp_nonpos(x)


cdef inline void start_row(
    floating[:, :, ::1] grad,           # OUT row grad[t, n, :]
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Py_ssize_t t, Py_ssize_t n,
    floating w,                         # w y_t, or 0 when through_log_softmax is off
    bint through_log_softmax,
) noexcept nogil:
    """One gradient row before -weight gamma is scattered into it (see A.)."""
    cdef Py_ssize_t c, C = grad.shape[2]
    cdef floating* g = &grad[t, n, 0]
    if not through_log_softmax:
        memset(g, 0, C * sizeof(floating))
    elif log_probs.strides[2] == sizeof(floating):  # a contiguous row: the loop vectorises
        row_exp(&log_probs[t, n, 0], g, C, w)
    else:
        for c in range(C):
            g[c] = w * exp_nonpos(log_probs[t, n, c])


cdef void start_rows(
    floating[:, :, ::1] grad, const floating[:, :, :] log_probs, Py_ssize_t n,
    Py_ssize_t L,                       # frames that get weight y_t; the rest get 0 y_t
    double weight, bint through_log_softmax,
) noexcept nogil:
    """start_row for every frame of sample n: how a sample whose first attempt failed starts
    again (the first start is start_all_rows, for the whole batch)."""
    cdef Py_ssize_t t
    for t in range(grad.shape[0]):
        start_row(grad, log_probs, t, n, <floating> weight if t < L else 0, through_log_softmax)


cdef void start_all_rows(
    floating[:, :, ::1] grad, const floating[:, :, :] log_probs,
    const int64_t[::1] input_lengths, double weight, bint through_log_softmax, int n_threads,
) noexcept nogil:
    """start_row for every row, frame by frame: in memory order, so that the pass streams
    (sample by sample, jumping N C entries per frame, it runs at half the speed)."""
    cdef Py_ssize_t t, n
    n_threads = threads_for(grad.shape[0] * grad.shape[1] * grad.shape[2], n_threads)
    for t in prange(grad.shape[0], num_threads=n_threads, schedule="static"):
        for n in range(grad.shape[1]):
            start_row(grad, log_probs, t, n, <floating> weight if t < input_lengths[n] else 0,
                      through_log_softmax)


cdef double ctc_one(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Py_ssize_t n,
    Py_ssize_t L,                       # input length
    const int64_t* target,              # IN the S labels
    Py_ssize_t S,
    Py_ssize_t blank,
    floating[:, :, ::1] grad,           # IN/OUT rows grad[:, n, :] (started), when want_grad
    bint want_grad,
    double weight,                      # gradient options, see A. in the design note
    bint through_log_softmax,
    Workspace ws,
    int* path,                          # OUT which branch gave the answer (PATH_*)
) noexcept nogil:
    """The loss of sample n (and its gradient rows)."""
    cdef Py_ssize_t K = 2 * S + 1, W = K + 4, s, t, c
    cdef Py_ssize_t first_lossy
    cdef double log_scale, log_p, mantissa
    cdef double* a
    cdef int64_t exponent
    cdef int status, mantissa_exp
    path[0] = PATH_INFEASIBLE
    if L == 0:  # every frame is beyond L: the started rows are already right
        if S == 0:
            path[0] = PATH_EMPTY
            return 0.0
        return INFINITY
    if S > L:  # cannot fit; the workspace is not even sized for it
        return no_path(log_probs, n, grad, want_grad and through_log_softmax)

    for s in range(W):
        ws.skip[s] = 0.0
    for s in range(K):
        ws.label[s] = ext_label(target, s, blank)
        if can_skip(target, s):
            ws.skip[s + 2] = 1.0
    if L < S + repeats(target, S):  # a repeated label needs a blank between its copies
        return no_path(log_probs, n, grad, want_grad and through_log_softmax)

    status = alpha_fast(log_probs, n, L, K, W, ws, &log_scale, &first_lossy)
    if status == 0:
        if first_lossy == L and not want_grad:  # eq. (8) straight from alpha
            a = ws.alpha + (L - 1) * W + 2
            mantissa = frexp(a[K - 1] + a[K - 2], &mantissa_exp)  # K - 2: a zero pad if K = 1
            exponent = mantissa_exp + ws.alpha_exp[L - 1]
            path[0] = PATH_FAST
        else:
            path[0] = beta_fast(ws, n, L, K, W, grad, want_grad, weight, &mantissa, &exponent)
            if path[0] & ~PATH_PARTIAL == PATH_GUARD_B:  # maybe only beta's floor: try again
                if path[0] & PATH_PARTIAL:
                    start_rows(grad, log_probs, n, L, weight, through_log_softmax)
                path[0] = beta_wide(ws, n, L, K, W, grad, want_grad, weight, &mantissa,
                                    &exponent)
                path[0] = PATH_WIDE if path[0] == PATH_FAST else path[0]
        if path[0] == PATH_FAST or path[0] == PATH_WIDE:
            return -(fast_log(mantissa) + exponent * LN2 + log_scale)
        if path[0] & PATH_PARTIAL:  # take back the rows beta_fast or beta_wide wrote
            start_rows(grad, log_probs, n, L, weight, through_log_softmax)
    else:
        path[0] = (PATH_NAN if status == NAN_EMISSION else
                   PATH_GUARD_A if status == WIDE_EMISSION else PATH_GUARD_C)
    if status != NAN_EMISSION:
        log_p = log_space(log_probs, n, L, K, W, ws, grad, want_grad, weight)
        if log_p == -INFINITY:  # p = 0: log_space wrote no gradient
            return no_path(log_probs, n, grad, want_grad and through_log_softmax)
        if log_p == log_p:
            return -log_p
        path[0] = PATH_NAN
    if want_grad:
        for t in range(L):
            for c in range(grad.shape[2]):
                grad[t, n, c] = NAN
    return NAN


cdef double no_path(
    const floating[:, :, :] log_probs, Py_ssize_t n, floating[:, :, ::1] grad,
    bint rows_started,                  # start_rows put weight y_t on the rows: take it back
) noexcept nogil:
    """The loss of a sample with no complete path, +inf; its gradient rows 0 (times y_t)."""
    if rows_started:
        start_rows(grad, log_probs, n, 0, 0.0, True)
    return INFINITY


cdef Workspace workspace_new(Py_ssize_t cells, Py_ssize_t max_L, Py_ssize_t max_W) noexcept nogil:
    """One malloc'd block for any one sample; ws.emit is NULL if malloc failed.

    cells is the largest L x W of a sample (not the longest L times the widest W, which may
    belong to different samples); max_L and max_W size the per-frame and per-state arrays.
    """
    cdef Workspace ws = Workspace(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    cdef char* block = <char*> malloc(workspace_size(cells, max_L, max_W))
    if block == NULL:
        return ws
    ws.emit = <double*> block
    ws.alpha = ws.emit + cells
    ws.beta = ws.alpha + cells
    ws.skip = ws.beta + 2 * max_W
    ws.classes = ws.skip + max_W
    ws.label = <int64_t*> (ws.classes + max_W)
    ws.alpha_exp = ws.label + max_W
    ws.beta_exp = ws.alpha_exp + max_L
    return ws


cdef inline size_t workspace_size(Py_ssize_t cells, Py_ssize_t max_L,
                                  Py_ssize_t max_W) noexcept nogil:
    return (2 * cells + 4 * max_W) * sizeof(double) + (3 * max_W + max_L) * sizeof(int64_t)


cdef void workspace_shape(
    const int64_t[::1] input_lengths, const int64_t[::1] target_lengths,
    Py_ssize_t* cells, Py_ssize_t* max_L, Py_ssize_t* max_W,  # OUT
) noexcept nogil:
    """What workspace_new needs to hold any one sample that runs a DP."""
    cdef Py_ssize_t n, L, W
    cells[0] = 1
    max_L[0] = 1
    max_W[0] = 5
    for n in range(input_lengths.shape[0]):
        L = input_lengths[n]
        if not has_dp(L, target_lengths[n]):  # longer targets are inf without a DP
            continue
        W = 2 * target_lengths[n] + 5
        cells[0] = max(cells[0], L * W)
        max_L[0] = max(max_L[0], L)
        max_W[0] = max(max_W[0], W)


cdef enum:
    DP_GRAIN = 16384  # lattice cells (frames x states) per thread: about 50 us of work


cdef int dp_threads(const int64_t[::1] input_lengths, const int64_t[::1] target_lengths,
                    int n_threads) noexcept nogil:
    """How many of n_threads the samples' DPs should use (at least 1): one per DP_GRAIN cells
    of all the lattices together, and no more than there are samples (see D.)."""
    cdef Py_ssize_t n, cells = 0, N = input_lengths.shape[0]
    for n in range(N):
        if has_dp(input_lengths[n], target_lengths[n]):
            cells += input_lengths[n] * (2 * target_lengths[n] + 1)
    return <int> max(1, min(cells // DP_GRAIN, min(<Py_ssize_t> n_threads, N)))


def dp_thread_count(const int64_t[::1] input_lengths, const int64_t[::1] target_lengths,
                    int n_threads):
    """dp_threads, for the tests."""
    return dp_threads(input_lengths, target_lengths, n_threads)


def workspace_bytes(const int64_t[::1] input_lengths, const int64_t[::1] target_lengths):
    """Bytes of the workspace each thread allocates for these samples (for the tests)."""
    cdef Py_ssize_t cells, max_L, max_W
    workspace_shape(input_lengths, target_lengths, &cells, &max_L, &max_W)
    return workspace_size(cells, max_L, max_W)


def ctc_loss_forward(
    const floating[:, :, :] log_probs,  # IN (T, N, C), any strides
    const int64_t[::1] targets,         # IN every sample's labels, concatenated
    const int64_t[::1] target_offsets,  # IN (N,) where sample n's labels start in targets
    const int64_t[::1] input_lengths,   # IN (N,) each in [0, T]
    const int64_t[::1] target_lengths,  # IN (N,)
    Py_ssize_t blank,
    double[::1] loss,                   # OUT (N,) -ln p per sample
    floating[:, :, ::1] grad,           # OUT (T, N, C) d loss[n] / d log_probs, or None
    int n_threads,                      # OpenMP threads (at least 1 is used)
    double weight=1.0,                  # every gradient row is multiplied by it
    bint through_log_softmax=False,     # grad is taken with respect to the logits (see A.)
    int[::1] paths=None,                # OUT (N,) the branch each sample took (PATHS), or None
):
    """CTC loss per sample and, unless grad is None, its exact gradient (see the design note).

    The inputs must already be validated (lucid/nn/functional/ctc.py): labels in [0, C) and
    not blank, lengths in range, shapes consistent. grad has log_probs' dtype and may be
    uninitialised (np.empty): every element is written. grad=None (or an empty array) means
    no gradient is wanted, and none is computed. through_log_softmax requires log_probs to
    be a log-softmax over its last axis (every entry <= 0 or NaN). paths, when given, receives
    for each sample the code of the branch that gave its answer (the keys of PATHS, plus
    PATH_PARTIAL).
    """
    cdef Py_ssize_t N = log_probs.shape[1], n, cells, max_L, max_W
    cdef Py_ssize_t failed = 0
    cdef bint want_grad = grad is not None and grad.size > 0
    cdef const int64_t* all_targets = &targets[0] if targets.shape[0] > 0 else NULL
    cdef int* codes
    cdef Workspace ws
    if want_grad and (grad.shape[0] != log_probs.shape[0] or grad.shape[1] != N
                      or grad.shape[2] != log_probs.shape[2]):
        raise ValueError(f"ctc_loss_forward: grad must have the shape of log_probs "
                         f"{log_probs.shape[0], N, log_probs.shape[2]}, got "
                         f"{grad.shape[0], grad.shape[1], grad.shape[2]}")
    if paths is not None and paths.shape[0] != N:
        raise ValueError(f"ctc_loss_forward: paths must have shape ({N},), got "
                         f"({paths.shape[0]},)")
    workspace_shape(input_lengths, target_lengths, &cells, &max_L, &max_W)
    codes = <int*> malloc(max(N, 1) * sizeof(int))
    if codes == NULL:
        raise MemoryError("ctc_loss_forward: could not allocate the branch codes")

    n_threads = max(n_threads, 1)
    if want_grad:
        with nogil:
            start_all_rows(grad, log_probs, input_lengths, weight, through_log_softmax,
                           n_threads)
    with nogil, parallel(num_threads=dp_threads(input_lengths, target_lengths, n_threads)):
        ws = workspace_new(cells, max_L, max_W)
        for n in prange(N, schedule="dynamic"):
            if ws.emit == NULL:
                failed += 1
            else:
                loss[n] = ctc_one(log_probs, n, input_lengths[n],
                                  all_targets + target_offsets[n], target_lengths[n], blank,
                                  grad, want_grad, weight, through_log_softmax, ws, &codes[n])
        free(ws.emit)
    if paths is not None and not failed:
        for n in range(N):
            paths[n] = codes[n]
    free(codes)
    if failed:
        raise MemoryError(f"ctc_loss_forward: could not allocate a workspace of "
                          f"{workspace_size(cells, max_L, max_W)} bytes")
