"""The README's quick start and CI must not drift apart."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_quick_start_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = quick_start_commands()
    assert commands and all(command in ci_lines for command in commands)


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
