"""Build script: compiles every Cython kernel in lucid/_C, portable by default.

Metadata lives in pyproject.toml; this file only declares the extensions and picks their flags.

a. Kernels: every lucid/_C/*.pyx is one extension (a new kernel needs no edit here). _build.pyx
   is special: it records this build's configuration (compiler, flags, OpenMP, twins) and holds
   the CPU-feature check that chooses between the twins at import.
b. Portable by default: the kernels are compiled for the architecture's baseline (any x86-64,
   any aarch64). On x86-64, with gcc or clang, the kernels of TWINNED (those a benchmark shows
   to gain) are also compiled as twin modules ``<name>__x86_64_v4`` (AVX-512: Intel server CPUs
   since 2017, AMD since Zen 4) and ``<name>__x86_64_v3`` (AVX2 and FMA: Intel since 2013, AMD
   since 2015); lucid._C loads the best twins the CPU can run, the baseline modules otherwise
   (run-time dispatch, as numpy does: only its hot loops are compiled several times). The hot
   loops are written to vectorise; the twins give them wider vectors and fused multiply-adds.
   A twin is the baseline's C file compiled again with other flags (and its module's init
   function renamed), so each kernel is cythonized once.
e. Cython's own runtime (memoryviews, fused-function dispatch: most of every generated C file)
   is compiled once, into the module lucid._C._cyutility that every kernel imports, rather than
   once per kernel and twin: it halves the compile time and runs outside the kernels' loops.
   LUCID_NATIVE=1 compiles once, with -march=native, for this machine only: no twins, not for
   wheels that travel.
c. OpenMP is confirmed by compiling and linking a tiny program. Without it (or with
   LUCID_NO_OPENMP=1, on purpose) the kernels run on one thread: the build prints a banner, and
   ``import lucid`` warns unless it was on purpose; lucid.show_config() always tells.
d. Incremental: build/lucid-cache keeps each extension's last builds, keyed by a hash of its
   sources and flags, and an unchanged extension is copied from there instead of recompiled.
   So ``pip install -e ".[test]"`` after ``pip install -e ".[examples]"`` compiles nothing, and
   after an edit only the extensions that depend on it are rebuilt.
"""

import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

KERNEL_DIR = os.path.join("lucid", "_C")
CACHE_DIR = os.path.join("build", "lucid-cache")
CYTHON_DIR = os.path.join("build", "cython")
BUILD_MODULE_NAME = "lucid._C._build"  # the build's configuration: compiled once, baseline
CYTHON_RUNTIME = "lucid._C._cyutility"  # Cython's shared utility code (e.): compiled once
TWIN_TARGETS = ["x86-64-v4", "x86-64-v3"]  # best first: the order lucid._C tries them in

