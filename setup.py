"""Build script: declares the Cython extensions under lucid/_C and decides on OpenMP.

Metadata lives in pyproject.toml. OpenMP is confirmed by compiling and linking a tiny
program; if that fails the extensions are built serially and the build says so
(``lucid._C.openmp_enabled()`` then reports False at run time).
"""

import os
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

TINY_PROGRAM = "int main(void) { return 0; }\n"

OPENMP_TEST = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1; }
"""

EXTENSIONS = ["_openmp", "_ctc", "_ctc_align", "_softmax", "_ctc_beam", "_rnn"]


def compiles(compiler, source, cflags, lflags):
    """Whether source compiles and links with these flags."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=lflags)
        except (CompileError, LinkError):
            return False
    return True


def openmp_flags(compiler):
    """Return (compile_args, link_args) that enable OpenMP, or None if it does not work."""
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, lflags in candidates:
        if compiles(compiler, OPENMP_TEST, cflags, lflags):
            return cflags, lflags
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
        if self.compiler.compiler_type == "msvc":
            opt = ["/O2"]
        else:
            # No trapping math lets gcc vectorise the kernels' branch-free select loops
            # (fast_exp.h); it changes no results. -march=native lets it use this CPU's
            # vector width: the package is built from source where it runs
            # (LUCID_PORTABLE=1 turns it off, e.g. to build a wheel for other machines).
            opt = ["-O3", "-fno-trapping-math"]
            native = ["-march=native"]
            if not os.environ.get("LUCID_PORTABLE") and compiles(self.compiler, TINY_PROGRAM,
                                                                  native, []):
                opt += native
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
