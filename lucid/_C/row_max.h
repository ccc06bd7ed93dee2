/* The largest entry of a row, as a vector loop.
 *
 * A running maximum is a chain of dependent comparisons, and compilers will not reorder a
 * floating-point max (which entry wins when NaNs or signed zeros meet depends on the order),
 * so without help the loop stays scalar. `omp simd reduction(max)` allows the reordering;
 * the log-softmax needs none of those guarantees: any NaN in a row makes the whole output
 * row NaN whichever maximum is found, and -0 and +0 shift the row alike. Without OpenMP the
 * pragma is ignored and the loop runs serially, with the same results. */
#ifndef LUCID_ROW_MAX_H
#define LUCID_ROW_MAX_H
#include <math.h>

static inline float lucid_row_max_f(const float* v, long n) {
    float m = -INFINITY;
    #pragma omp simd reduction(max:m)
    for (long i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static inline double lucid_row_max_d(const double* v, long n) {
    double m = -INFINITY;
    #pragma omp simd reduction(max:m)
    for (long i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}
#endif
