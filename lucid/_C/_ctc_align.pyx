"""CTC forced alignment: the single most likely path through the CTC lattice (Viterbi).

Design note
-----------
A. Algorithm. Graves et al. (2006), section 4.1, with the sums of eqs. 6-7 replaced by maxima.
   The paper is 1-based; here everything is 0-based. A sample has `frames` frames and S labels;
   over the extended target l' = (blank, l_1, blank, ..., l_S, blank) of `states` = 2S + 1
   states (even s are blanks; names, the glossary of which heads _lattice.pxd, and lattice
   helpers shared with the loss kernel), with y_t(k) the log-probability of class k at frame t:

       delta_0(0) = y_0(blank),   delta_0(1) = y_0(l_1),   delta_0(s > 1) = -inf      (eq. 5)
       delta_t(s) = y_t(l'_s) + max(delta_{t-1}(s), delta_{t-1}(s-1),
                                    delta_{t-1}(s-2) if [skip s])                 (eqs. 6-7)
       score      = max(delta_{frames-1}(states-1), delta_{frames-1}(states-2))      (eq. 8)

   Only the band of states on a complete path is visited at each frame (as in the loss).
   Each max records how many states back its winner lies (0, 1 or 2); backtracking from the
   better end state yields l'_s at every frame: the frame-level alignment. Ties go to the
   smaller step (a path stays on a state rather than advancing) and at the end to the last
   label rather than the final blank, as in torchaudio's forced_align.
B. Memory, and long inputs. The back-pointers are one byte per state and frame. A sample whose
   frames x states bytes fit in `plain_bytes` keeps them all (plain Viterbi, one forward pass).
   A longer one is cut into blocks of B frames (B ~ sqrt(8 frames) unless given): the forward
   pass keeps only the delta row (8 bytes a state) at the last frame of each block but the last,
   and the back-pointers of the last block; the backtrack then walks the blocks from last to
   first, recomputing each block's back-pointers from its checkpoint row. The recomputation
   repeats the first pass's arithmetic exactly, so the path, ties included, is the plain
   Viterbi's. Per sample: about (B + 8 frames / B) x states bytes, 2 sqrt(8 frames) x states at
   the default B (144 MB for 180,000 frames and 30,000 labels), for under twice the arithmetic.
   Each thread keeps one Workspace (_lattice.pxd), grown to the largest sample it is given.
C. Numerics. Only sums and maxima of log-probabilities, accumulated in double: nothing to over-
   or underflow, no rescaling. -inf marks an impossible emission. The rule for bad emissions is
   the loss kernel's, on the same states: a NaN or +inf among the emissions of the band of any
   frame makes the sample's score NaN; otherwise a sample without a complete path (too few
   frames for its labels and repeats, or impossible emissions) scores -inf. Neither gets a path.
D. Threading. Samples are independent, so the batch is split over OpenMP threads (dynamic
   schedule: lengths vary), each writing only its own samples' outputs; results do not depend
   on the thread count. Within a sample the recursion is sequential in t.
E. Imperfect transcripts: the extended lattice. Two optional penalties, both log-scores <= 0,
   extend the lattice (without either, the code above runs unchanged):
   - A wildcard (star_penalty w). Each gap g = 0 .. S (before l_1, between labels, after l_S)
     gets a wildcard state *_g beside its blank b_g. A frame in *_g scores w, as a class of
     log-probability 0 would (torchaudio's MMS recipe appends such a column by hand): for
     log-probabilities, w plus the frame's total log-probability. It reads no class, so the
     wildcard costs what its states cost, whatever C. A path moves freely between b_g and *_g,
     so a gap is any run of blank and wildcard frames, and a wildcard between two equal labels
     separates them as a blank does; every labelling (classes and wildcards) is one path.
   - Skips (skip_penalty q). Label l_i may be left out at cost q: arcs into l_i from any state
     of an earlier unit (gap j or label l_j, j <= i - 2; a label only if its class differs from
     l_i's, as for the plain arc l_{i-1} -> l_i) at cost q per label jumped; a path may start
     in any l_i at cost (i - 1) q and end in any state at cost q per label after it. Skips enter
     label states only: blank and wildcard frames around a skipped label belong to the gap
     before the skip, which changes no labelling and keeps each labelling a single path.
   Layout: the states are kept by kind, each kind a contiguous segment of a row (XPAD cells of
   -inf around each), B[g] = b_g and W[g] = *_g for g = 0 .. S, L[i] = l_i for i = 1 .. S, so
   that each kind's loop runs over consecutive cells and vectorises:
       B_t[g], W_t[g] = max(B[g], W[g], L[g]) at t - 1,  + y_t(blank), + w
       L_t[i] = max(L[i], W[i-1], B[i-1], L[i-1] if its class differs) at t - 1,  + y_t(l_i)
   A path ends in l_S, b_S or *_S (or with skips anywhere, paying for the labels after it).
   Without skips, frame t holds gaps g and labels i with S - (frames - 1 - t) <= g <= t and
   i <= t + 1 (the band, in units); with skips every unit. The skip arcs of a frame are found
   in one scan over the labels: the best gap state of gaps 0 .. i-2 and the best two labels of
   different classes among l_1 .. l_{i-2}, each decayed by q per label passed (a skip of k
   labels costs k q; nothing overflows). Back-pointers are one byte per state, naming the arc
   (0 = stay, then b_g: *_g, l_g; *_g: b_g, l_g; l_i: *_{i-1}, b_{i-1}, l_{i-1}); a skip arc
   also writes its source into a 4-byte array of one entry per label. Long inputs are cut
   into blocks as in B., of about sqrt(frames x row bytes / back-pointer bytes of a frame)
   frames. Ties go to the earlier arc in that order, then to a
   skip from a gap over one from a label (the nearer source first); at the end to l_S, b_S,
   *_S, then the states with fewer labels after them. A wildcard frame is labelled -1 and
   scores w; skip penalties belong to no frame, so a path's score is the sum of its frame
   scores plus q per label left out.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, sqrt
from libc.stdint cimport INT32_MAX, int8_t, int32_t, int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy

from lucid._C._lattice cimport (PAD, Workspace, band_hi, band_lo, can_skip, ext_label,
                                fill_pads, has_dp, repeats, workspace_reserve)
from lucid._C._rows cimport FOR_READ, floating, prefetch

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no allocation can be larger


cdef enum:
    XPAD = 2       # cells of -inf around each segment of an extended lattice's row (E.)
    WILDCARD = -1  # the label of a frame the wildcard absorbs
    KIND_B = 0     # the kinds of state of the extended lattice: blank, wildcard, label
    KIND_W = 1
    KIND_L = 2
    SKIP_ARC = 4   # an L back-pointer naming a skip arc (its source is in `source`)


cdef struct Lattice:
    # One sample's lattice and its arrays (pointers into the thread's Workspace).
    Py_ssize_t n, frames, states, width  # width = states + 2 PAD (extended: see E.)
    Py_ssize_t pad                       # PAD; 0 for the extended lattice, whose segments
                                         # have their own
    int64_t* label      # states: l'_s
    double* skip        # states: 0.0 where [skip s] holds, -inf elsewhere (added, so no branch)
    double* rows        # 2 x width: delta of frames t and t - 1, by the parity of t
    double* emit        # width: y_t(l'_s) of one frame's band
    int8_t* back        # block x states: back-pointers of the frames of one block; row -1 takes
                        # those of frames that need none kept
    double* checkpoint  # (blocks - 1) x width: delta at the last frame of each block but the last
    # the extended lattice (E.); ext False: the plain one. Its states count S + 1 per kind.
    bint ext, has_star, has_skip
    Py_ssize_t S
    const int64_t* target               # the S labels
    int64_t blank
    double star, skip_cost               # w and q
    Py_ssize_t seg_b, seg_w, seg_l       # where B, W and L start in a row
    double* repeat      # S + 1: -inf at i where l_{i-1} = l_i (no arc between), else 0
    double* label_emit  # S + 1: y_t(l_i) of one frame (index 0: the blank's)
    int32_t* source     # block x (S + 1): a skip arc's source, kind (S + 1) + index; row -1
                        # as for back


cdef inline double* row_of(Lattice* lat, Py_ssize_t t) noexcept nogil:
    """delta_t: the row of frame t's parity, pointing at state 0."""
    return lat.rows + (t % 2) * lat.width + lat.pad


