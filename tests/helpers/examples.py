"""Load an example script from examples/ (or the code a docs page shows, from docs/) as a
module, so its tests can call its functions."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"


def load_example(name, folder=EXAMPLES):
    """<folder>/<name>.py, executed as a module named <name>."""
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
