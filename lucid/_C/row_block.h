/* Short rows taken BLOCK at a time, transposed: xt[c * BLOCK + r] = x[r * C + c].
 *
 * With one row per vector lane, every step of a row kernel becomes a vector operation across
 * the rows, however short they are (no loop tails), and a serial chain (a sum in a fixed
 * order) is paid once per block instead of once per row. These two loops are here rather
 * than in Cython because compilers vectorise them only in this shape: the transpose with
 * restrict pointers, the max across rows with `omp simd` (a conditional select, which
 * without it stays a chain of scalar maxss). Lanes past the last row are zeros. */
#ifndef LUCID_ROW_BLOCK_H
#define LUCID_ROW_BLOCK_H
#include <math.h>

#define LUCID_BLOCK 16

static inline void lucid_block_in_f(const float* restrict x, long rows, long C,
                                    float* restrict xt) {
    if (rows == LUCID_BLOCK) {  /* a constant count: vectorised with permutes */
        for (long c = 0; c < C; c++)
            for (long r = 0; r < LUCID_BLOCK; r++)
                xt[c * LUCID_BLOCK + r] = x[r * C + c];
        return;
    }
    for (long c = 0; c < C; c++)
        for (long r = 0; r < LUCID_BLOCK; r++)
            xt[c * LUCID_BLOCK + r] = r < rows ? x[r * C + c] : 0.0f;
}

static inline void lucid_block_in_d(const double* restrict x, long rows, long C,
                                    double* restrict xt) {
    if (rows == LUCID_BLOCK) {  /* a constant count: vectorised with permutes */
        for (long c = 0; c < C; c++)
            for (long r = 0; r < LUCID_BLOCK; r++)
                xt[c * LUCID_BLOCK + r] = x[r * C + c];
        return;
    }
    for (long c = 0; c < C; c++)
        for (long r = 0; r < LUCID_BLOCK; r++)
            xt[c * LUCID_BLOCK + r] = r < rows ? x[r * C + c] : 0.0;
}

/* The max of each row (lane), with row_max.h's choice: a NaN never wins. */
static inline void lucid_block_max_f(const float* restrict xt, long C, float* restrict m) {
    for (long r = 0; r < LUCID_BLOCK; r++)
        m[r] = -INFINITY;
    for (long c = 0; c < C; c++) {
        #pragma omp simd
        for (long r = 0; r < LUCID_BLOCK; r++)
            m[r] = xt[c * LUCID_BLOCK + r] > m[r] ? xt[c * LUCID_BLOCK + r] : m[r];
    }
}

static inline void lucid_block_max_d(const double* restrict xt, long C, double* restrict m) {
    for (long r = 0; r < LUCID_BLOCK; r++)
        m[r] = -INFINITY;
    for (long c = 0; c < C; c++) {
        #pragma omp simd
        for (long r = 0; r < LUCID_BLOCK; r++)
            m[r] = xt[c * LUCID_BLOCK + r] > m[r] ? xt[c * LUCID_BLOCK + r] : m[r];
    }
}
#endif
