# OpenMP entry points through a shim header, so the extensions also build without OpenMP
# (declarations only: cimporting this needs no module at run time).
cdef extern from "openmp_shim.h" nogil:
    int LUCID_HAVE_OPENMP
    int omp_get_max_threads()
    int omp_get_thread_num()
    int omp_get_num_threads()
