"""The training example (examples/train_ctc.py), shortened: it learns, it is
deterministic, it writes its PNG when matplotlib is there and says why not otherwise. The full
run (500 steps to a label error rate <= 5%) is `python examples/train_ctc.py`, not a unit test."""

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers.examples import EXAMPLES, load_example

EXAMPLE = EXAMPLES / "train_ctc.py"


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
    # not a terminal: no bar, and the epoch (125 batches of 4000) ends with the 60 steps
    assert "epoch 1: steps 1-60 of 60, mean loss" in out.out and out.err == ""


@pytest.mark.parametrize("tqdm_installed", [True, False])
def test_on_a_terminal_a_progress_bar_runs_to_the_end(example, capsys, monkeypatch,
                                                      tqdm_installed):
    monkeypatch.setattr(example, "on_terminal", lambda: True)
    if not tqdm_installed:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain bar stands in
    example.main(["--steps", "12", "--train-size", "160", "--held-out", "10", "--no-plot"])
    out = capsys.readouterr()
    assert "12/12" in out.err  # the bar, on stderr, reached the end
    epochs = [line.split(",")[0] for line in out.out.splitlines() if line.startswith("epoch")]
    assert epochs == ["epoch 1: steps 1-5 of 12", "epoch 2: steps 6-10 of 12",
                      "epoch 3: steps 11-12 of 12"]  # 5 batches of 32 an epoch


def run_in(stream, *args):
    """The example as a command, its stdout and stderr both a pipe or both a terminal (a pty
    of 100 columns, as a terminal window gives tqdm); returns what it wrote."""
    command = [sys.executable, str(EXAMPLE), *args]
    if stream == "pipe":
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout, result.stderr
    pty = pytest.importorskip("pty")
    fcntl, termios = pytest.importorskip("fcntl"), pytest.importorskip("termios")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(command, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode(), ""


SMALL = ["--steps", "30", "--train-size", "320", "--held-out", "20", "--no-plot"]  # 3 epochs


def test_in_a_pipe_it_prints_a_plain_line_per_epoch():
    """`python examples/train_ctc.py | cat`: no bar, no redraws, one line per epoch."""
    out, err = run_in("pipe", *SMALL)
    assert "\r" not in out + err and "it/s" not in out + err and err == ""
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch")]
    assert [line.split(",")[0] for line in epochs] == [
        "epoch 1: steps 1-10 of 30", "epoch 2: steps 11-20 of 30", "epoch 3: steps 21-30 of 30"]
    assert lines[0].startswith("first batch:") and lines[-1].startswith("held-out greedy")
    assert len(lines) == 5


def test_on_a_terminal_the_bar_is_drawn_and_the_lines_kept():
    pytest.importorskip("tqdm")
    out, _ = run_in("terminal", *SMALL)
    assert out.count("\rtraining:") > 3 and "30/30" in out  # tqdm redraws its bar in place
    lines = [line.split("\r")[-1] for line in out.split("\r\n")]  # what stays on screen
    assert sum(line.startswith("epoch") for line in lines) == 3


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
