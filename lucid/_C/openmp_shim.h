/* Lets the kernels build with or without OpenMP: without it, the few omp_* calls we use
 * become serial stand-ins and LUCID_HAVE_OPENMP is 0, which lucid._C.openmp_enabled() reports. */
#ifndef LUCID_OPENMP_SHIM_H
#define LUCID_OPENMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
#define LUCID_HAVE_OPENMP 1
#else
#define LUCID_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif
#endif
