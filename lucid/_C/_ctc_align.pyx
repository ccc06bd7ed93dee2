"""CTC forced alignment: the single most likely path through the CTC lattice (Viterbi).

Design note
-----------
A. Algorithm. Graves et al. (2006), section 4.1, with the sums of eqs. 6-7 replaced by maxima.
   The paper is 1-based; here everything is 0-based. Over the extended target
   l' = (blank, l_1, blank, l_2, ..., l_S, blank), of length L = 2S + 1 (even s are blanks),
   with y^t_k the log-probability of class k at frame t:

       delta_0(0) = y^0_blank,   delta_0(1) = y^0_{l_1},   delta_0(s > 1) = -inf      (eq. 5)
       delta_t(s) = y^t_{l'_s} + max(delta_{t-1}(s), delta_{t-1}(s-1),
                                     delta_{t-1}(s-2) if l'_s != blank and l'_s != l'_{s-2})
                                                                                    (eqs. 6-7)
       score      = max(delta_{T-1}(L-1), delta_{T-1}(L-2))                         (eq. 8)

   Each max records how many states back its winner lies (0, 1 or 2); backtracking from the
   better end point yields l'_s at every frame: the frame-level alignment. Ties go to the
   smaller step, i.e. a path stays on a state rather than advancing, as torchaudio's
   forced_align does; at the end a tie goes to the final blank.
B. Memory. Per sample, two rows of delta (double, length L) and a T x L byte matrix of
   backpointers; each thread mallocs one workspace sized for the largest sample inside the
   parallel region and frees it there. log_probs are read through their strides (no copy);
   the labels of all samples arrive concatenated with per-sample offsets. Indices are 64-bit.
C. Numerics. Only sums and maxima of log-probabilities: no exp, hence nothing to over- or
   underflow and no rescaling. Accumulated in double whatever the input dtype. -inf marks an
   impossible emission and propagates; a best score of -inf means no valid path (the target
   does not fit, or every path crosses an impossible emission), and the path is left unwritten.
D. Threading. Samples are independent, so the batch is split over OpenMP threads (dynamic
   schedule: lengths vary), each writing only its own samples' outputs; results do not depend
   on the thread count. Within a sample the recursion is sequential in t.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int8_t, int64_t
from libc.stdlib cimport free, malloc

from lucid._C._rows cimport floating


cdef inline int64_t ext_label(const int64_t* target, int64_t s, int64_t blank) noexcept nogil:
    """l'_s, 0-based: the blank at even s, label (s - 1) / 2 of the target at odd s."""
    return blank if s % 2 == 0 else target[s // 2]


cdef double viterbi_one(
    const floating[:, :, :] log_probs,  # IN (T, N, C)
    int64_t n,                          # the sample
    int64_t T,                          # its input length
    const int64_t* target,              # IN its S labels
    int64_t S,
    int64_t blank,
    double* prev,                       # WORK length >= L
    double* cur,                        # WORK length >= L
    int8_t* back,                       # WORK length >= T * L
    int64_t* path,                      # OUT length >= T
) noexcept nogil:
    """Best-path log-probability of one sample; writes its path unless that is -inf."""
    cdef int64_t L = 2 * S + 1
    cdef int64_t t, s, label, end
    cdef int8_t step
    cdef double best
    cdef double* swap
    if T == 0:
        return 0.0 if S == 0 else -INFINITY
    if S > T:  # cannot fit; the workspace is not even sized for it
        return -INFINITY

    for s in range(L):  # eq. 5
        prev[s] = -INFINITY
    prev[0] = log_probs[0, n, blank]
    if L > 1:
        prev[1] = log_probs[0, n, target[0]]

    for t in range(1, T):  # eqs. 6-7, max for sum
        for s in range(L):
            label = ext_label(target, s, blank)
            best = prev[s]
            step = 0
            if s >= 1 and prev[s - 1] > best:
                best = prev[s - 1]
                step = 1
            if (s >= 2 and label != blank and label != ext_label(target, s - 2, blank)
                    and prev[s - 2] > best):
                best = prev[s - 2]
                step = 2
            cur[s] = best + log_probs[t, n, label]
            back[t * L + s] = step
        swap = prev
        prev = cur
        cur = swap

    end = L - 1  # eq. 8: finish on the final blank or on the last label
    if L > 1 and prev[L - 2] > prev[L - 1]:
        end = L - 2
    best = prev[end]
    if best == -INFINITY:
        return best
    s = end
    for t in range(T - 1, 0, -1):
        path[t] = ext_label(target, s, blank)
        s -= back[t * L + s]
    path[0] = ext_label(target, s, blank)
    return best


def ctc_viterbi(
    const floating[:, :, :] log_probs,  # IN (T, N, C), any strides
    const int64_t[::1] labels,          # IN every sample's labels, concatenated
    const int64_t[::1] offsets,         # IN (N,) where sample n's labels start in labels
    const int64_t[::1] input_lengths,   # IN (N,) each in [0, T]
    const int64_t[::1] target_lengths,  # IN (N,)
    int64_t blank,
    double[::1] score,                  # OUT (N,) best-path log-probability, -inf if none
    int64_t[:, ::1] path,               # OUT (N, T) frame labels; [n, :input_lengths[n]] written
    int n_threads,
):
    """Viterbi alignment of a validated batch (see lucid/nn/functional/decode.py)."""
    cdef int64_t N = log_probs.shape[1]
    cdef int64_t n, max_T = 1, max_L = 1
    cdef Py_ssize_t failed = 0
    cdef double* rows = NULL  # set per thread below; NULL so the firstprivate copy is defined
    cdef int8_t* back = NULL
    cdef const int64_t* all_labels = &labels[0] if labels.shape[0] > 0 else NULL
    for n in range(N):
        max_T = max(max_T, input_lengths[n])
        if target_lengths[n] <= input_lengths[n]:  # longer targets are -inf without a DP
            max_L = max(max_L, 2 * target_lengths[n] + 1)

    with nogil, parallel(num_threads=n_threads):
        rows = <double*> malloc(2 * max_L * sizeof(double))
        back = <int8_t*> malloc(max_T * max_L * sizeof(int8_t))
        for n in prange(N, schedule="dynamic"):
            if rows == NULL or back == NULL:
                failed += 1
            else:
                score[n] = viterbi_one(log_probs, n, input_lengths[n], all_labels + offsets[n],
                                       target_lengths[n], blank, rows, rows + max_L, back,
                                       &path[n, 0])
        free(rows)
        free(back)
    if failed:
        raise MemoryError(f"ctc_viterbi: could not allocate a workspace of {max_T} x {max_L}")
