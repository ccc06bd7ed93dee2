"""The README's quick start and CI must not drift apart."""

import pathlib
import re

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


def test_the_readme_tour_runs_and_fills_the_gradient():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## A short tour\s+```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    import lucid._threads as threads

    saved = threads._num_threads
    try:
        exec(code, namespace)
    finally:
        threads._num_threads = saved  # the tour sets a global thread count
    grad = namespace["logits"].grad.numpy()
    assert grad.shape == (50, 4, 20)
    # through log_softmax the gradient of each valid frame sums to zero over classes
    assert abs(grad.sum(axis=2)).max() < 1e-5
