# Declarations shared by the kernels: the fused float type, small inline row helpers
# (inline, so every kernel compiles its own copy and no call crosses a module boundary), the
# thread-count rule for elementwise passes and the one prefetch helper.

from libc.math cimport INFINITY

ctypedef fused floating:
    float
    double


cdef inline double sum4(const floating* v, Py_ssize_t n) noexcept nogil:
    """sum(v[:n]) in double, in four interleaved partial sums: the additions pipeline, and the
    order is fixed, so results do not depend on the thread that computes them."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        s0 += v[i]
        s1 += v[i + 1]
        s2 += v[i + 2]
        s3 += v[i + 3]
        i += 4
    while i < n:
        s0 += v[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double max4(const floating* v, Py_ssize_t n) noexcept nogil:
    """max(v[:n]) with NaNs skipped (-inf if none is larger), in four lanes so the comparisons
    pipeline. Callers that must propagate NaN get it from the exps that follow."""
    cdef double m0 = -INFINITY, m1 = -INFINITY, m2 = -INFINITY, m3 = -INFINITY
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        m0 = v[i] if v[i] > m0 else m0
        m1 = v[i + 1] if v[i + 1] > m1 else m1
        m2 = v[i + 2] if v[i + 2] > m2 else m2
        m3 = v[i + 3] if v[i + 3] > m3 else m3
        i += 4
    while i < n:
        m0 = v[i] if v[i] > m0 else m0
        i += 1
    m0 = m0 if m0 > m1 else m1
    m2 = m2 if m2 > m3 else m3
    return m0 if m0 > m2 else m2


cdef enum:
    GRAIN = 32768  # entries per thread below which waking another thread costs more than it saves


cdef inline int threads_for(Py_ssize_t entries, int n_threads) noexcept nogil:
    """How many of n_threads an elementwise pass over `entries` entries should use (at least 1):
    one per GRAIN entries, so that small calls stay on the calling thread."""
    cdef Py_ssize_t useful = entries // GRAIN
    if useful < 1:
        return 1
    return <int> useful if useful < n_threads else n_threads


cdef extern from "prefetch.h" nogil:
    void prefetch "LUCID_PREFETCH" (const void* p, int write)

cdef enum:
    FOR_READ = 0   # prefetch's second argument
    FOR_WRITE = 1


cdef inline void prefetch_lines(const void* p, Py_ssize_t nbytes) noexcept nogil:
    """prefetch(p + i, FOR_READ) every cache line (64 bytes) of nbytes from p."""
    cdef Py_ssize_t i
    for i in range(0, nbytes, 64):
        prefetch(<const char*> p + i, FOR_READ)
