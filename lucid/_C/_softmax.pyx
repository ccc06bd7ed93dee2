"""Row-wise kernels: placeholder."""
