# The CTC lattice of one sample, shared by the loss kernel (_ctc.pyx) and the alignment kernel
# (_ctc_align.pyx), so that both walk exactly the same states and read exactly the same
# emissions (which is what makes their NaN and infeasibility rules the same).
#
# Names, in every CTC kernel and its design note:
#   T, N, C    the batch's (time, batch, class) axes: log_probs is (T, N, C)
#   frames     one sample's input length (<= T), frames t = 0 .. frames - 1
#   S          its number of labels l_1 .. l_S
#   states     2 S + 1, the states of its extended target
#              l' = (blank, l_1, blank, l_2, ..., l_S, blank), blanks at even s
#   width      states + 2 PAD: a row over the states, stored with PAD cells on each side (state
#              0 at offset PAD), so that the recursions read s - 2 .. s + 2 without branches
#   the band   the states of frame t that lie on a complete path, [band_lo, band_hi)
#
# Also here: the one type of scratch memory the kernels' threads work in (Workspace).
# Inline, so every kernel compiles its own copy and no call crosses a module boundary.

from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cdef enum:
    PAD = 2  # cells on each side of a row


cdef inline int64_t ext_label(const int64_t* target, Py_ssize_t s, int64_t blank) noexcept nogil:
    """l'_s, 0-based: the blank at even s, label (s - 1) / 2 of the target at odd s."""
    return blank if s % 2 == 0 else target[s // 2]


cdef inline bint can_skip(const int64_t* target, Py_ssize_t s) noexcept nogil:
    """Whether a path may enter state s from s - 2 (eq. 7's third term): l'_s is a label
    different from l'_{s-2}, the previous label (a repeat needs the blank between)."""
    return s % 2 == 1 and s >= 3 and target[s // 2] != target[s // 2 - 1]


cdef inline Py_ssize_t repeats(const int64_t* target, Py_ssize_t S) noexcept nogil:
    """Neighbouring equal labels: each needs a blank frame between its two copies."""
    cdef Py_ssize_t i, r = 0
    for i in range(1, S):
        r += target[i] == target[i - 1]
    return r


cdef inline bint has_dp(Py_ssize_t frames, Py_ssize_t S) noexcept nogil:
    """Whether the sample needs a dynamic programme (and a workspace) at all: without frames
    the answer is immediate, and a target with more labels than frames cannot fit. (Repeats
    are counted per sample once its labels are read; see repeats.)"""
    return frames > 0 and S <= frames


cdef inline Py_ssize_t band_lo(Py_ssize_t t, Py_ssize_t frames, Py_ssize_t states) noexcept nogil:
    """First state of frame t from which the last frame can still end in states - 1 or - 2."""
    return max(0, states - 2 * (frames - t))


cdef inline Py_ssize_t band_hi(Py_ssize_t t, Py_ssize_t states) noexcept nogil:
    """One past the last state that frame t can reach from frame 0."""
    return min(states, 2 * (t + 1))


cdef inline void fill_pads(double* row, Py_ssize_t lo, Py_ssize_t hi, double value) noexcept nogil:
    """Set the two cells on each side of row[lo:hi] (row points at state 0, PAD cells in), which
    the recursions read."""
    row[lo - 2] = value
    row[lo - 1] = value
    row[hi] = value
    row[hi + 1] = value


# A thread's scratch memory: each thread of a kernel's parallel region starts with an empty
# one, reserves what its samples need (the loss kernel once, for the largest sample of the
# batch; the alignment kernel sample by sample, growing to the largest it is given), carves
# its arrays out of it, and frees it before the region ends.
cdef struct Workspace:
    char* data
    size_t size


cdef inline bint workspace_reserve(Workspace* ws, size_t size) noexcept nogil:
    """Make ws hold at least size bytes (contents not kept); False if malloc failed."""
    if size <= ws.size:
        return True
    free(ws.data)
    ws.data = <char*> malloc(size)
    ws.size = size if ws.data != NULL else 0
    return ws.data != NULL