cdef bint gather(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                 Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """lat.emit[s] = y_t(l'_s) for s in [lo, hi); False if one of them is NaN or +inf.

    The same classes of frame t + 1 are prefetched: in a (T, N, C) batch consecutive frames of
    a sample lie N C elements apart, too far for the hardware to guess.
    """
    cdef Py_ssize_t s, ahead = min(t + 1, lat.frames - 1)
    cdef double y
    cdef bint bad = False
    for s in range(lo, hi):
        y = log_probs[t, lat.n, lat.label[s]]
        prefetch(&log_probs[ahead, lat.n, lat.label[s]], FOR_READ)
        bad |= not (y < INFINITY)  # NaN or +inf
        lat.emit[s] = y
    return not bad


cdef bint first_frame(const floating[:, :, :] log_probs, Lattice* lat) noexcept nogil:
    """Eq. (5); False on a NaN or +inf emission."""
    cdef Py_ssize_t s, lo = band_lo(0, lat.frames, lat.states), hi = band_hi(0, lat.states)
    cdef double* cur = row_of(lat, 0)
    if not gather(log_probs, lat, 0, lo, hi):
        return False
    for s in range(lo, hi):
        cur[s] = lat.emit[s]
    fill_pads(cur, lo, hi, -INFINITY)
    return True


cdef bint next_frame(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                     int8_t* back) noexcept nogil:
    """Eqs. (6)-(7) with max for sum, frame t from frame t - 1, its back-pointers into back (a
    row of states). False on a NaN or +inf emission."""
    cdef Py_ssize_t s, lo = band_lo(t, lat.frames, lat.states), hi = band_hi(t, lat.states)
    cdef const double* prev = row_of(lat, t - 1)
    cdef double* cur = row_of(lat, t)
    cdef const double* skip = lat.skip
    cdef const double* emit = lat.emit
    cdef double stay, one, two, best
    cdef bint advance, skips
    if not gather(log_probs, lat, t, lo, hi):
        return False
    for s in range(lo, hi):  # branch-free selects, so that it vectorises
        stay = prev[s]
        one = prev[s - 1]
        two = prev[s - 2] + skip[s]
        advance = one > stay  # strict: a tie goes to the smaller step
        best = one if advance else stay
        skips = two > best
        best = two if skips else best
        back[s] = 2 if skips else advance
        cur[s] = best + emit[s]
    fill_pads(cur, lo, hi, -INFINITY)
    return True


# ------------------------------------------------------------------ the extended lattice (E.)
cdef inline void unit_band(Lattice* lat, Py_ssize_t t, Py_ssize_t* g_lo, Py_ssize_t* g_hi,
                           Py_ssize_t* i_lo, Py_ssize_t* i_hi) noexcept nogil:
    """The gaps [g_lo, g_hi) and labels [i_lo, i_hi) of frame t (E.)."""
    cdef Py_ssize_t S = lat.S, first = lat.S - (lat.frames - 1 - t)
    if lat.has_skip:
        first = 0
        t = S
    g_lo[0] = max(0, first)
    g_hi[0] = min(S, t) + 1
    i_lo[0] = max(1, first)
    i_hi[0] = min(S, t + 1) + 1


cdef inline void pad_range(double* seg, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """-inf in the two cells on each side of seg[lo:hi], which the next frame may read."""
    seg[lo - 2] = -INFINITY
    seg[lo - 1] = -INFINITY
    seg[hi] = -INFINITY
    seg[hi + 1] = -INFINITY


cdef inline void pad_frame(Lattice* lat, double* row, Py_ssize_t g_lo, Py_ssize_t g_hi,
                           Py_ssize_t i_lo, Py_ssize_t i_hi) noexcept nogil:
    pad_range(row + lat.seg_b, g_lo, g_hi)
    if lat.has_star:
        pad_range(row + lat.seg_w, g_lo, g_hi)
    pad_range(row + lat.seg_l, i_lo, i_hi)


cdef bint ext_gather(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                     bint gaps, Py_ssize_t i_lo, Py_ssize_t i_hi) noexcept nogil:
    """lat.label_emit: the blank's y_t at 0 (if the frame has gaps), y_t(l_i) for i in
    [i_lo, i_hi); False if one of them is NaN or +inf (the plain lattice's rule: the same
    classes of the same frames)."""
    cdef Py_ssize_t i, ahead = min(t + 1, lat.frames - 1)
    cdef double y = log_probs[t, lat.n, lat.blank] if gaps else -INFINITY
    cdef bint bad = not (y < INFINITY)
    lat.label_emit[0] = y
    for i in range(i_lo, i_hi):
        y = log_probs[t, lat.n, lat.target[i - 1]]
        prefetch(&log_probs[ahead, lat.n, lat.target[i - 1]], FOR_READ)
        bad |= not (y < INFINITY)
        lat.label_emit[i] = y
    return not bad


cdef inline double skips_after(Lattice* lat, Py_ssize_t kind, Py_ssize_t index) noexcept nogil:
    """What ending in a state adds: q per label after it (0 for l_S, b_S, *_S)."""
    cdef Py_ssize_t left = lat.S - index
    return 0.0 if left == 0 else left * lat.skip_cost


cdef void skip_arcs(Lattice* lat, const double* prev, double* cur, int8_t* codes,
                    int32_t* source) noexcept nogil:
    """Let each label L[i] (i >= 2) of cur take a skip arc from prev when it beats the arcs of
    E. (one scan; see E.). Selects rather than branches: which candidate wins is data, and
    mispredicted branches cost more than the scan's arithmetic."""
    cdef Py_ssize_t i, j, units = lat.S + 1
    cdef const double* p_b = prev + lat.seg_b
    cdef const double* p_w = prev + lat.seg_w
    cdef const double* p_l = prev + lat.seg_l
    cdef double* c_l = cur + lat.seg_l
    cdef int8_t* code_l = codes + 2 * units
    cdef int64_t label, first_label = -1
    cdef int32_t src, gap_src = 0, first_src = 0, second_src = 0
    cdef double q = lat.skip_cost, v, w, gap = -INFINITY, first = -INFINITY, second = -INFINITY
    cdef bint same, better, win
    for i in range(2, lat.S + 1):
        j = i - 2
        # gap j (b_j, then *_j) joins the best gap; the nearer source wins a tie
        v = p_b[j]
        w = p_w[j]  # -inf without the wildcard
        src = <int32_t> (KIND_W * units + j) if w > v else <int32_t> (KIND_B * units + j)
        v = w if w > v else v
        gap_src = src if v >= gap else gap_src
        gap = v if v >= gap else gap
        # l_j (j >= 1) joins the best two labels of different classes (second: the best of a
        # class other than first's)
        v = p_l[j]  # -inf for j = 0
        label = lat.target[j - 1] if j >= 1 else -1
        src = <int32_t> (KIND_L * units + j)
        same = label == first_label
        better = v >= first
        if not same and better:  # first steps down to second
            second = first
            second_src = first_src
        elif not same and v >= second:
            second = v
            second_src = src
        first_src = src if better else first_src
        first_label = label if better else first_label
        first = v if better else first
        gap += q
        first += q
        second += q
        # the best skip into l_i: from a gap, or from a label of another class
        same = lat.target[i - 1] == first_label
        v = second if same else first
        src = second_src if same else first_src
        src = src if v > gap else gap_src
        v = v if v > gap else gap
        win = v > c_l[i]
        c_l[i] = v if win else c_l[i]
        code_l[i] = SKIP_ARC if win else code_l[i]
        source[i] = src


cdef bint ext_first_frame(const floating[:, :, :] log_probs, Lattice* lat) noexcept nogil:
    """Frame 0: b_0, *_0 and l_1, or any l_i at (i - 1) q with skips. False on a NaN or +inf."""
    cdef Py_ssize_t g, i, g_lo, g_hi, i_lo, i_hi
    cdef double* row = row_of(lat, 0)
    cdef double* c_b = row + lat.seg_b
    cdef double* c_w = row + lat.seg_w
    cdef double* c_l = row + lat.seg_l
    unit_band(lat, 0, &g_lo, &g_hi, &i_lo, &i_hi)
    if not ext_gather(log_probs, lat, 0, g_lo < g_hi, i_lo, i_hi):
        return False
    for g in range(g_lo, g_hi):
        c_b[g] = -INFINITY
        c_w[g] = -INFINITY
    c_b[0] = lat.label_emit[0]
    if lat.has_star:
        c_w[0] = lat.star
    for i in range(i_lo, i_hi):
        c_l[i] = lat.label_emit[i] + (0.0 if i == 1 else (i - 1) * lat.skip_cost)
    pad_frame(lat, row, g_lo, g_hi, i_lo, i_hi)
    return True


cdef bint ext_next_frame(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                         int8_t* codes, int32_t* source) noexcept nogil:
    """Frame t from frame t - 1 (E.), its back-pointers into codes (3 (S + 1) bytes: B, W, L)
    and source. False on a NaN or +inf emission."""
    cdef Py_ssize_t g, i, g_lo, g_hi, i_lo, i_hi, units = lat.S + 1
    cdef const double* prev = row_of(lat, t - 1)
    cdef double* row = row_of(lat, t)
    cdef const double* p_b = prev + lat.seg_b
    cdef const double* p_w = prev + lat.seg_w
    cdef const double* p_l = prev + lat.seg_l
    cdef double* c_b = row + lat.seg_b
    cdef double* c_w = row + lat.seg_w
    cdef double* c_l = row + lat.seg_l
    cdef const double* repeat = lat.repeat
    cdef const double* y = lat.label_emit
    cdef int8_t* code_b = codes
    cdef int8_t* code_w = codes + units
    cdef int8_t* code_l = codes + 2 * units
    cdef double best, v, blank, star = lat.star
    cdef int8_t c
    unit_band(lat, t, &g_lo, &g_hi, &i_lo, &i_hi)
    if not ext_gather(log_probs, lat, t, g_lo < g_hi, i_lo, i_hi):
        return False
    blank = y[0]
    # branch-free selects, so that each loop vectorises; strict: a tie goes to the earlier arc
    for g in range(g_lo, g_hi):  # b_g from b_g, *_g, l_g
        best = p_b[g]
        c = 0
        v = p_w[g]
        c = 1 if v > best else c
        best = v if v > best else best
        v = p_l[g]
        c = 2 if v > best else c
        best = v if v > best else best
        c_b[g] = best + blank
        code_b[g] = c
    if lat.has_star:
        for g in range(g_lo, g_hi):  # *_g from *_g, b_g, l_g
            best = p_w[g]
            c = 0
            v = p_b[g]
            c = 1 if v > best else c
            best = v if v > best else best
            v = p_l[g]
            c = 2 if v > best else c
            best = v if v > best else best
            c_w[g] = best + star
            code_w[g] = c
    for i in range(i_lo, i_hi):  # l_i from l_i, *_{i-1}, b_{i-1}, l_{i-1}
        best = p_l[i]
        c = 0
        v = p_w[i - 1]
        c = 1 if v > best else c
        best = v if v > best else best
        v = p_b[i - 1]
        c = 2 if v > best else c
        best = v if v > best else best
        v = p_l[i - 1] + repeat[i]
        c = 3 if v > best else c
        best = v if v > best else best
        c_l[i] = best
        code_l[i] = c
    if lat.has_skip:
        skip_arcs(lat, prev, row, codes, source)
    for i in range(i_lo, i_hi):
        c_l[i] += y[i]
    pad_frame(lat, row, g_lo, g_hi, i_lo, i_hi)
    return True


cdef void ext_setup(Lattice* lat) noexcept nogil:
    """The segments of a row, both rows all -inf, and the repeat arcs (E.), once per sample."""
    cdef Py_ssize_t s, i, units = lat.S + 1
    lat.seg_b = XPAD
    lat.seg_w = lat.seg_b + units + 2 * XPAD
    lat.seg_l = lat.seg_w + units + 2 * XPAD
    for s in range(2 * lat.width):
        lat.rows[s] = -INFINITY
    lat.repeat[0] = -INFINITY
    for i in range(1, units):
        lat.repeat[i] = (-INFINITY if i == 1 or lat.target[i - 1] == lat.target[i - 2]
                         else 0.0)


cdef inline Py_ssize_t ext_back(Lattice* lat, Py_ssize_t state, const int8_t* codes,
                                const int32_t* source) noexcept nogil:
    """The state (kind (S + 1) + index) a path in `state` at frame t came from at t - 1, from
    frame t's back-pointers."""
    cdef Py_ssize_t units = lat.S + 1, kind = state // units, index = state % units
    cdef int8_t c = codes[kind * units + index]
    if kind == KIND_L:
        if c == SKIP_ARC:
            return source[index]
        if c == 0:
            return state
        # 1: *_{i-1}, 2: b_{i-1}, 3: l_{i-1}
        return (KIND_W if c == 1 else KIND_B if c == 2 else KIND_L) * units + index - 1
    if c == 0:
        return state
    if c == 2:
        return KIND_L * units + index
    return (KIND_W if kind == KIND_B else KIND_B) * units + index


cdef inline int64_t ext_label_of(Lattice* lat, Py_ssize_t state) noexcept nogil:
    cdef Py_ssize_t units = lat.S + 1, kind = state // units
    if kind == KIND_L:
        return lat.target[state % units - 1]
    return lat.blank if kind == KIND_B else WILDCARD


cdef inline double ext_value(Lattice* lat, const double* row, Py_ssize_t state) noexcept nogil:
    cdef Py_ssize_t units = lat.S + 1, kind = state // units, index = state % units
    return row[(lat.seg_b if kind == KIND_B else lat.seg_w if kind == KIND_W else lat.seg_l)
               + index]


cdef inline bint step_frame(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                            Py_ssize_t row) noexcept nogil:
    """Frame t from frame t - 1 (frame 0 alone when t = 0), back-pointers into back-pointer row
    `row` of the block (-1: the row of frames that need none kept). False on a NaN or +inf."""
    if lat.ext:
        if t == 0:
            return ext_first_frame(log_probs, lat)
        return ext_next_frame(log_probs, lat, t, lat.back + row * lat.states,
                              lat.source + row * (lat.S + 1))
    if t == 0:
        return first_frame(log_probs, lat)
    return next_frame(log_probs, lat, t, lat.back + row * lat.states)


cdef Py_ssize_t end_state(Lattice* lat, double* score) noexcept nogil:
    """Where the best path ends, and its score: eq. (8), the last label or the final blank (a
    tie: the label); in the extended lattice the best state, with q per label after it (a tie:
    l_S, b_S, *_S, then the states with fewer labels after them)."""
    cdef const double* end_row = row_of(lat, lat.frames - 1)
    cdef Py_ssize_t s, index, kind, units = lat.S + 1, states = lat.states, best_s = -1
    cdef double v
    if not lat.ext:
        s = states - 2
        if states == 1 or end_row[states - 1] > end_row[states - 2]:
            s = states - 1
        score[0] = end_row[s]
        return s
    score[0] = -INFINITY
    for index in range(lat.S, -1 if lat.has_skip else lat.S - 1, -1):
        for kind in range(3):
            kind = (kind + 2) % 3  # L, B, W
            if (kind == KIND_L and index == 0) or (kind == KIND_W and not lat.has_star):
                continue
            s = kind * units + index
            v = ext_value(lat, end_row, s) + skips_after(lat, kind, index)
            if best_s < 0 or v > score[0]:
                score[0] = v
                best_s = s
    return best_s


cdef double viterbi_one(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Lattice* lat,                       # lattice set up, workspace attached
    Py_ssize_t block,                   # frames per block (>= frames: plain Viterbi)
    int64_t* path,                      # OUT frames: the class of each frame (-1: wildcard)
) noexcept nogil:
    """Best-path log-probability of one sample (NaN, -inf: see C.); writes its path if finite."""
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width
    cdef Py_ssize_t blocks = (frames + block - 1) // block, last = (blocks - 1) * block
    cdef Py_ssize_t t, s, k, first, stop, row
    cdef double score

    # Forward: every frame once, checkpoints at block ends, back-pointers of the last block.
    for t in range(frames):
        if not step_frame(log_probs, lat, t, max(t - last, -1)):
            return NAN
        if t % block == block - 1 and t < last:
            memcpy(lat.checkpoint + (t // block) * width, row_of(lat, t) - lat.pad,
                   width * sizeof(double))
    s = end_state(lat, &score)
    if score == -INFINITY:
        return score

    # Backtrack, block by block from the last; every block but the last is recomputed first.
    for k in range(blocks - 1, -1, -1):
        first = k * block
        stop = min(frames, first + block)
        if k < blocks - 1:
            if k > 0:
                memcpy(row_of(lat, first - 1) - lat.pad, lat.checkpoint + (k - 1) * width,
                       width * sizeof(double))
            for t in range(first, stop):
                step_frame(log_probs, lat, t, t - first)
        for t in range(stop - 1, first - 1, -1):
            row = t - first
            if lat.ext:
                path[t] = ext_label_of(lat, s)
                if t > 0:
                    s = ext_back(lat, s, lat.back + row * states,
                                 lat.source + row * (lat.S + 1))
            else:
                path[t] = lat.label[s]
                if t > 0:
                    s -= lat.back[row * states + s]
    return score


cdef inline double back_bytes(Lattice* lat) noexcept nogil:
    """Bytes of back-pointers per frame (B.; E.: a byte per state, 4 per label with skips)."""
    return lat.states + (4.0 * (lat.S + 1) if lat.ext and lat.has_skip else 0.0)


cdef Py_ssize_t block_frames(Lattice* lat, int64_t plain_bytes, Py_ssize_t block) noexcept nogil:
    """Frames per block: all of them if their back-pointers fit in plain_bytes, else block, or
    sqrt(8 frames width / back-pointer bytes of a frame) when block is 0 (which minimises the
    back-pointers of a block plus the checkpoints, see B.)."""
    if lat.frames <= plain_bytes / back_bytes(lat):
        return lat.frames
    if block <= 0 and not lat.ext:
        block = <Py_ssize_t> sqrt(8.0 * lat.frames)
    elif block <= 0:
        block = <Py_ssize_t> sqrt(8.0 * lat.frames * lat.width / back_bytes(lat))
    return max(1, min(block, lat.frames))


cdef double workspace_bytes(Lattice* lat, Py_ssize_t block) noexcept nogil:
    """Bytes of a Lattice's workspace (each part a multiple of 8 bytes, so all stay aligned),
    in double: a size beyond any allocation must not wrap around into a small one."""
    cdef double states = lat.states, width = lat.width
    cdef double blocks = (lat.frames + block - 1) // block
    return ((2 * states + 3 * width + (blocks - 1) * width + 2 * (lat.S + 1)) * 8
            + ((<double> block + 1) * back_bytes(lat) + 7) // 8 * 8)


cdef bint attach(Lattice* lat, Workspace* ws, Py_ssize_t block) noexcept nogil:
    """Point the lattice's arrays into ws (grown if needed); False if malloc failed."""
    cdef Py_ssize_t width = lat.width, blocks = (lat.frames + block - 1) // block
    cdef double need = workspace_bytes(lat, block)
    if need > <double> PY_SSIZE_T_MAX or not workspace_reserve(ws, <size_t> need):
        return False
    lat.label = <int64_t*> ws.data
    lat.skip = <double*> (lat.label + lat.states)
    lat.rows = lat.skip + lat.states
    lat.emit = lat.rows + 2 * width + lat.pad
    lat.checkpoint = lat.emit - lat.pad + width
    lat.repeat = lat.checkpoint + (blocks - 1) * width
    lat.label_emit = lat.repeat + lat.S + 1
    # the skip sources (4 bytes a label, 8-byte aligned), then the byte back-pointers; each
    # with row -1 in front
    lat.source = <int32_t*> (lat.label_emit + lat.S + 1) + (lat.S + 1)
    lat.back = (<int8_t*> (lat.label_emit + lat.S + 1) + lat.states
                + (4 * (block + 1) * (lat.S + 1) if lat.ext and lat.has_skip else 0))
    return True


cdef double align_one(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t frames,
    const int64_t* target, Py_ssize_t S, int64_t blank,
    double star, double skip_cost,      # w (NaN: none) and q (-inf: none), see E.
    int64_t plain_bytes, Py_ssize_t block, Workspace* ws,
    int64_t* path,                      # OUT row of T: the path, then blank
    floating* frame_score,              # OUT row of T: y_t of the path, then 0; or all NaN/-inf
    double* failed,                     # OUT the bytes asked for, if malloc failed
) noexcept nogil:
    """Align sample n and write its output rows (see ctc_viterbi); return its score."""
    cdef Py_ssize_t T = log_probs.shape[0], t, s
    cdef Lattice lat
    # no frames: the empty path, skipping every label if it may, or nothing
    cdef double score = 0.0 if S == 0 else S * skip_cost
    lat.has_star = star == star
    lat.has_skip = skip_cost > -INFINITY
    lat.ext = lat.has_star or lat.has_skip
    if frames > 0 and (lat.has_skip or (S <= frames and frames >= S + repeats(target, S))):
        lat.n = n
        lat.frames = frames
        lat.S = S
        lat.target = target
        lat.blank = blank
        lat.star = star
        lat.skip_cost = skip_cost
        if lat.ext:  # back-pointer bytes per frame, and segments B, W, L (E.)
            lat.states = 3 * (S + 1)
            lat.pad = 0
            lat.width = 3 * (S + 1 + 2 * XPAD)
        else:
            lat.states = 2 * S + 1
            lat.pad = PAD
            lat.width = lat.states + 2 * PAD
        block = block_frames(&lat, plain_bytes, block)
        if 3 * (S + 1) > INT32_MAX or not attach(&lat, ws, block):
            failed[0] = workspace_bytes(&lat, block)
            score = NAN
        elif lat.ext:
            ext_setup(&lat)
            score = viterbi_one(log_probs, &lat, block, path)
        else:
            for s in range(lat.states):
                lat.label[s] = ext_label(target, s, blank)
                lat.skip[s] = 0.0 if can_skip(target, s) else -INFINITY
            score = viterbi_one(log_probs, &lat, block, path)
    elif frames > 0:
        score = -INFINITY
    if not (score > -INFINITY):  # -inf or NaN: the whole row says so, and there is no path
        frames = 0
    for t in range(frames):
        frame_score[t] = star if path[t] == WILDCARD else log_probs[t, n, path[t]]
    for t in range(frames, T):
        path[t] = blank
        frame_score[t] = 0.0 if score > -INFINITY else score
    return score


def ctc_viterbi(
    const floating[:, :, :] log_probs,  # IN (T, N, C), any strides
    const int64_t[::1] labels,          # IN every sample's labels, concatenated
    const int64_t[::1] offsets,         # IN (N,) where sample n's labels start in labels
    const int64_t[::1] input_lengths,   # IN (N,) each in [0, T]
    const int64_t[::1] target_lengths,  # IN (N,)
    int64_t blank,
    int64_t[:, ::1] path,               # OUT (N, T) each frame's class (-1: wildcard); blank past
                                        # the length
    floating[:, ::1] frame_score,       # OUT (N, T) log_probs along the path; 0 past the length
    double[::1] score,                  # OUT (N,) best-path log-probability, -inf or NaN
    double star_penalty,                # w, a wildcard's log-score a frame; NaN: no wildcard (E.)
    double skip_penalty,                # q, a skipped label's log-score; -inf: no skips (E.)
    int64_t plain_bytes,                # a sample whose frames x states exceed this is blocked
    Py_ssize_t block,                   # frames per block when blocked; 0: about sqrt(8 frames)
    int n_threads,
):
    """Viterbi alignment of a validated batch (see lucid/ctc/align.py).

    A sample whose score is -inf or NaN gets blanks in its path row and that score in every
    element of its frame_score row, so that the row's sum is the score whatever the lengths.
    """
    cdef Py_ssize_t N = log_probs.shape[1], n
    cdef double failed = 0
    cdef Workspace ws
    cdef const int64_t* all_labels = &labels[0] if labels.shape[0] > 0 else NULL
    # no more threads than samples: a thread without a sample would only be started and joined
    with nogil, parallel(num_threads=max(1, min(n_threads, N))):
        ws = Workspace(NULL, 0)
        for n in prange(N, schedule="dynamic"):
            score[n] = align_one(log_probs, n, input_lengths[n], all_labels + offsets[n],
                                 target_lengths[n], blank, star_penalty, skip_penalty,
                                 plain_bytes, block, &ws,
                                 &path[n, 0], &frame_score[n, 0], &failed)
        free(ws.data)
    if failed:
        raise MemoryError(f"ctc_viterbi: could not allocate an alignment workspace of "
                          f"{failed / 2**20:.1f} MiB")
