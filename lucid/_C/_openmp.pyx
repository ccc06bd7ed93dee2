"""What the compiled kernels know about OpenMP, so a silently serial build can be caught."""

import numpy as np

from cython.parallel cimport prange

from lucid._C._openmp cimport LUCID_HAVE_OPENMP, omp_get_max_threads, omp_get_thread_num


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(LUCID_HAVE_OPENMP)


def max_threads():
    """Threads an OpenMP region would use by default (honours OMP_NUM_THREADS); 1 without OpenMP."""
    return omp_get_max_threads()


def threads_in_region(int n_threads):
    """Run a parallel loop asking for n_threads and return how many distinct threads did work."""
    seen_arr = np.zeros(max(n_threads, 1), dtype=np.intc)
    cdef int[::1] seen = seen_arr
    cdef int i
    for i in prange(n_threads, nogil=True, num_threads=n_threads, schedule="static", chunksize=1):
        seen[omp_get_thread_num()] = 1
    return int(seen_arr.sum())
