"""CTC loss and its exact gradient (Graves et al., 2006): the driver.

The loss kernel is three files, read in this order: _ctc_log.pxd (the algorithm, eqs. (6)-(11),
and its exact DP in log space), _ctc_fast.pxd (the same DP in probability space, and why its
accepted answers are right), and this one, which runs them over a batch. Names (T, N, C,
frames, S, states, width, the band) are those of _lattice.pxd.

Design note
-----------
A. What is written. The loss is -ln p per sample; the gradient, with respect to log_probs taken
   as free variables, is -sum_{l'_s = k} gamma_t(s) (A. of _ctc_log.pxd). Two options shape what
   is written (the reduction's weight and the softmax are folded in here, so that no further
   pass over a (T, N, C) array is needed): every gradient row is multiplied by ``weight`` (1/N
   for a batch mean), and with ``through_log_softmax`` the kernel writes the gradient with
   respect to the logits z of log_probs = log_softmax(z) over the classes instead, weight
   (y_t(k) - sum_{l'_s = k} gamma_t(s)) on frames t < frames (the log-softmax backward
   g - y sum_k g with sum_k gamma_t = 1), weight 0 y_t(k) after them (0, or NaN where log_probs
   is NaN, as that backward gives), and 0 y_t(k) on every frame of a sample with no complete
   path. This is warp-ctc's gradient with respect to activations.
B. Gradient rows. One pass over the whole batch starts every row (zero, or weight y_t; grad may
   be np.empty) in memory order, before any DP runs, and the DPs scatter -weight gamma_t into
   them. Sample by sample, jumping N C entries per frame, that pass ran at half the speed; the
   scatter prefetches the rows it will write instead (_ctc_log.pxd says why).
C. Paths. Each sample tries the fast path (alpha_fast, then the row-scaled beta, then the wide
   beta if check (b) failed), and goes to log space when a guard of _ctc_fast.pxd says its
   answer could be wrong; rows a failed attempt wrote are started again first. Samples without
   a complete path, or without frames, need no DP. The branch each sample took can be
   returned (PATHS), for the tests. With a star_penalty every sample takes the wildcard
   lattice of _ctc_star.pxd, in log space (PATH_STAR), and needs no fast-path attempt.
D. Threading. Samples are independent, so the batch is split over OpenMP threads (dynamic
   schedule: lengths vary); the states of one frame are not, since several s share a class
   and would race on grad. Each thread reserves one Workspace (_lattice.pxd) inside the
   parallel region and frees it there, sized for the largest sample (the largest frames x width
   of one sample, not the longest frames times the widest width of two), since the dynamic
   schedule may give it any sample. Every sample runs the same sequential code whichever
   thread takes it, so results do not depend on the thread count. A small batch stays on the
   calling thread (dp_threads: one thread per DP_GRAIN lattice cells, at most one per sample):
   waking a second thread costs microseconds on a quiet machine, and on a busy one the region
   waits until the scheduler runs that thread, milliseconds for a call whose work takes a few
   microseconds.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, frexp
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from lucid._C._ctc_fast cimport (PATH_EMPTY, PATH_FAST, PATH_GUARD_A, PATH_GUARD_B, PATH_GUARD_C,
                                 PATH_INFEASIBLE, PATH_NAN, PATH_PARTIAL, PATH_WIDE, PerEntry,
                                 RowScaled, alpha_fast, beta_sweep)
from lucid._C._ctc_log cimport (NAN_EMISSION, WIDE_EMISSION, Lattice, fast_log,
                                lucid_exp_nonpos, lucid_expf_nonpos, log_space)
from lucid._C._ctc_star cimport (PATH_STAR, StarLattice, star_bytes, star_log_space,
                                 star_setup)
from lucid._C._lattice cimport (PAD, Workspace, can_skip, ext_label, has_dp, repeats,
                                workspace_reserve)
from lucid._C._rows cimport floating, threads_for

cdef double LN2 = 0.6931471805599453

PATHS = {PATH_FAST: "fast", PATH_GUARD_A: "guard (a)", PATH_GUARD_B: "guard (b)",
         PATH_GUARD_C: "guard (c)", PATH_NAN: "nan",
         PATH_INFEASIBLE: "infeasible", PATH_EMPTY: "empty", PATH_WIDE: "fast, wide beta",
         PATH_STAR: "wildcard"}
PATH_PARTIAL_CODE = PATH_PARTIAL


# ------------------------------------------------------------------ gradient rows (A., B.)
cdef inline floating exp_nonpos(floating x) noexcept nogil:
    # float32 rows take the float exp: twice the vector lanes, exact to the output's ulp
    if floating is float:
        return lucid_expf_nonpos(x)
    else:
        return lucid_exp_nonpos(x)


cdef inline void row_exp(const floating* x, floating* out, Py_ssize_t C, floating w) noexcept nogil:
    """out = w exp(x), x <= 0 (a log-softmax output)."""
    cdef Py_ssize_t c
    for c in range(C):
        out[c] = w * exp_nonpos(x[c])


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
    Py_ssize_t frames,                  # frames that get weight y_t; the rest get 0 y_t
    double weight, bint through_log_softmax,
) noexcept nogil:
    """start_row for every frame of sample n: how a sample whose first attempt failed starts
    again (the first start is start_all_rows, for the whole batch)."""
    cdef Py_ssize_t t
    for t in range(grad.shape[0]):
        start_row(grad, log_probs, t, n, <floating> weight if t < frames else 0,
                  through_log_softmax)


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


# ------------------------------------------------------------------ one sample (C.)
cdef inline size_t lattice_bytes(Py_ssize_t cells, Py_ssize_t frames,
                                 Py_ssize_t width) noexcept nogil:
    """Bytes of a Lattice's arrays for `cells` = frames x width (each part a multiple of 8
    bytes, so all stay aligned)."""
    return (2 * cells + 4 * width) * sizeof(double) + (3 * width + frames) * sizeof(int64_t)


cdef void attach(Lattice* lat, const Workspace* ws) noexcept nogil:
    """Point the lattice's arrays into ws, which holds at least lattice_bytes of them."""
    cdef Py_ssize_t cells = lat.frames * lat.width
    lat.emit = <double*> ws.data
    lat.alpha = lat.emit + cells
    lat.beta = lat.alpha + cells
    lat.skip = lat.beta + 2 * lat.width
    lat.classes = lat.skip + lat.width
    lat.label = <int64_t*> (lat.classes + lat.width)
    lat.alpha_exp = lat.label + lat.width
    lat.beta_exp = lat.alpha_exp + lat.frames


