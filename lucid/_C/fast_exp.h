/* exp(x) for x <= 0, written so that compilers vectorise loops that call it.
 *
 * libm's exp is a scalar call with branches; the kernels take millions of exps of
 * non-positive numbers (log-probabilities minus their maximum), so this one is branch-free:
 * x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^13 (truncation error
 * below 2e-16 relative), and 2^k put straight into the exponent bits. Measured against
 * glibc's exp on 12M random arguments in [-720, 0]: at most 2.3e-16 relative error
 * (tests/nn/test_fast_exp.py checks it again through the kernels).
 *
 * Contract: x <= 0 or NaN. x < -708 (where exp underflows to subnormals) gives 0, -inf
 * gives 0, NaN gives NaN. Loops using it need -fno-trapping-math to be vectorised. */
#ifndef LUCID_FAST_EXP_H
#define LUCID_FAST_EXP_H
#include <stdint.h>
#include <string.h>

static inline double lucid_exp_nonpos(double x) {
    const double round_magic = 6755399441055744.0;    /* 1.5 * 2^52: x + it rounds x */
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01; /* ln2 split so k * ln2_hi is exact */
    const double ln2_lo = 1.90821492927058770002e-10;
    double kd = x * log2e + round_magic;              /* low bits of kd now hold k */
    double k = kd - round_magic;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;                    /* Horner, 1/13! down to 1/0! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits + 1023) << 52;                       /* 2^k: k + bias into the exponent */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double y = p * scale;
    return x < -708.0 ? 0.0 : y;
}

/* The same for float32 (x <= 0 or NaN): Taylor series to r^7, at most 7.9e-8 relative error
 * (below one float ulp) against double exp on 12M arguments in [-87, 0]; x < -87 gives 0. */
static inline float lucid_expf_nonpos(float x) {
    const float round_magic = 12582912.0f;            /* 1.5 * 2^23 */
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693145751953125f;          /* 12 significant bits: k * ln2_hi exact */
    const float ln2_lo = 1.428606765330187e-06f;
    float kd = x * log2e + round_magic;
    float k = kd - round_magic;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < -87.0f ? 0.0f : y;
}
#endif
