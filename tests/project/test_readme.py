"""The README's quick start and CI must not drift apart."""

import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_quick_start_verbatim_and_first():
    """A newcomer runs the two lines in a fresh venv with nothing else installed: CI must do the
    same before it installs anything else (extras once hid a broken quick start)."""
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = quick_start_commands()
    assert len(commands) == 2
    installs = [i for i, line in enumerate(ci_lines)
                if re.search(r"\bpip\b.*\binstall\b", line) and not line.startswith("#")]
    first = [ci_lines.index(command) for command in commands]
    assert installs[:2] == first, "the README's lines must be CI's first installs, in order"
    before = ci_lines[:first[0]]
    venv = next(i for i, line in enumerate(before) if " -m venv " in line)
    assert any(line.startswith("source ") and "/bin/activate" in line
               for line in before[venv:]), "the quick start must run in the fresh venv"


def test_the_readme_tour_runs():
    """The tour's blocks, in order in one namespace: the loop trains (every parameter gets a
    gradient, the loss is finite), the decoder's stream equals its offline call (the tour
    asserts it), and the alignments are the targets' (with the wildcard, label -1 or one of
    the target's)."""
    readme = (ROOT / "README.md").read_text()
    tour = re.search(r"## A tour\n(.*?)\n## ", readme, re.S).group(1)
    blocks = re.findall(r"```python\n(.*?)```", tour, re.S)
    assert len(blocks) == 2
    namespace = {}
    for code in blocks:
        exec(code, namespace)
    assert np.isfinite(namespace["loss"].item())
    assert all(p.grad is not None for p in namespace["model"].parameters())
    y = namespace["y"].numpy()
    labels = namespace["labels"].numpy()
    assert labels.shape == (len(y), 50)
    for row, target in zip(labels, y):
        assert set(row.tolist()) <= set(target.tolist()) | {0, -1}
    spans = namespace["spans"]
    assert [s.token for s in spans] == [k for k in y[0].tolist()]
