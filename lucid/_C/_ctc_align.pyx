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
   turn the lattice above into a larger one (without either, the code above runs unchanged):
   - A wildcard (star_penalty w). Each gap g = 0 .. S (before l_1, between labels, after l_S)
     gets a wildcard state *_g beside its blank b_g. A frame in *_g scores w + ln sum_k y_t(k)
     (frame_logsumexp of _lattice.pxd): the penalty plus the log of the frame's total
     probability, 0 for normalised log_probs, so the wildcard stands for any class at all,
     blank included, and costs exactly w a frame; a frame a token or the blank would explain
     better than w goes to them. A path moves freely between b_g and *_g (both ways), so a gap
     is any run of blank and wildcard frames, and a wildcard frame between two equal labels
     separates them as a blank does. Every frame-level labelling (classes and wildcards) is one
     path: a frame's symbol says its state. States, `unit` = 3 per label:
         b_0, *_0, l_1, b_1, *_1, l_2, ..., l_S, b_S, *_S      (states = 3S + 2)
     delta_t(b_g) from b_g, *_g (s + 1), l_g (s - 1); delta_t(*_g) from *_g, b_g (s - 1),
     l_g (s - 2); delta_t(l_i) from l_i, *_{i-1} (s - 1), b_{i-1} (s - 2), l_{i-1} (s - 3, if
     a different label). A path ends in l_S, b_S or *_S. The band of a frame moves by 3 states.
   - Skips (skip_penalty q). Label l_i may be left out at cost q: arcs into l_i from any state
     of an earlier unit j <= i - 2 (a gap state of gap j, or l_j if its label differs from
     l_i's) at cost (i - 1 - j) q for the labels jumped; a path may start in any l_i at cost
     (i - 1) q and end in any state at cost q per label after it. Skips enter label states only:
     the blank and wildcard frames around a skipped label belong to the gap before the skip,
     which changes no labelling, and keeps each a single path. With `unit` = 2 (no wildcard)
     the states are the plain ones. Every label is reachable at every frame, so the band is
     all states. The arcs of each frame's labels are found in one scan over the units: the best
     gap state and the best two labels of different classes seen so far, each decayed by q per
     unit (so a skip of k labels costs k q, and -inf penalties stay -inf).
   Back-pointers then hold the state distance of each arc (int32, 4 bytes per state and frame,
   so blocks are about sqrt(2 frames) frames). Ties go to, in order: staying, the arcs from
   s - 1, s - 2, s - 3, s + 1, then a skip from a gap state, then one from a label (the nearer
   source first); at the end to l_S, then to later states. A wildcard frame's label is -1 in
   the path and its score w + ln sum_k y_t(k); skip penalties belong to no frame, so a path's
   score is the sum of its frame scores plus q per skipped label. The NaN rule reads as before,
   with every class of a frame counted as read by the wildcard.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, sqrt
from libc.stdint cimport INT32_MAX, int8_t, int32_t, int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy

from lucid._C._lattice cimport (PAD, Workspace, band_hi, band_lo, can_skip, ext_label,
                                fill_pads, frame_logsumexp, has_dp, repeats, workspace_reserve)
from lucid._C._rows cimport FOR_READ, floating, prefetch

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no allocation can be larger


cdef enum:
    EXT_PAD = 4  # cells on each side of an extended lattice's rows: arcs reach s - 3 and s + 1,
                 # and its band moves by 3 states a frame
    WILDCARD = -1  # the label of a wildcard state, and of a frame it absorbs


cdef struct Lattice:
    # One sample's lattice and its arrays (pointers into the thread's Workspace).
    Py_ssize_t n, frames, states, width  # width = states + 2 pad
    Py_ssize_t pad                       # PAD, or EXT_PAD for the extended lattice (E.)
    int64_t* label      # states: l'_s
    double* skip        # states: 0.0 where [skip s] holds, -inf elsewhere (added, so no branch)
    double* rows        # 2 x width: delta of frames t and t - 1, by the parity of t
    double* emit        # width: y_t(l'_s) of one frame's band
    int8_t* back        # block x states: back-pointers of the frames of one block; row -1 takes
                        # those of frames that need none kept
    double* checkpoint  # (blocks - 1) x width: delta at the last frame of each block but the last
    # the extended lattice (E.); ext False: the plain one
    bint ext
    Py_ssize_t S, unit                   # labels; states per label (2, or 3 with the wildcard)
    const int64_t* target               # the S labels
    double star, skip_cost               # w (NaN: no wildcard) and q (-inf: no skips)
    double* arcs        # 4 x width: 0 or -inf on the arcs into s from s - 1, s - 2, s - 3, s + 1
    int32_t* back32     # as back, the state distance of each arc


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
cdef inline void ext_band(Lattice* lat, Py_ssize_t t, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The states of frame t on a complete path (a superset): all of them with skips; with the
    wildcard alone, at most 3 states further each frame, from {b_0, *_0, l_1} to {l_S, b_S, *_S}."""
    if lat.skip_cost > -INFINITY:
        lo[0] = 0
        hi[0] = lat.states
    else:
        lo[0] = max(0, lat.states - 3 - 3 * (lat.frames - 1 - t))
        hi[0] = min(lat.states, 3 * (t + 1))


cdef inline void ext_fill_pads(double* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(1, EXT_PAD + 1):
        row[lo - k] = -INFINITY
        row[hi + k - 1] = -INFINITY


cdef bint ext_gather(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                     Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """lat.emit[s] for s in [lo, hi): y_t(l'_s), or w + ln sum_k y_t(k) for a wildcard state;
    False if one of them reads a NaN or +inf."""
    cdef Py_ssize_t s
    cdef double y, star = NAN
    cdef bint bad = False
    if lat.star == lat.star:
        star = lat.star + frame_logsumexp(log_probs, t, lat.n)
        bad = star != star
    for s in range(lo, hi):
        y = star if lat.label[s] == WILDCARD else log_probs[t, lat.n, lat.label[s]]
        bad |= not (y < INFINITY)
        lat.emit[s] = y
    return not bad


cdef inline double skips_before(Lattice* lat, Py_ssize_t s, bint start) noexcept nogil:
    """What state s costs at the first frame (start) or adds at the last (not start): q per label
    a path there skips before it, or after it; -inf where no path begins or ends without more
    skips than there are."""
    cdef Py_ssize_t done = (s + 1) // lat.unit  # labels up to and including s's unit
    cdef bint is_label = (s + 1) % lat.unit == 0
    cdef Py_ssize_t skipped = (done - 1 if is_label else done) if start else lat.S - done
    if skipped == 0:
        return 0.0
    if start and not is_label:  # a gap state past gap 0 is entered from its label only
        return -INFINITY
    return skipped * lat.skip_cost  # -inf without skips


cdef void skip_arcs(Lattice* lat, const double* prev, double* cur, int32_t* back) noexcept nogil:
    """Let each label state l_i (i >= 2) take a skip arc from prev when it beats cur[l_i] (E.).

    One scan over the units: before l_i, the best gap state of gaps 0 .. i-2 and the best two
    labels of different classes among l_1 .. l_{i-2}, each with q added per unit passed.
    """
    cdef Py_ssize_t u = lat.unit, i, j, s, src
    cdef Py_ssize_t gap_src = 0, first_src = 0, second_src = 0
    cdef int64_t label, first_label = -1
    cdef double q = lat.skip_cost, v, gap = -INFINITY, first = -INFINITY, second = -INFINITY
    for i in range(2, lat.S + 1):
        j = i - 2
        s = u * j  # b_j, then *_j: the nearer wins a tie
        v = prev[s]
        src = s
        if u == 3 and prev[s + 1] > v:
            v = prev[s + 1]
            src = s + 1
        if v >= gap:
            gap = v
            gap_src = src
        if j >= 1:  # l_j joins the best two labels of different classes
            s = u * j - 1
            v = prev[s]
            label = lat.target[j - 1]
            if label == first_label:
                if v >= first:
                    first = v
                    first_src = s
            elif v >= first:
                second = first
                second_src = first_src
                first = v
                first_src = s
                first_label = label
            elif v >= second:
                second = v
                second_src = s
        gap += q
        first += q
        second += q
        s = u * i - 1
        v = gap
        src = gap_src
        if lat.target[i - 1] != first_label:
            if first > v:
                v = first
                src = first_src
        elif second > v:
            v = second
            src = second_src
        if v > cur[s]:
            cur[s] = v
            back[s] = <int32_t> (s - src)


cdef bint ext_first_frame(const floating[:, :, :] log_probs, Lattice* lat) noexcept nogil:
    """Frame 0 of the extended lattice; False on a NaN or +inf emission."""
    cdef Py_ssize_t s, lo, hi
    cdef double* cur = row_of(lat, 0)
    ext_band(lat, 0, &lo, &hi)
    if not ext_gather(log_probs, lat, 0, lo, hi):
        return False
    for s in range(lo, hi):
        cur[s] = lat.emit[s] + skips_before(lat, s, True)
    ext_fill_pads(cur, lo, hi)
    return True


cdef bint ext_next_frame(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                         int32_t* back) noexcept nogil:
    """Frame t of the extended lattice from frame t - 1, its back-pointers into back (a row of
    states). False on a NaN or +inf emission."""
    cdef Py_ssize_t s, lo, hi, w = lat.width
    cdef const double* prev = row_of(lat, t - 1)
    cdef double* cur = row_of(lat, t)
    cdef const double* from1 = lat.arcs + lat.pad
    cdef const double* from2 = from1 + w
    cdef const double* from3 = from2 + w
    cdef const double* from_next = from3 + w
    cdef double best, v
    cdef int32_t step
    ext_band(lat, t, &lo, &hi)
    if not ext_gather(log_probs, lat, t, lo, hi):
        return False
    for s in range(lo, hi):  # branch-free selects; strict: a tie goes to the earlier arc
        best = prev[s]
        step = 0
        v = prev[s - 1] + from1[s]
        step = 1 if v > best else step
        best = v if v > best else best
        v = prev[s - 2] + from2[s]
        step = 2 if v > best else step
        best = v if v > best else best
        v = prev[s - 3] + from3[s]
        step = 3 if v > best else step
        best = v if v > best else best
        v = prev[s + 1] + from_next[s]
        step = -1 if v > best else step
        best = v if v > best else best
        cur[s] = best
        back[s] = step
    if lat.skip_cost > -INFINITY:
        skip_arcs(lat, prev, cur, back)
    for s in range(lo, hi):
        cur[s] += lat.emit[s]
    ext_fill_pads(cur, lo, hi)
    return True


cdef void ext_setup(Lattice* lat, int64_t blank) noexcept nogil:
    """The extended lattice's labels and arcs (E.), once per sample."""
    cdef Py_ssize_t s, u = lat.unit, w = lat.width, p
    cdef double* from1 = lat.arcs + lat.pad
    cdef double* from2 = from1 + w
    cdef double* from3 = from2 + w
    cdef double* from_next = from3 + w
    cdef bint is_label, is_star, repeat
    for s in range(4 * w):
        lat.arcs[s] = -INFINITY
    for s in range(lat.states):
        p = s % u
        is_label = p == u - 1
        is_star = u == 3 and p == 1
        lat.label[s] = (lat.target[s // u] if is_label else WILDCARD if is_star
                        else blank)
        # l_i from l_{i-1}: s - u; a repeat needs a blank or a wildcard frame between
        repeat = is_label and s >= u + u - 1 and lat.target[s // u] == lat.target[s // u - 1]
        from1[s] = 0.0
        if u == 2:
            from2[s] = 0.0 if is_label and not repeat and s >= 3 else -INFINITY
        else:
            from2[s] = 0.0 if p != 0 else -INFINITY  # *_g from l_g, l_i from b_{i-1}
            from3[s] = 0.0 if is_label and not repeat and s >= 5 else -INFINITY
            from_next[s] = 0.0 if p == 0 else -INFINITY  # b_g from *_g


cdef inline bint step_frame(const floating[:, :, :] log_probs, Lattice* lat, Py_ssize_t t,
                            Py_ssize_t row) noexcept nogil:
    """Frame t from frame t - 1 (frame 0 alone when t = 0), back-pointers into back-pointer row
    `row` of the block (-1: the row of frames that need none kept). False on a NaN or +inf."""
    if lat.ext:
        if t == 0:
            return ext_first_frame(log_probs, lat)
        return ext_next_frame(log_probs, lat, t, lat.back32 + row * lat.states)
    if t == 0:
        return first_frame(log_probs, lat)
    return next_frame(log_probs, lat, t, lat.back + row * lat.states)


cdef inline Py_ssize_t end_state(Lattice* lat) noexcept nogil:
    """Where the best path ends: eq. (8), the last label or the final blank (a tie: the label);
    in the extended lattice, the best of every state with what its skips to the end cost (a
    tie: l_S, then the later state)."""
    cdef const double* end_row = row_of(lat, lat.frames - 1)
    cdef Py_ssize_t s, best_s, states = lat.states
    cdef double v, best
    if not lat.ext:
        if states == 1 or end_row[states - 1] > end_row[states - 2]:
            return states - 1
        return states - 2
    best_s = lat.unit * lat.S - 1 if lat.S > 0 else states - 1
    best = end_row[best_s]
    for s in range(states - 1, -1, -1):
        v = end_row[s] + skips_before(lat, s, False)
        if v > best:
            best = v
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
    cdef Py_ssize_t t, s, k, first, stop
    cdef double score

    # Forward: every frame once, checkpoints at block ends, back-pointers of the last block.
    for t in range(frames):
        if not step_frame(log_probs, lat, t, max(t - last, -1)):
            return NAN
        if t % block == block - 1 and t < last:
            memcpy(lat.checkpoint + (t // block) * width, row_of(lat, t) - lat.pad,
                   width * sizeof(double))
    s = end_state(lat)
    score = row_of(lat, frames - 1)[s]
    if lat.ext:
        score += skips_before(lat, s, False)
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
            path[t] = lat.label[s]
            if t > 0:
                s -= (lat.back32[(t - first) * states + s] if lat.ext
                      else lat.back[(t - first) * states + s])
    return score


cdef Py_ssize_t block_frames(Py_ssize_t frames, Py_ssize_t states, Py_ssize_t back_bytes,
                             int64_t plain_bytes, Py_ssize_t block) noexcept nogil:
    """Frames per block: all of them if their back-pointers (back_bytes each) fit in plain_bytes,
    else block, or sqrt(8 frames / back_bytes) when block is 0 (which minimises back_bytes
    block + 8 frames / block, see B.)."""
    if frames <= plain_bytes // (states * back_bytes):  # frames x states could overflow
        return frames
    if block <= 0:
        block = <Py_ssize_t> sqrt(8.0 * frames / back_bytes)
    return max(1, min(block, frames))


cdef double workspace_bytes(Lattice* lat, Py_ssize_t block) noexcept nogil:
    """Bytes of a Lattice's workspace (each part a multiple of 8 bytes, so all stay aligned),
    in double: a size beyond any allocation must not wrap around into a small one."""
    cdef double states = lat.states, width = lat.width
    cdef double blocks = (lat.frames + block - 1) // block
    cdef double back_bytes = 4 if lat.ext else 1
    return ((2 * states + 3 * width + (blocks - 1) * width + (4 * width if lat.ext else 0)) * 8
            + ((<double> block + 1) * states * back_bytes + 7) // 8 * 8)


cdef bint attach(Lattice* lat, Workspace* ws, Py_ssize_t block) noexcept nogil:
    """Point the lattice's arrays into ws (grown if needed); False if malloc failed."""
    cdef Py_ssize_t width = lat.width, blocks = (lat.frames + block - 1) // block
    cdef double need = workspace_bytes(lat, block)
    cdef double* after
    if need > <double> PY_SSIZE_T_MAX or not workspace_reserve(ws, <size_t> need):
        return False
    lat.label = <int64_t*> ws.data
    lat.skip = <double*> (lat.label + lat.states)
    lat.rows = lat.skip + lat.states
    lat.emit = lat.rows + 2 * width + lat.pad
    lat.checkpoint = lat.emit - lat.pad + width
    after = lat.checkpoint + (blocks - 1) * width
    if lat.ext:
        lat.arcs = after
        lat.back32 = <int32_t*> (lat.arcs + 4 * width) + lat.states
    else:
        lat.back = <int8_t*> after + lat.states
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
    lat.ext = star == star or skip_cost > -INFINITY
    lat.unit = 3 if star == star else 2
    if frames > 0 and (lat.ext or S <= frames) and (
            skip_cost > -INFINITY or frames >= S + repeats(target, S)):
        lat.n = n
        lat.frames = frames
        lat.S = S
        lat.target = target
        lat.star = star
        lat.skip_cost = skip_cost
        lat.states = lat.unit * S + lat.unit - 1
        lat.pad = EXT_PAD if lat.ext else PAD
        lat.width = lat.states + 2 * lat.pad
        block = block_frames(frames, lat.states, 4 if lat.ext else 1, plain_bytes, block)
        if lat.states > INT32_MAX or not attach(&lat, ws, block):
            failed[0] = workspace_bytes(&lat, block)
            score = NAN
        elif lat.ext:
            ext_setup(&lat, blank)
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
        if path[t] == WILDCARD:
            frame_score[t] = star + frame_logsumexp(log_probs, t, n)
        else:
            frame_score[t] = log_probs[t, n, path[t]]
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