# The kernels that get twins (b.), and the evidence: the median CPU time on one thread of the
# baseline build of that kernel against its v3 and v4 twins, every other kernel as dispatched,
# the three builds alternating call by call (AVX-512 machine, x86-64-v4 dispatch):
# - _ctc: bench_ctc.py's end-to-end step, W1-W5 randn and peaky: the baseline is 1.7-3.1x
#   slower than v3 (geomean 2.3x) and 1.8-3.7x than v4 (2.5x);
# - _softmax: the same step: 1.7-1.9x with C = 5000 (W4), 0.95-1.1x elsewhere (geomean 1.12x
#   v3, 1.20x v4);
# - _ctc_align: bench_align.py's batch T500 N64 and a T18000 S3000 alignment: 1.9x and 2.3x
#   (v3), 1.9x and 2.6x (v4); its short batch (T50 N256) 0.9-1.0x.
# Not twinned, as gaining less than ~10%: _ctc_beam (bench_decode.py's 8 configurations,
# 1.00-1.10x, geomean 1.03x) and _rnn (bench_train_step.py's step 1.03-1.06x; a bidirectional
# GRU or LSTM alone, forward and backward, 1.05-1.14x, geomean 1.08x).
TWINNED = ["_ctc", "_ctc_align", "_softmax"]

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1; }
"""

# The dispatch check must compile where the twins do; __builtin_cpu_supports("x86-64-v3")
# needs gcc >= 12 or clang >= 16.
TWIN_PROBE = r"""
int main(void) { return __builtin_cpu_supports("%s") ? 0 : 0; }
"""


def remembered(parts, compute):
    """compute(), kept in the build cache under a hash of parts (d.): so a build that finds
    nothing to compile runs no compiler at all, not even for its probes."""
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    path = os.path.join(CACHE_DIR, "probes.json")
    try:
        with open(path) as f:
            answers = json.load(f)
    except (OSError, ValueError):
        answers = {}
    if key not in answers:
        answers[key] = compute()
        os.makedirs(CACHE_DIR, exist_ok=True)
        with open(path, "w") as f:
            json.dump(answers, f)
    return answers[key]


def compiles(compiler, source, cflags, lflags=()):
    """Whether source compiles and links with these flags."""
    parts = [getattr(compiler, "compiler_so", compiler.compiler_type),
             getattr(compiler, "linker_exe", None), source, list(cflags), list(lflags)]
    return remembered(parts, lambda: probe(compiler, source, cflags, lflags))


def probe(compiler, source, cflags, lflags):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=list(cflags))
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=list(lflags))
        except (CompileError, LinkError):
            return False
    return True


def openmp_flags(compiler):
    """(compile_args, link_args) that enable OpenMP, or None if none work."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, lflags in candidates:
        if compiles(compiler, OPENMP_PROBE, cflags, lflags):
            return cflags, lflags
    return None


def compiler_version(compiler):
    """First line of ``cc --version`` (e.g. "gcc (Debian 12.2.0-14) 12.2.0"), for show_config."""
    if compiler.compiler_type == "msvc":
        return "msvc"
    return remembered(["--version", compiler.compiler_so[0]], lambda: ask_version(compiler))


