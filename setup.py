"""Build script: declares the Cython extensions under lucid/_C and decides on OpenMP.

Metadata lives in pyproject.toml. OpenMP is confirmed by compiling and linking a tiny
program; if that fails the extensions are built serially and the build says so
(``lucid._C.openmp_enabled()`` then reports False at run time).
"""

import os
import sys
import tempfile
from setuptools.errors import CompileError, LinkError

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1; }
"""

EXTENSIONS = ["_openmp", "_ctc", "_ctc_align", "_softmax"]


def openmp_flags(compiler):
    """Return (compile_args, link_args) that enable OpenMP, or None if it does not work."""
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=lflags)
                return cflags, lflags
            except (CompileError, LinkError):
                continue
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        flags = None if os.environ.get("LUCID_NO_OPENMP") else openmp_flags(self.compiler)
        if flags is None:
            print("lucid-ctc: OpenMP not available, building the kernels serially", file=sys.stderr)
            cflags, lflags = [], []
        else:
            print("lucid-ctc: building with OpenMP", file=sys.stderr)
            cflags, lflags = flags
        opt = ["/O2"] if self.compiler.compiler_type == "msvc" else ["-O3"]
        for ext in self.extensions:
            ext.extra_compile_args += opt + cflags
            ext.extra_link_args += lflags
        super().build_extensions()


extensions = [
    Extension(
        f"lucid._C.{name}",
        [f"lucid/_C/{name}.pyx"],
        include_dirs=[np.get_include(), "lucid/_C"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in EXTENSIONS
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
