"""Sphinx configuration for lucid-ctc's documentation.

Build, warnings as errors, from the repository root:

    pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html

No network access is needed: no intersphinx, no remote images, equations as plain text. The
figures are regenerated from lucid's outputs by make_figures.py at the start of every build.
"""

import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # for make_figures, imported by _make_figures below

import lucid  # noqa: E402

project = "lucid-ctc"
author = "the lucid-ctc authors"
copyright = "the lucid-ctc authors, MIT licence"
version = release = lucid.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
exclude_patterns = ["_build"]
root_doc = "index"

nitpicky = False
autodoc_typehints = "none"          # the numpydoc sections give the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # members are listed explicitly in api.rst
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"lucid-ctc {release}"
html_theme_options = {"description": "CTC loss, exact and fast, in a small lucid-like framework"}


def _make_figures(app):
    import make_figures

    make_figures.main(DOCS / "figures")


def setup(app):
    app.connect("builder-inited", _make_figures)
