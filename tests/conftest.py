"""Test-session helpers: the end of the run says why tests were skipped or left out."""

import collections
import re

# The optional packages some tests compare against, and how to get them.
EXTRAS = {
    "torch": "pip install \".[torch]\"",
    "sphinx": "pip install \".[docs]\"",
    "numpydoc": "pip install \".[docs]\"",
    "matplotlib": "pip install \".[examples]\"",
    "hypothesis": "pip install \".[test]\"",
    "sklearn": "pip install \".[examples]\"",
    "pyctcdecode": "pip install --no-deps pyctcdecode pygtrie: it pins numpy<2, runs on 2",
}


def skip_reason(report):
    """The reason of a skipped test, with "could not import 'x'" turned into what to install."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    missing = re.match(r"could not import '([\w.]+)'", reason)
    if missing:
        package = missing.group(1).split(".")[0]
        hint = EXTRAS.get(package, f"pip install {package}")
        return f"{package} not installed ({hint})"
    return reason


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    deselected = len(terminalreporter.stats.get("deselected", []))
    if not skipped and not deselected:
        return
    terminalreporter.write_sep("=", "why tests did not run")
    counts = collections.Counter(skip_reason(r) for r in skipped)
    for reason, n in counts.most_common():
        terminalreporter.write_line(f"{n} test{'s' if n > 1 else ''} skipped: {reason}")
    if deselected:
        markexpr = terminalreporter.config.getoption("markexpr")
        line = f"{deselected} test{'s' if deselected > 1 else ''} deselected"
        if "not timing" in markexpr:
            line += ("; the timing- and load-sensitive ones run alone, on a quiet machine, with "
                     "`python -m pytest -m timing`")
        if "not slow" in markexpr:
            line += "; the slow ones (minutes, or gigabytes) with `python -m pytest -m slow`"
        terminalreporter.write_line(line)
