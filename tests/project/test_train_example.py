"""The training example (examples/train_ctc.py), shortened: it learns, it is
deterministic, it writes its PNG when matplotlib is there and says why not otherwise. The full
run (500 steps to a label error rate <= 5%) is `python examples/train_ctc.py`, not a unit test."""

import sys

import numpy as np
import pytest
from helpers.examples import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("train_ctc")


def test_short_run_loss_falls_clearly(example, capsys):
    result = example.main(["--steps", "60", "--held-out", "50", "--no-plot"])
    losses = np.array(result["losses"])
    assert losses.shape == (60,) and np.isfinite(losses).all()
    # From near-uniform outputs (a loss of ~50 on these batches) the mean over the last ten
    # steps falls to a fifth or less within 60 steps, on every seed we tried; "clearly" means at
    # least halving, which a model that is not learning cannot do.
    assert losses[-10:].mean() < 0.5 * losses[:10].mean()
    assert 0 <= result["label_error_rate"] and result["plot"] is None
    out = capsys.readouterr()
    assert "held-out greedy label error rate" in out.out
    assert "60/60" in out.err  # the progress bar (tqdm's or the plain one) reached the end


def test_runs_are_deterministic(example):
    args = ["--steps", "15", "--held-out", "30", "--no-plot", "--seed", "3"]
    first, second = example.main(args), example.main(args)
    assert first["losses"] == second["losses"]
    assert first["label_error_rate"] == second["label_error_rate"]
    assert example.main(args[:-1] + ["4"])["losses"] != first["losses"]


def test_png_is_written_when_matplotlib_is_installed(example, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "alignment.png"
    result = example.main(["--steps", "5", "--held-out", "20", "--out", str(out)])
    assert result["plot"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_is_skipped_with_a_message_without_matplotlib(example, tmp_path, monkeypatch,
                                                           capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    out = tmp_path / "alignment.png"
    result = example.main(["--steps", "2", "--held-out", "10", "--out", str(out)])
    assert result["plot"] is None and not out.exists()
    assert "matplotlib is not installed: skipping the plot" in capsys.readouterr().out


@pytest.mark.parametrize("a, b, distance", [
    ([], [], 0), ([1, 2, 3], [], 3), ([], [4], 1), ([1, 2, 3], [1, 2, 3], 0),
    ([1, 2, 3], [1, 3], 1), ([1, 2, 3], [1, 4, 3], 1), ([1, 2], [2, 1], 2),
    (list("kitten"), list("sitting"), 3),
])
def test_edit_distance(example, a, b, distance):
    assert example.edit_distance(a, b) == distance
    assert example.edit_distance(b, a) == distance


def test_data_is_as_the_example_documents(example):
    """1-8 symbols from 10, every symbol frame at least 2 frames long, zero padding; an item
    is the same whenever it is read, and the splits differ."""
    rng = np.random.default_rng(0)
    patterns = rng.standard_normal((example.ALPHABET, example.FEATURES))
    dataset = example.SymbolSequences(200, patterns, seed=0, split=0)
    batch = example.collate([dataset[i] for i in range(len(dataset))])
    lengths = [len(s) for s in batch["symbols"]]
    assert min(lengths) == 1 and max(lengths) == example.MAX_SYMBOLS
    assert all(1 <= c <= example.ALPHABET for s in batch["symbols"] for c in s)
    features = batch["features"].numpy()
    assert features.shape == (batch["input_lengths"].max(), 200, example.FEATURES)
    for n, length in enumerate(batch["input_lengths"]):
        # frames: >= 1 + 2 per symbol + 1 between symbols + 1; at most 4 + 6 + 3 per extra + 4
        k = lengths[n]
        assert 2 + 2 * k + (k - 1) <= length <= 8 + 6 * k + 3 * (k - 1)
        assert not features[length:, n].any()
        np.testing.assert_array_equal(features[:length, n], dataset[n][0])
        assert batch["targets"][n, :k].tolist() == batch["symbols"][n]
        assert not batch["targets"][n, k:].any() and batch["target_lengths"][n] == k
    other = example.SymbolSequences(200, patterns, seed=0, split=1)
    assert not np.array_equal(other[0][0], dataset[0][0])
    with pytest.raises(IndexError):
        dataset[200]
