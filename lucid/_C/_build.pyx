"""What the kernels were built with and what this machine can run: the build's configuration,
OpenMP, and the CPU-feature checks that choose between the baseline kernels and their twins.

Compiled once, for the baseline, so that it loads on every CPU of the architecture.
"""

import json

import numpy as np

from cython.parallel cimport prange

from lucid._C._openmp cimport LUCID_HAVE_OPENMP, omp_get_max_threads, omp_get_thread_num

cdef extern from "lucid_build_config.h":
    const char* LUCID_BUILD_CONFIG  # JSON, written by setup.py

cdef extern from *:
    """
    #if LUCID_TWIN_X86_64_V3 && defined(__x86_64__)
    static int lucid_cpu_has_x86_64_v3(void) { return __builtin_cpu_supports("x86-64-v3"); }
    #else
    static int lucid_cpu_has_x86_64_v3(void) { return 0; }
    #endif
    #if LUCID_TWIN_X86_64_V4 && defined(__x86_64__)
    static int lucid_cpu_has_x86_64_v4(void) { return __builtin_cpu_supports("x86-64-v4"); }
    #else
    static int lucid_cpu_has_x86_64_v4(void) { return 0; }
    #endif
    """
    int lucid_cpu_has_x86_64_v3() nogil
    int lucid_cpu_has_x86_64_v4() nogil


def config():
    """The build's configuration as setup.py recorded it (a new dict on every call)."""
    return json.loads(LUCID_BUILD_CONFIG.decode())


def cpu_supports(str target):
    """Whether this CPU (and OS) runs code compiled for target, "x86-64-v3" or "x86-64-v4".
    False also where this build has no twins for target (another architecture, say)."""
    if target == "x86-64-v3":
        return bool(lucid_cpu_has_x86_64_v3())
    if target == "x86-64-v4":
        return bool(lucid_cpu_has_x86_64_v4())
    raise ValueError(f"cpu_supports: unknown target {target!r}, expected 'x86-64-v3' or "
                     f"'x86-64-v4'")


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
