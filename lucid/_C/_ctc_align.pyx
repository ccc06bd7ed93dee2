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
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, sqrt
from libc.stdint cimport int8_t, int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy

from lucid._C._lattice cimport (PAD, Workspace, band_hi, band_lo, can_skip, ext_label,
                                fill_pads, has_dp, repeats, workspace_reserve)
from lucid._C._rows cimport FOR_READ, floating, prefetch

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no allocation can be larger


cdef struct Lattice:
    # One sample's lattice and its arrays (pointers into the thread's Workspace).
    Py_ssize_t n, frames, states, width  # width = states + 2 PAD
    int64_t* label      # states: l'_s
    double* skip        # states: 0.0 where [skip s] holds, -inf elsewhere (added, so no branch)
    double* rows        # 2 x width: delta of frames t and t - 1, by the parity of t
    double* emit        # width: y_t(l'_s) of one frame's band
    int8_t* back        # block x states: back-pointers of the frames of one block; row -1 takes
                        # those of frames that need none kept
    double* checkpoint  # (blocks - 1) x width: delta at the last frame of each block but the last


cdef inline double* row_of(Lattice* lat, Py_ssize_t t) noexcept nogil:
    """delta_t: the row of frame t's parity, pointing at state 0."""
    return lat.rows + (t % 2) * lat.width + PAD


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


cdef double viterbi_one(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Lattice* lat,                       # lattice set up, workspace attached
    Py_ssize_t block,                   # frames per block (>= frames: plain Viterbi)
    int64_t* path,                      # OUT frames: the class of each frame
) noexcept nogil:
    """Best-path log-probability of one sample (NaN, -inf: see C.); writes its path if finite."""
    cdef Py_ssize_t frames = lat.frames, states = lat.states, width = lat.width
    cdef Py_ssize_t blocks = (frames + block - 1) // block, last = (blocks - 1) * block
    cdef Py_ssize_t t, s, k, first, stop
    cdef double score
    cdef double* end_row

    # Forward: every frame once, checkpoints at block ends, back-pointers of the last block.
    if not first_frame(log_probs, lat):
        return NAN
    for t in range(frames):
        if t > 0 and not next_frame(log_probs, lat, t, lat.back + max(t - last, -1) * states):
            return NAN
        if t % block == block - 1 and t < last:
            memcpy(lat.checkpoint + (t // block) * width, row_of(lat, t) - PAD,
                   width * sizeof(double))
    end_row = row_of(lat, frames - 1)
    s = states - 2  # eq. (8): the last label or the final blank (a tie: the label)
    if states == 1 or end_row[states - 1] > end_row[states - 2]:
        s = states - 1
    score = end_row[s]
    if score == -INFINITY:
        return score

    # Backtrack, block by block from the last; every block but the last is recomputed first.
    for k in range(blocks - 1, -1, -1):
        first = k * block
        stop = min(frames, first + block)
        if k < blocks - 1:
            if k == 0:
                first_frame(log_probs, lat)
            else:
                memcpy(row_of(lat, first - 1) - PAD, lat.checkpoint + (k - 1) * width,
                       width * sizeof(double))
            for t in range(max(first, 1), stop):
                next_frame(log_probs, lat, t, lat.back + (t - first) * states)
        for t in range(stop - 1, first - 1, -1):
            path[t] = lat.label[s]
            if t > 0:
                s -= lat.back[(t - first) * states + s]
    return score


cdef Py_ssize_t block_frames(Py_ssize_t frames, Py_ssize_t states, int64_t plain_bytes,
                             Py_ssize_t block) noexcept nogil:
    """Frames per block: all of them if their back-pointers fit in plain_bytes, else block, or
    sqrt(8 frames) when block is 0 (which minimises block + 8 frames / block, see B.)."""
    if frames <= plain_bytes // states:  # frames x states could overflow
        return frames
    if block <= 0:
        block = <Py_ssize_t> sqrt(8.0 * frames)
    return max(1, min(block, frames))


cdef double workspace_bytes(Py_ssize_t frames, Py_ssize_t states,
                           Py_ssize_t block) noexcept nogil:
    """Bytes of a Lattice's workspace (each part a multiple of 8 bytes, so all stay aligned),
    in double: a size beyond any allocation must not wrap around into a small one."""
    cdef double width = states + 2 * PAD, blocks = (frames + block - 1) // block
    return ((states + 3 * width + (blocks - 1) * width + states) * 8
            + ((<double> block + 1) * states + 7) // 8 * 8)


cdef bint attach(Lattice* lat, Workspace* ws, Py_ssize_t block) noexcept nogil:
    """Point the lattice's arrays into ws (grown if needed); False if malloc failed."""
    cdef Py_ssize_t width = lat.width, blocks = (lat.frames + block - 1) // block
    cdef double need = workspace_bytes(lat.frames, lat.states, block)
    if need > <double> PY_SSIZE_T_MAX or not workspace_reserve(ws, <size_t> need):
        return False
    lat.label = <int64_t*> ws.data
    lat.skip = <double*> (lat.label + lat.states)
    lat.rows = lat.skip + lat.states
    lat.emit = lat.rows + 2 * width + PAD
    lat.checkpoint = lat.emit - PAD + width
    lat.back = <int8_t*> (lat.checkpoint + (blocks - 1) * width) + lat.states
    return True


cdef double align_one(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t frames,
    const int64_t* target, Py_ssize_t S, int64_t blank,
    int64_t plain_bytes, Py_ssize_t block, Workspace* ws,
    int64_t* path,                      # OUT row of T: the path, then blank
    floating* frame_score,              # OUT row of T: y_t of the path, then 0; or all NaN/-inf
    double* failed,                     # OUT the bytes asked for, if malloc failed
) noexcept nogil:
    """Align sample n and write its output rows (see ctc_viterbi); return its score."""
    cdef Py_ssize_t T = log_probs.shape[0], t, s
    cdef Lattice lat
    cdef double score = 0.0 if S == 0 else -INFINITY  # no frames: the empty path or nothing
    if has_dp(frames, S) and frames >= S + repeats(target, S):
        lat.n = n
        lat.frames = frames
        lat.states = 2 * S + 1
        lat.width = lat.states + 2 * PAD
        block = block_frames(frames, lat.states, plain_bytes, block)
        if not attach(&lat, ws, block):
            failed[0] = workspace_bytes(frames, lat.states, block)
            score = NAN
        else:
            for s in range(lat.states):
                lat.label[s] = ext_label(target, s, blank)
                lat.skip[s] = 0.0 if can_skip(target, s) else -INFINITY
            score = viterbi_one(log_probs, &lat, block, path)
    if not (score > -INFINITY):  # -inf or NaN: the whole row says so, and there is no path
        frames = 0
    for t in range(frames):
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
    int64_t[:, ::1] path,               # OUT (N, T) each frame's class; blank past the length
    floating[:, ::1] frame_score,       # OUT (N, T) log_probs along the path; 0 past the length
    double[::1] score,                  # OUT (N,) best-path log-probability, -inf or NaN
    int64_t plain_bytes,                # a sample whose frames x states exceed this is blocked
    Py_ssize_t block,                   # frames per block when blocked; 0: about sqrt(8 frames)
    int n_threads,
):
    """Viterbi alignment of a validated batch (see lucid/nn/functional/decode.py).

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
                                 target_lengths[n], blank, plain_bytes, block, &ws,
                                 &path[n, 0], &frame_score[n, 0], &failed)
        free(ws.data)
    if failed:
        raise MemoryError(f"ctc_viterbi: could not allocate an alignment workspace of "
                          f"{failed / 2**20:.1f} MiB")