cdef double ctc_one(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    Py_ssize_t n,
    Py_ssize_t frames,                  # input length
    const int64_t* target,              # IN the S labels
    Py_ssize_t S,
    Py_ssize_t blank,
    floating[:, :, ::1] grad,           # IN/OUT rows grad[:, n, :] (started), when want_grad
    bint want_grad,
    double weight,                      # gradient options, see A.
    bint through_log_softmax,
    const Workspace* ws,                # the thread's, sized for any sample (workspace_shape)
    int* path,                          # OUT which branch gave the answer (PATH_*)
    double star,                        # the wildcard's penalty; NaN: no wildcard (C.)
) noexcept nogil:
    """The loss of sample n (and its gradient rows): the paths of C."""
    cdef Lattice lat
    cdef Py_ssize_t states = 2 * S + 1, s
    cdef Py_ssize_t first_lossy
    cdef double log_scale, log_p, mantissa
    cdef double* a
    cdef int64_t exponent
    cdef int status, mantissa_exp
    cdef RowScaled row_scaled
    cdef PerEntry per_entry
    path[0] = PATH_INFEASIBLE
    if frames == 0:  # every frame is beyond the input: the started rows are already right
        if S == 0:
            path[0] = PATH_EMPTY
            return 0.0
        return INFINITY
    if S > frames:  # cannot fit; the workspace is not even sized for it
        return no_path(log_probs, n, grad, want_grad and through_log_softmax)
    if star == star:
        return star_one(log_probs, n, frames, target, S, blank, grad, want_grad, weight,
                        through_log_softmax, ws, path, star)

    lat.n = n
    lat.frames = frames
    lat.states = states
    lat.width = states + 2 * PAD
    attach(&lat, ws)
    for s in range(lat.width):
        lat.skip[s] = 0.0
    for s in range(states):
        lat.label[s] = ext_label(target, s, blank)
        if can_skip(target, s):
            lat.skip[s + PAD] = 1.0
    if frames < S + repeats(target, S):  # a repeated label needs a blank between its copies
        return no_path(log_probs, n, grad, want_grad and through_log_softmax)

    status = alpha_fast(log_probs, lat, &log_scale, &first_lossy)
    if status == 0:
        if first_lossy == frames and not want_grad:  # eq. (8) straight from alpha
            a = lat.alpha + (frames - 1) * lat.width + PAD
            # states - 2: a zero pad if states = 1
            mantissa = frexp(a[states - 1] + a[states - 2], &mantissa_exp)
            exponent = mantissa_exp + lat.alpha_exp[frames - 1]
            path[0] = PATH_FAST
        else:
            path[0] = beta_sweep(&row_scaled, lat, grad, want_grad, weight, &mantissa,
                                 &exponent)
            if path[0] & ~PATH_PARTIAL == PATH_GUARD_B:  # maybe only beta's floor: try again
                if path[0] & PATH_PARTIAL:
                    start_rows(grad, log_probs, n, frames, weight, through_log_softmax)
                path[0] = beta_sweep(&per_entry, lat, grad, want_grad, weight, &mantissa,
                                     &exponent)
                path[0] = PATH_WIDE if path[0] == PATH_FAST else path[0]
        if path[0] == PATH_FAST or path[0] == PATH_WIDE:
            return -(fast_log(mantissa) + exponent * LN2 + log_scale)
        if path[0] & PATH_PARTIAL:  # take back the rows the beta sweeps wrote
            start_rows(grad, log_probs, n, frames, weight, through_log_softmax)
    else:  # alpha_fast gave up: a NaN, guard (a), or guard (c) (FALL_BACK)
        path[0] = (PATH_NAN if status == NAN_EMISSION else
                   PATH_GUARD_A if status == WIDE_EMISSION else PATH_GUARD_C)
    if status != NAN_EMISSION:
        log_p = log_space(log_probs, lat, grad, want_grad, weight)
        return log_space_loss(log_probs, n, frames, grad, want_grad and through_log_softmax,
                              want_grad, log_p, path)
    return log_space_loss(log_probs, n, frames, grad, want_grad and through_log_softmax,
                          want_grad, NAN, path)


