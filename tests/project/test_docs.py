"""The documentation: every example in docs/*.rst runs, its claims about PyTorch hold, the
figures are drawn from lucid's outputs, and the HTML builds with warnings as errors."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import lucid
from lucid.nn.functional import ctc_loss, log_softmax

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst"))
PAGES_WITH_EXAMPLES = {"tutorial.rst", "differences.rst", "coming_from.rst", "decoding.rst",
                       "ctc_variants.rst", "torchaudio_alignment.rst", "torchaudio_decoder.rst",
                       "coming_from_pytorch.rst", "coming_from_torchaudio.rst"}


@pytest.fixture
def docs_importable(monkeypatch):
    """The tutorial imports its helpers from docs/make_figures.py, as a reader in docs/ would."""
    monkeypatch.syspath_prepend(str(DOCS))


def test_every_page_is_tested():
    assert PAGES_WITH_EXAMPLES <= {p.name for p in PAGES}
    assert {"index.rst", "api.rst", "performance.rst"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_run(page, docs_importable):
    """Each page through docs/run_examples.py, the command the docs give readers."""
    if page.name == "decoding.rst":
        pytest.importorskip("pyctcdecode", reason="the decoding page reads its sample data")
    if page.name == "digit_lines.rst":
        pytest.importorskip("sklearn")  # the page composes lines from scikit-learn's digits
    import run_examples

    result = run_examples.run(page)
    assert result.failed == 0, f"{result.failed} example(s) in {page.name} failed (output above)"
    if page.name in PAGES_WITH_EXAMPLES:
        assert result.attempted > 10


def _quick_start(text, pattern):
    block = re.search(pattern, text, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_index_quick_start_is_the_readmes():
    readme = _quick_start((ROOT / "README.md").read_text(), r"## Quick start\s+```bash\n(.*?)```")
    index = _quick_start((DOCS / "index.rst").read_text(),
                         r"The two commands of the README::\n\n(.*?)\n\n")
    assert index == readme


def test_build_command_is_at_the_top_of_the_index():
    head = (DOCS / "index.rst").read_text()[:500]
    assert 'pip install -e ".[docs]" && pip install --no-deps pyctcdecode pygtrie' in head
    assert "sphinx-build -W -b html docs docs/_build/html" in head


@pytest.mark.parametrize("module", ["lucid", "lucid.nn", "lucid.nn.functional", "lucid.optim",
                                    "lucid.ctc", "lucid.metal", "lucid.nn.utils",
                                    "lucid.nn.utils.rnn", "lucid.utils", "lucid.utils.data"])
def test_api_reference_documents_every_public_name(module):
    import importlib

    text = (DOCS / "api.rst").read_text()
    skip = {"nn", "optim", "functional", "metal", "ctc", "_C", "utils", "rnn",
            "data"}  # modules, each with its own section
    for name in sorted(set(importlib.import_module(module).__all__) - skip):
        entry = rf"^\.\. (auto\w+|py:data):: ([\w.]+\.)?{name}$|^ +{name}$"  # or py:data's list
        assert re.search(entry, text, re.M), f"{module}.{name} is missing from docs/api.rst"


def test_figures_are_drawn_and_checked(tmp_path, docs_importable):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pyctcdecode")  # the token-span figure draws its sample data
    import make_figures

    names = make_figures.main(tmp_path)  # raises if alpha/beta disagree with lucid
    assert names == sorted(
        f"{n}.png" for n in ("alignments", "lattice", "alpha_beta", "posterior", "feasibility",
                             "zero_infinity", "decoding", "token_spans", "digit_lines", "imperfect")
    )
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    referenced = {name for page in ("tutorial.rst", "decoding.rst", "digit_lines.rst")
                  for name in re.findall(r"figures/(\w+\.png)", (DOCS / page).read_text())}
    assert referenced == set(names)


def test_sphinx_build_has_no_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "matplotlib", "pyctcdecode"):
        pytest.importorskip(module)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in PAGES:
        assert (tmp_path / "html" / page.with_suffix(".html").name).exists()


# ------------------------------------------------------------- what differences.rst says of torch
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _doc_inputs():
    """The inputs of docs/differences.rst: lucid's log-probs, padded targets, lengths."""
    lucid.manual_seed(0)
    lp = log_softmax(lucid.randn(6, 2, 3, dtype=lucid.float64), dim=2)
    return lp, [[1, 1, 2], [1, 2, 0]], [6, 6], [3, 1]


def _torch_ctc(torch, lp, targets, input_lengths, target_lengths, **kwargs):
    x = torch.tensor(np.asarray(lp), requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        x, torch.as_tensor(np.asarray(targets)), torch.tensor(input_lengths),
        torch.tensor(target_lengths), **kwargs)
    return x, loss


def test_torch_mean_divides_by_target_length(torch):
    lp, targets, il, tl = _doc_inputs()
    _, theirs = _torch_ctc(torch, lp.numpy(), targets, il, tl, reduction="mean")
    per_sample = ctc_loss(lp, targets, il, tl, reduction="none").numpy()
    assert theirs.item() == pytest.approx((per_sample / np.array(tl)).mean(), rel=1e-12)
    assert ctc_loss(lp, targets, il, tl).item() == pytest.approx(per_sample.mean(), rel=1e-15)


def test_torch_gradient_is_exp_minus_posterior(torch):
    lucid.manual_seed(0)
    lp = log_softmax(lucid.randn(5, 3, dtype=lucid.float64), dim=1)
    lp.requires_grad = True
    ctc_loss(lp, [1, 2], 5, 2).backward()
    x, theirs = _torch_ctc(torch, lp.numpy(), [1, 2], 5, 2, reduction="sum")
    theirs.backward()
    expected = np.exp(lp.numpy()) + lp.grad.numpy()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=1e-12)


def test_torch_gradient_of_an_infeasible_sample_is_nan(torch):
    lp, _, _, _ = _doc_inputs()
    x, theirs = _torch_ctc(torch, lp.numpy(), [[1, 1, 2], [1, 1, 2]], [6, 3], [3, 3],
                           reduction="none")
    assert np.isinf(theirs[1].item())
    theirs[0].backward()  # even with no gradient flowing into the infeasible sample
    assert np.isnan(x.grad.numpy()[:3, 1]).all()


@pytest.mark.parametrize("targets, dtype", [
    ([[1, 0, 2], [1, 2, 0]], np.int64),    # a label equal to blank
    ([[1, 5, 2], [1, 2, 0]], np.int64),    # a label outside [0, C)
    ([[1, 1, 2], [1, 2, 0]], np.float32),  # float targets
])
def test_torch_returns_a_number_for_bad_targets(torch, targets, dtype):
    lp, _, il, _ = _doc_inputs()
    _, theirs = _torch_ctc(torch, lp.numpy(), np.array(targets, dtype=dtype), il, [3, 1],
                           reduction="none")
    assert theirs.shape == (2,)


def test_torch_log_softmax_of_an_all_minus_inf_row_is_nan(torch):
    rows = torch.tensor([[-np.inf, -np.inf], [np.nan, -np.inf]])
    assert torch.isnan(torch.log_softmax(rows, dim=1)).all()


def test_torch_raises_runtime_error_for_long_input_lengths(torch):
    lp, targets, _, tl = _doc_inputs()
    with pytest.raises(RuntimeError, match="input_lengths"):
        _torch_ctc(torch, lp.numpy(), targets, [7, 6], tl)