def ask_version(compiler):
    try:
        out = subprocess.run(compiler.compiler_so[:1] + ["--version"], capture_output=True,
                             text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else compiler.compiler_so[0]
    except (OSError, subprocess.SubprocessError):
        return compiler.compiler_so[0]


def is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64")


def twin_suffix(target):
    return "__" + target.replace("-", "_")


def twin_target(ext):
    """The target an extension is a twin for, or None for a baseline one."""
    return next((t for t in TWIN_TARGETS if ext.name.endswith(twin_suffix(t))), None)


def is_twin(ext):
    return twin_target(ext) is not None


def kernel_of(ext):
    """The kernel an extension is built from: its own name, or the name it is a twin of."""
    target = twin_target(ext)
    return ext.name[: -len(twin_suffix(target))] if target else ext.name


def short_name(module):
    return module.rsplit(".", 1)[1]


def banner(lines):
    """A message pip shows with -v and every other front end shows as is."""
    width = max(map(len, lines)) + 4
    print("\n" + "*" * width, *(f"* {ln:<{width - 4}} *" for ln in lines), "*" * width,
          sep="\n", file=sys.stderr, flush=True)


class BuildExt(build_ext):
    """Chooses the flags, adds the twins, cythonizes and compiles only what changed (a.-d.)."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # compile the extensions side by side: the build is CPU-bound
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        from Cython import __version__ as cython_version

        cc = self.compiler
        unix = cc.compiler_type != "msvc"
        # No trapping math lets the compiler vectorise the kernels' branch-free select loops
        # (fast_exp.h); it changes no results. No debug information: a quarter of the compile
        # time, for symbols nobody reads in Cython's generated C.
        base = ["-O3", "-fno-trapping-math", "-g0"] if unix else ["/O2"]
        native = bool(os.environ.get("LUCID_NATIVE"))
        if native:
            base += ["-march=native"] if unix else []
        on_request = bool(os.environ.get("LUCID_NO_OPENMP"))
        omp = None if on_request else openmp_flags(cc)
        ocflags, olflags = omp or ([], [])
        wanted = {twin_target(e) for e in self.extensions} - {None}
        twins = [t for t in TWIN_TARGETS  # an older compiler may know neither
                 if t in wanted and compiles(cc, TWIN_PROBE % t, [f"-march={t}"])]
        self.extensions = [e for e in self.extensions if twin_target(e) in twins + [None]]
        # twins an earlier build left in the source tree, of kernels that get none now, would
        # tell lies to whoever lists the folder
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = {short_name(e.name) for e in self.extensions}
        for path in glob.glob(os.path.join(KERNEL_DIR, "*__x86_64_v*" + suffix)):
            if os.path.basename(path)[: -len(suffix)] not in built:
                os.remove(path)

        config = {
            "compiler": compiler_version(cc),
            "flags": base + ocflags,
            "twin_flags": {t: [f"-march={t}"] for t in twins},
            "twins": twins,
            "native": native,
            "openmp": omp is not None,
            "openmp_off_on_request": on_request,
            "kernels": [short_name(e.name) for e in self.extensions
                        if not is_twin(e) and e.name not in (BUILD_MODULE_NAME, CYTHON_RUNTIME)],
            "twinned": sorted({short_name(kernel_of(e)) for e in self.extensions if is_twin(e)}),
            "machine": platform.machine(),
        }
        header_dir = os.path.join(self.build_temp, "lucid-config")
        header = os.path.join(header_dir, "lucid_build_config.h")
        os.makedirs(header_dir, exist_ok=True)
        with open(header, "w") as f:
            f.write(f"#define LUCID_BUILD_CONFIG {json.dumps(json.dumps(config))}\n"
                    + "".join(f"#define LUCID_TWIN_{t.replace('-', '_').upper()} "
                              f"{int(t in twins)}\n" for t in TWIN_TARGETS))

        shared = sorted(glob.glob(os.path.join(KERNEL_DIR, "*.pxd"))
                        + glob.glob(os.path.join(KERNEL_DIR, "*.h")))
        for ext in self.extensions:
            ext.include_dirs = [KERNEL_DIR]
            ext.depends = list(shared)
            if ext.name == BUILD_MODULE_NAME:
                ext.include_dirs.append(header_dir)
                ext.depends.append(header)
            target = twin_target(ext)
            ext.extra_compile_args = base + config["twin_flags"].get(target, []) + ocflags
            ext.extra_link_args = list(olflags)
            if target:  # the kernel's C file, its init function named after the twin (b.)
                ext.define_macros = [(f"PyInit_{short_name(kernel_of(ext))}",
                                      f"PyInit_{short_name(ext.name)}")]
            ext.cache_file = self.cache_path(ext, cython_version)
        self.c_files = {}
        self.cython_lock = threading.Lock()
        super().build_extensions()

        if omp is None:
            why = ("LUCID_NO_OPENMP is set" if on_request
                   else f"the compiler ({config['compiler']}) has no working OpenMP")
            banner([f"lucid-ctc: built WITHOUT OpenMP because {why}:",
                    "its kernels will run on ONE thread.",
                    "lucid.show_config() reports the build; see the README for how to get "
                    "OpenMP."])

    def cache_path(self, ext, cython_version):
        """Where this extension's build is kept: named by a hash of everything it is made of."""
        h = hashlib.sha256()
        for path in ext.sources + ext.depends:
            with open(path, "rb") as f:
                h.update(os.path.basename(path).encode() + b"\0" + f.read())
        h.update(json.dumps([ext.name, ext.extra_compile_args, ext.extra_link_args,
                             ext.define_macros,
                             CYTHON_DIRECTIVES, cython_version, sys.version,
                             self.compiler.compiler_so if hasattr(self.compiler, "compiler_so")
                             else self.compiler.compiler_type]).encode())
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        return os.path.join(CACHE_DIR, f"{ext.name}-{h.hexdigest()[:16]}{suffix}")

    def c_sources(self, ext):
        """The C file of ext's kernel, cythonized by the first of the kernel's extensions that
        needs it (only what must be compiled is cythonized). build_extension runs on several
        threads, so one kernel is cythonized while another compiles; Cython itself, which is
        not thread-safe, runs on one thread at a time."""
        kernel = kernel_of(ext)
        with self.cython_lock:
            if kernel not in self.c_files:
                from Cython.Build import cythonize

                # the runtime's "source" is only where Cython writes it (e.)
                sources = ext.sources or [os.path.join(KERNEL_DIR, "_cyutility.c")]
                self.c_files[kernel] = cythonize(
                    [Extension(kernel, sources, include_dirs=ext.include_dirs)],
                    compiler_directives=CYTHON_DIRECTIVES,
                    shared_utility_qualified_name=CYTHON_RUNTIME,
                    build_dir=os.path.join(CYTHON_DIR, kernel), quiet=True)[0].sources
        return self.c_files[kernel]

    def build_extension(self, ext):
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.exists(ext.cache_file):
            sys.stderr.write(f"lucid-ctc: {ext.name} unchanged, reusing {ext.cache_file}\n")
            shutil.copyfile(ext.cache_file, target)
            return
        if os.path.exists(target):
            os.remove(target)  # built with other flags or sources: distutils would keep it
        ext.sources = self.c_sources(ext)
        if is_twin(ext):
            # The compiler names an object file after its source's path: a twin compiling the
            # baseline's own C file would write the baseline's object file, in parallel with
            # it, and one of the two modules would link the other's code. Each twin compiles
            # a copy, in a folder of its own.
            folder = os.path.join(CYTHON_DIR, "twins", short_name(ext.name))
            os.makedirs(folder, exist_ok=True)
            ext.include_dirs = ext.include_dirs + sorted({os.path.dirname(s) for s in ext.sources})
            copies = [os.path.join(folder, os.path.basename(s)) for s in ext.sources]
            for source, copy in zip(ext.sources, copies):
                shutil.copyfile(source, copy)
            ext.sources = copies
        super().build_extension(ext)
        os.makedirs(CACHE_DIR, exist_ok=True)
        shutil.copyfile(target, ext.cache_file)
        # Keep this extension's three latest builds (e.g. default, native and serial ones).
        builds = sorted(glob.glob(os.path.join(CACHE_DIR, ext.name + "-*")), key=os.path.getmtime)
        for old in builds[:-3]:
            os.remove(old)


def kernel_extensions():
    """One extension per lucid/_C/*.pyx, plus the twins of TWINNED where twins apply (b.); the
    flags are chosen in BuildExt, once the compiler is known. The twinned kernels come first:
    they are the longest to compile, and the others fill the gaps."""
    twins = is_x86_64() and not os.environ.get("LUCID_NATIVE") and sys.platform != "win32"
    paths = sorted(glob.glob(os.path.join(KERNEL_DIR, "*.pyx")))
    unknown = set(TWINNED) - {os.path.splitext(os.path.basename(p))[0] for p in paths}
    if unknown:
        raise SystemExit(f"setup.py: TWINNED names kernels that do not exist: {sorted(unknown)}")
    extensions = [Extension(CYTHON_RUNTIME, [])]  # made of Cython's version and directives
    for path in sorted(paths, key=lambda p: os.path.basename(p)[:-4] not in TWINNED):
        name = "lucid._C." + os.path.splitext(os.path.basename(path))[0]
        extensions.append(Extension(name, [path]))
        if twins and short_name(name) in TWINNED:
            extensions += [Extension(name + twin_suffix(t), [path]) for t in TWIN_TARGETS]
    return extensions


setup(ext_modules=kernel_extensions(), cmdclass={"build_ext": BuildExt})
