"""Compiled kernels (Cython). See _ctc.pyx for the CTC dynamic programme."""

from lucid._C._openmp import max_threads, openmp_enabled, threads_in_region

__all__ = ["openmp_enabled", "max_threads", "threads_in_region"]