cdef double log_space_loss(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t frames,
    floating[:, :, ::1] grad, bint rows_started, bint want_grad,
    double log_p,                       # what a log-space DP gave: ln p, -inf or NaN
    int* path,                          # OUT PATH_NAN if log_p is NaN
) noexcept nogil:
    """The loss from a log-space DP's ln p: -ln p; +inf and zero rows if p = 0 (the DP wrote no
    gradient); NaN, and NaN rows on the sample's frames, if a needed emission was NaN."""
    cdef Py_ssize_t t, c
    if log_p == -INFINITY:
        return no_path(log_probs, n, grad, rows_started)
    if log_p == log_p:
        return -log_p
    path[0] = PATH_NAN
    if want_grad:
        for t in range(frames):
            for c in range(grad.shape[2]):
                grad[t, n, c] = NAN
    return NAN


cdef double star_one(
    const floating[:, :, :] log_probs, Py_ssize_t n, Py_ssize_t frames,
    const int64_t* target, Py_ssize_t S, Py_ssize_t blank,
    floating[:, :, ::1] grad, bint want_grad, double weight, bint through_log_softmax,
    const Workspace* ws, int* path, double star,
) noexcept nogil:
    """ctc_one over the wildcard lattice (_ctc_star.pxd), for a sample with frames >= S >= 0
    and frames > 0."""
    cdef StarLattice lat
    cdef double log_p
    if frames < S + repeats(target, S):  # a wildcard, like a blank, separates a repeat
        return no_path(log_probs, n, grad, want_grad and through_log_softmax)
    star_setup(&lat, n, frames, target, S, blank, star, ws.data)
    path[0] = PATH_STAR
    log_p = star_log_space(log_probs, &lat, grad, want_grad, weight, through_log_softmax)
    return log_space_loss(log_probs, n, frames, grad, want_grad and through_log_softmax,
                          want_grad, log_p, path)


