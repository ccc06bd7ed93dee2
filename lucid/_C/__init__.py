"""Compiled kernels (Cython), loaded for this CPU. The CTC loss kernel reads in order from
_ctc_log.pxd (the dynamic programme) through _ctc_fast.pxd to _ctc.pyx.

On x86-64 the kernels that gain from it (setup.py's TWINNED, with the measurements) are built
three times: for the baseline and, as twins ``<name>__x86_64_v4`` and ``<name>__x86_64_v3``, for
CPUs with AVX-512, or with AVX2 and FMA; the others once, for the baseline. Importing this
package loads the best twins this CPU can run, under the kernels' own names (``from lucid._C
import _ctc`` gives the chosen one). LUCID_DISPATCH=baseline forces the baseline, e.g. to test
it on a newer CPU. ``lucid.show_config()`` tells what was built and chosen.
"""

import importlib
import os
import sys
import warnings

try:
    _build = importlib.import_module(f"{__name__}._build")
except ModuleNotFoundError as error:
    if error.name != f"{__name__}._build":
        raise
    raise ImportError(
        f"lucid's compiled kernels are not built in {os.path.dirname(__file__)}. In a source "
        f"checkout, build them with `pip install -e .` (a C compiler is needed; see the "
        f"README's quick start). If lucid-ctc is installed, this source tree is shadowing it: "
        f"run Python from another directory."
    ) from None

from lucid._C._build import cpu_supports, max_threads, openmp_enabled, threads_in_region

_CONFIG = _build.config()


def _dispatch_target():
    forced = os.environ.get("LUCID_DISPATCH", "")
    if forced not in ("", "baseline"):
        raise ValueError(f"LUCID_DISPATCH: expected 'baseline' or nothing, got {forced!r}")
    if _CONFIG["native"]:
        return "native"
    if forced != "baseline":
        for target in _CONFIG["twins"]:
            if cpu_supports(target):
                return target
    return "baseline"


def _load_kernels(target):
    twin = "" if target in ("baseline", "native") else "__" + target.replace("-", "_")
    for name in _CONFIG["kernels"]:
        suffix = twin if name in _CONFIG["twinned"] else ""
        try:
            module = importlib.import_module(f"{__name__}.{name}{suffix}")
        except ModuleNotFoundError:
            raise ImportError(
                f"lucid's kernel {name}{suffix} is missing from {os.path.dirname(__file__)}: "
                f"the build is incomplete; rebuild with `pip install -e .` in a source checkout"
            ) from None
        sys.modules[f"{__name__}.{name}"] = module  # so `import lucid._C.name` agrees
        globals()[name] = module


def __getattr__(name):
    # Reached only for names the build did not make, e.g. a kernel added to the sources after
    # the last build: say what to run rather than "No module named ...".
    if os.path.exists(os.path.join(os.path.dirname(__file__), f"{name}.pyx")):
        raise ImportError(f"lucid's kernel {name} was added to the sources after the last "
                          f"build; rebuild with `pip install -e .`")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def serial_warning(config):
    """The warning an unintended serial build deserves, or None."""
    if config["openmp"] or config["openmp_off_on_request"]:
        return None
    return (f"lucid-ctc was built without OpenMP (compiler: {config['compiler']}), so its "
            f"kernels run on one thread. Rebuild with an OpenMP-capable compiler (gcc, or clang "
            f"with libomp); lucid.show_config() shows the build. Set LUCID_NO_OPENMP=1 when "
            f"building to make a serial build on purpose, without this warning.")


def build_config():
    """The build's configuration (compiler, flags, OpenMP, twin targets, kernels and the twinned
    ones among them) and the dispatch target chosen for this CPU, as a dict."""
    return {**_build.config(), "dispatch": DISPATCH}


DISPATCH = _dispatch_target()
_load_kernels(DISPATCH)
if serial_warning(_CONFIG):
    warnings.warn(serial_warning(_CONFIG), RuntimeWarning, stacklevel=2)

__all__ = ["openmp_enabled", "max_threads", "threads_in_region", "cpu_supports", "build_config",
           "serial_warning", "DISPATCH"]
