# Declarations shared by the kernels: the fused float type and small inline row helpers
# (inline, so every kernel compiles its own copy and no call crosses a module boundary).

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
