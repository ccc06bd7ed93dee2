"""lucid.show_config(): how the kernels were built and what runs on this machine."""

import os
import platform

from lucid._C import build_config
from lucid._threads import get_num_threads
from lucid._version import __version__


def show_config():
    """Print how lucid's kernels were built and what runs on this machine (like
    ``numpy.show_config()``): compiler, flags, OpenMP and threads, the CPU target chosen."""
    c = build_config()
    if c["openmp"]:
        openmp = f"on, {get_num_threads()} threads (lucid.set_num_threads to change)"
    elif c["openmp_off_on_request"]:
        openmp = "off (built with LUCID_NO_OPENMP=1): one thread"
    else:
        openmp = "off (the compiler had no OpenMP): one thread"
    twinned = "for " + ", ".join(c["twinned"])
    if c["dispatch"] == "native":
        chosen = "native: built with -march=native for the build machine (LUCID_NATIVE=1)"
    elif c["dispatch"] == "baseline" and c["twins"]:
        why = ("LUCID_DISPATCH=baseline" if os.environ.get("LUCID_DISPATCH")
               else "this CPU runs none of " + ", ".join(c["twins"]))
        chosen = f"baseline ({why}); built: baseline, {', '.join(c['twins'])} {twinned}"
    elif c["dispatch"] == "baseline":
        chosen = f"baseline {c['machine']} (the only build)"
    else:
        chosen = (f"{c['dispatch']} (this CPU has it) {twinned}, baseline for the rest; "
                  f"built: baseline, {', '.join(c['twins'])} {twinned}")
    flags = " ".join(c["flags"])
    for target, extra in c["twin_flags"].items():
        flags += f"; {target} twins add {' '.join(extra)}"
    rows = [
        ("lucid-ctc", f"{__version__} ({os.path.dirname(__file__)})"),
        ("python", f"{platform.python_version()} on {platform.machine()}"),
        ("compiler", c["compiler"]),
        ("flags", flags),
        ("OpenMP", openmp),
        ("kernels", chosen),
    ]
    for key, value in rows:
        print(f"{key + ':':<11}{value}")
