"""Run the ``>>>`` examples of the documentation pages, as the test suite does.

    python docs/run_examples.py                 # every page
    python docs/run_examples.py decoding.rst    # some pages

From any directory: the pages import their helpers (``make_figures.py``,
``torchaudio_data.py``, ...) from ``docs/``, which is put on the import path first. Exits
with the number of failed examples (0: all passed).
"""

from __future__ import annotations

import doctest
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run(page: pathlib.Path) -> doctest.TestResults:
    """The examples of one page, with the options every page is written for."""
    if str(DOCS) not in sys.path:
        sys.path.insert(0, str(DOCS))
    return doctest.testfile(str(page), module_relative=False, encoding="utf-8",
                            optionflags=FLAGS)


def main(names: list[str]) -> int:
    pages = [DOCS / name for name in names] or sorted(DOCS.glob("*.rst"))
    failed = 0
    for page in pages:
        result = run(page)
        print(f"{page.name}: {result.attempted - result.failed} of {result.attempted} passed")
        failed += result.failed
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
