/* Short rows taken BLOCK at a time, transposed: xt[c * BLOCK + r] = x[r * C + c].
 *
 * With one row per vector lane, every step of a row kernel becomes a vector operation across
 * the rows, however short they are (no loop tails), and a serial chain (a sum in a fixed
 * order) is paid once per block instead of once per row. These two loops are here rather
 * than in Cython because compilers vectorise them only in this shape: the transpose with
 * a constant row count, the max across rows with `omp simd` (a conditional select, which
 * without it stays a chain of scalar maxss: 1.3x slower for 80 classes). One definition
 * serves float (suffix _f) and double (_d). */
#ifndef LUCID_ROW_BLOCK_H
#define LUCID_ROW_BLOCK_H
#include <math.h>

#define LUCID_BLOCK 16

#if defined(_MSC_VER) && !defined(__clang__)
#define LUCID_OMP_SIMD  /* MSVC's OpenMP has no simd; its C mode may lack _Pragma */
#else
#define LUCID_OMP_SIMD _Pragma("omp simd")
#endif

/* lucid_block_in: the first `rows` rows of x into xt; lanes past the last row get zeros.
 * lucid_block_max: the max of each row (lane), with row_max.h's choice: a NaN never wins. */
#define LUCID_BLOCK_FUNCTIONS(T, SUFFIX)                                                      \
static inline void lucid_block_in_##SUFFIX(const T* x, long rows, long C, T* xt) {            \
    if (rows == LUCID_BLOCK) {                                                                \
        for (long c = 0; c < C; c++)                                                          \
            for (long r = 0; r < LUCID_BLOCK; r++)                                            \
                xt[c * LUCID_BLOCK + r] = x[r * C + c];                                       \
        return;                                                                               \
    }                                                                                         \
    for (long c = 0; c < C; c++)                                                              \
        for (long r = 0; r < LUCID_BLOCK; r++)                                                \
            xt[c * LUCID_BLOCK + r] = r < rows ? x[r * C + c] : (T)0;                         \
}                                                                                             \
                                                                                              \
static inline void lucid_block_max_##SUFFIX(const T* xt, long C, T* m) {                      \
    for (long r = 0; r < LUCID_BLOCK; r++)                                                    \
        m[r] = -INFINITY;                                                                     \
    for (long c = 0; c < C; c++) {                                                            \
        LUCID_OMP_SIMD                                                                        \
        for (long r = 0; r < LUCID_BLOCK; r++)                                                \
            m[r] = xt[c * LUCID_BLOCK + r] > m[r] ? xt[c * LUCID_BLOCK + r] : m[r];           \
    }                                                                                         \
}

LUCID_BLOCK_FUNCTIONS(float, f)
LUCID_BLOCK_FUNCTIONS(double, d)
#endif