cdef double no_path(
    const floating[:, :, :] log_probs, Py_ssize_t n, floating[:, :, ::1] grad,
    bint rows_started,                  # start_rows put weight y_t on the rows: take it back
) noexcept nogil:
    """The loss of a sample with no complete path, +inf; its gradient rows 0 (times y_t)."""
    if rows_started:
        start_rows(grad, log_probs, n, 0, 0.0, True)
    return INFINITY


cdef size_t workspace_shape(
    const int64_t[::1] input_lengths, const int64_t[::1] target_lengths, bint star,
) noexcept nogil:
    """The bytes a thread's workspace needs to hold any one sample that runs a DP: the
    lattice_bytes of the largest frames x width of one sample (not the longest frames times the
    widest width, which may belong to different samples), with room for the longest frames and
    the widest width; with the wildcard, the largest star_bytes of one sample."""
    cdef Py_ssize_t n, frames, width, cells = 1, max_frames = 1, max_width = 1 + 2 * PAD
    cdef size_t most = sizeof(double)  # never 0: malloc(0) may give NULL
    for n in range(input_lengths.shape[0]):
        frames = input_lengths[n]
        if not has_dp(frames, target_lengths[n]):  # longer targets are inf without a DP
            continue
        if star:
            most = max(most, star_bytes(frames, target_lengths[n]))
            continue
        width = 2 * target_lengths[n] + 1 + 2 * PAD
        cells = max(cells, frames * width)
        max_frames = max(max_frames, frames)
        max_width = max(max_width, width)
    return most if star else lattice_bytes(cells, max_frames, max_width)


# ------------------------------------------------------------------ the batch (D.)
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


def workspace_bytes(const int64_t[::1] input_lengths, const int64_t[::1] target_lengths,
                    bint star=False):
    """Bytes of the workspace each thread allocates for these samples (for the tests)."""
    return workspace_shape(input_lengths, target_lengths, star)


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
    double star_penalty=NAN,            # the wildcard's log-score a frame; NaN: none (C.)
):
    """CTC loss per sample and, unless grad is None, its exact gradient (see the design note).

    The inputs must already be validated (lucid/nn/functional/ctc.py): labels in [0, C) and
    not blank, lengths in range, shapes consistent. grad has log_probs' dtype and may be
    uninitialised (np.empty): every element is written. grad=None (or an empty array) means
    no gradient is wanted, and none is computed. through_log_softmax requires log_probs to
    be a log-softmax over its last axis (every entry <= 0 or NaN). paths, when given, receives
    for each sample the code of the branch that gave its answer (the keys of PATHS, plus
    PATH_PARTIAL). star_penalty, when not NaN, runs every sample over the wildcard lattice
    (_ctc_star.pxd).
    """
    cdef Py_ssize_t N = log_probs.shape[1], n
    cdef Py_ssize_t failed = 0
    cdef size_t ws_bytes
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
    ws_bytes = workspace_shape(input_lengths, target_lengths, star_penalty == star_penalty)
    codes = <int*> malloc(max(N, 1) * sizeof(int))
    if codes == NULL:
        raise MemoryError("ctc_loss_forward: could not allocate the branch codes")

    n_threads = max(n_threads, 1)
    if want_grad:
        with nogil:
            start_all_rows(grad, log_probs, input_lengths, weight, through_log_softmax,
                           n_threads)
    with nogil, parallel(num_threads=dp_threads(input_lengths, target_lengths, n_threads)):
        ws = Workspace(NULL, 0)
        workspace_reserve(&ws, ws_bytes)
        for n in prange(N, schedule="dynamic"):
            if ws.data == NULL:
                failed += 1
            else:
                loss[n] = ctc_one(log_probs, n, input_lengths[n],
                                  all_targets + target_offsets[n], target_lengths[n], blank,
                                  grad, want_grad, weight, through_log_softmax, &ws, &codes[n],
                                  star_penalty)
        free(ws.data)
    if paths is not None and not failed:
        for n in range(N):
            paths[n] = codes[n]
    free(codes)
    if failed:
        raise MemoryError(f"ctc_loss_forward: could not allocate a workspace of "
                          f"{ws_bytes} bytes")
