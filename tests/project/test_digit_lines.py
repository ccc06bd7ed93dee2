"""The digit-line example (examples/digit_lines.py), shortened: its data keeps held-out
handwriting apart and knows each digit's columns, its scoring is right on hand-made cases, a
short run learns and saves a model that the --decode command reads back. The full run (to a
CER of 3% or less) is the README's main command, not a unit test."""

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers.examples import EXAMPLES, load_example

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def example():
    return load_example("digit_lines")


def test_images_are_split_before_lines_are_composed(example):
    from sklearn.datasets import load_digits

    (train_x, _), (test_x, test_y) = example.load_split(0)
    assert len(train_x) + len(test_x) == 1797 and abs(len(test_x) - 0.2 * 1797) < 1
    everything = sorted(x.tobytes() for x in (load_digits().images / 16).astype(np.float32))
    assert sorted(x.tobytes() for x in np.concatenate([train_x, test_x])) == everything
    # a held-out line is made of held-out images only
    line = example.compose_line(test_x, test_y, np.random.default_rng(0))
    for digit, (start, end) in zip(line["digits"], line["spans"]):
        piece = line["image"][:, start:end]
        assert any(np.array_equal(piece, x) for x in test_x[test_y == digit])


def test_lines_have_3_to_8_digits_at_their_true_columns(example):
    images = np.arange(10 * 64, dtype=np.float32).reshape(10, 8, 8) + 1  # no blank column
    labels = np.arange(10)
    rng = np.random.default_rng(1)
    counts = set()
    for _ in range(200):
        line = example.compose_line(images, labels, rng)
        digits, spans, image = line["digits"], line["spans"], line["image"]
        counts.add(len(digits))
        assert image.shape[0] == 8 and len(spans) == len(digits)
        for digit, (start, end) in zip(digits, spans):
            np.testing.assert_array_equal(image[:, start:end], images[digit])
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
        assert all(0 <= g <= example.MAX_GAP for g in gaps)
        assert 1 <= spans[0][0] <= example.MAX_MARGIN
        assert 1 <= image.shape[1] - spans[-1][1] <= example.MAX_MARGIN
        covered = np.zeros(image.shape[1], bool)
        for start, end in spans:
            covered[start:end] = True
        assert not image[:, ~covered].any()  # everything else is blank
    assert counts == set(range(3, 9))


def test_training_batches_are_the_composed_stream_in_order(example):
    from lucid.utils.data import DataLoader

    images = np.arange(10 * 64, dtype=np.float32).reshape(10, 8, 8)
    labels = np.arange(10)
    loader = DataLoader(example.ComposedLines(images, labels, seed=4), batch_size=3,
                        collate_fn=example.make_batch)
    batches = [batch for batch, _ in zip(loader, range(2))]
    rng = np.random.default_rng(4)
    lines = [example.compose_line(images, labels, rng) for _ in range(6)]
    for batch, expected in zip(batches, (lines[:3], lines[3:])):
        want = example.make_batch(expected)
        np.testing.assert_array_equal(batch["images"].numpy(), want["images"].numpy())
        np.testing.assert_array_equal(batch["targets"], want["targets"])


def test_alignment_accuracy_counts_digits_inside_their_spans(example):
    lines = [{"spans": [(2, 10), (12, 20)]}, {"spans": [(1, 9)]}]
    found = [[(4, 4), (19, 20)], [(1, 8)]]  # inside; last frame past the span; inside
    assert example.alignment_accuracy(found, lines) == pytest.approx(2 / 3)


def test_aligned_spans_reads_label_runs(example):
    import lucid

    path = [0, 3, 3, 0, 0, 3, 5, 5, 0]  # target 3 3 5: runs at 1-2, 5, 6-7
    log_probs = lucid.tensor(np.log(0.88 * np.eye(6)[path] + 0.02))[:, None]  # rows sum to 1
    batch = {"targets": np.array([[3, 3, 5]]), "lengths": np.array([9]),
             "target_lengths": np.array([3])}
    assert example.aligned_spans(log_probs, batch) == [[(1, 2), (5, 5), (6, 7)]]


def test_beam_digits_reads_the_best_hypothesis(example, monkeypatch):
    """The best hypothesis of each line is read (labels shifted back to digits)."""

    import lucid

    log_probs = lucid.zeros(5, 2, 11)

    def hypothesis(tokens):
        return lucid.ctc.CTCHypothesis(tokens=tokens, score=0.0, timesteps=range(len(tokens)))

    def fake(lp, lengths):  # the (T, N, C) output is passed batch first
        assert lp.shape == (2, 5, 11) and list(lengths) == [5, 4]
        return [[hypothesis([3, 1]), hypothesis([9])], [hypothesis([10])]]

    monkeypatch.setattr(example.lucid.ctc, "beam_search_decode", fake)
    assert example.beam_digits(log_probs, np.array([5, 4])) == [[2, 0], [9]]


def test_short_run_learns_saves_and_decodes(example, tmp_path, capsys):
    model_path = str(tmp_path / "model.npz")
    result = example.main(["--steps", "20", "--held-out", "20", "--eval-every", "10",
                           "--no-plot", "--model", model_path])
    losses = np.array(result["history"]["loss"])
    assert losses.shape == (20,) and np.isfinite(losses).all()
    # From random weights (a loss near 50 per line) down to the all-blank plateau (near 14)
    # well within 20 steps, on every seed we tried; a model that is not learning stays put.
    assert losses[-5:].mean() < 0.6 * losses[:3].mean()
    assert 0 <= result["greedy_cer"] and 0 <= result["aligned"] <= 1
    out = capsys.readouterr().out
    assert "held-out greedy CER" in out and "forced alignment" in out and "CPU" in out
    decoded = example.main(["--decode", model_path, "--held-out", "10"])
    assert 0 <= decoded["greedy_cer"]
    assert "greedy CER on 10 new held-out lines" in capsys.readouterr().out


def test_saved_model_round_trips(example, tmp_path):
    import lucid

    lucid.manual_seed(5)
    model = example.DigitLineReader(channels=8, hidden=6)
    path = tmp_path / "m.npz"
    example.save(model, str(path), {"loss": [3.0, 2.0], "cer": [0.5]})
    loaded, history = example.load(str(path))
    assert history == {"loss": [3.0, 2.0], "cer": [0.5]}
    for (name, a), (other, b) in zip(model.named_parameters(), loaded.named_parameters()):
        assert name == other
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_png_is_written(example, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "lines.png"
    result = example.main(["--steps", "2", "--eval-every", "1", "--held-out", "8",
                           "--out", str(out), "--model", str(tmp_path / "m.npz")])
    assert result["plot"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_corrupted_transcripts_drop_or_add_10_to_30_percent(example):
    rng = np.random.default_rng(0)
    for n in range(3, 9):
        digits = rng.integers(10, size=n).tolist()
        allowed = range(max(1, round(0.1 * n)), max(1, round(0.3 * n)) + 1)
        for _ in range(20):
            transcript, kept = example.corrupt(digits, "drop", rng)
            assert transcript == [digits[i] for i in kept] and kept == sorted(set(kept))
            assert n - len(kept) in allowed
            transcript, kept = example.corrupt(digits, "add", rng)
            assert kept == list(range(n)) and len(transcript) - n in allowed
            it = iter(transcript)  # the line's digits, in order, among the transcript's
            assert all(any(d == t for t in it) for d in digits)


def test_placed_and_marked_count_on_hand_made_alignments(example):
    line = {"digits": [3, 5, 3], "spans": [(1, 5), (6, 10), (11, 15)]}
    labels = np.zeros(16, dtype=np.int64)
    labels[2] = 4          # digit 3 inside its first column span
    labels[7:9] = -1       # the wildcard over digit 5, which the transcript lacks
    labels[12] = 6         # digit 5 inside the columns of the second 3: outside
    assert example.placed(labels, line, [0, 2]) == (1, 1)
    assert example.marked(labels, line, [0, 2]) == 1
    labels[12] = 4         # now the second 3 is found too
    assert example.placed(labels, line, [0, 1, 2]) == (2, 0)


def test_in_a_pipe_it_prints_a_plain_line_per_evaluation(tmp_path):
    """`python examples/digit_lines.py | cat`: no bar, no redraws, a line per CER check."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "digit_lines.py"), "--steps", "4", "--eval-every", "2",
         "--held-out", "8", "--no-plot", "--model", str(tmp_path / "m.npz")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr and "it/s" not in result.stderr
    checks = [line.split(":")[0] for line in result.stdout.splitlines()
              if line.startswith("step ")]
    assert checks == ["step 2/4", "step 4/4"]


def test_on_a_terminal_the_bar_goes_to_stderr_and_the_lines_stay(example, tmp_path, capsys,
                                                                 monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(example, "on_terminal", lambda: True)
    example.main(["--steps", "4", "--eval-every", "2", "--held-out", "8", "--no-plot",
                  "--model", str(tmp_path / "m.npz")])
    out = capsys.readouterr()
    assert "4/4" in out.err  # tqdm's bar reached the end
    assert [line.split(":")[0] for line in out.out.splitlines() if line.startswith("step ")] == [
        "step 2/4", "step 4/4"]


def write_pickle(path):
    path.write_bytes(pickle.dumps({"conv1.weight": np.zeros((48, 8, 3))}))


def write_plain_npz(path):  # the arrays of a model, without lucid.save's structure entry
    with open(path, "wb") as f:  # given a path, np.savez would append ".npz" to it
        np.savez(f, **{"conv1.weight": np.zeros((48, 8, 3))})


def write_other_checkpoint(path):
    import lucid

    lucid.save({"model": lucid.nn.Linear(2, 3).state_dict(), "history": {}}, path)


@pytest.mark.parametrize("make, reason", [
    (lambda path: path.write_text("# lucid-ctc\n\nNot a model.\n"),
     "is not a lucid checkpoint: expected a zip file"),
    (write_plain_npz, "is a zip file but not a lucid checkpoint"),
    (write_pickle, "is a pickle file"),
    (write_other_checkpoint, "is a lucid checkpoint but not a digit-line model"),
    (lambda path: None, "No such file or directory"),
])
@pytest.mark.parametrize("option", ["--decode", "--imperfect"])
def test_a_file_that_is_not_a_saved_model_is_said_to_be(example, tmp_path, capsys, make, reason,
                                                        option):
    path = tmp_path / "README.md"
    make(path)
    with pytest.raises(SystemExit) as exit:
        example.main([option, str(path)])
    assert exit.value.code == 2
    out = capsys.readouterr()
    message = out.err.splitlines()
    assert len(message) == 1 and out.out == ""
    assert message[0].startswith(f"digit_lines.py: error: {path} is not a saved model (")
    assert reason in message[0] and "allow_pickle" not in message[0]
    assert "Train and save one with: python examples/digit_lines.py" in message[0]


def test_load_names_the_file_and_what_it_expected(example, tmp_path):
    path = tmp_path / "linear.npz"
    write_other_checkpoint(path)
    with pytest.raises(ValueError, match=rf"^'{re.escape(str(path))}' is a lucid checkpoint but "
                                         r"not a digit-line model: expected a dict of 'model' "
                                         r"\(a DigitLineReader's state_dict\) and 'history', "
                                         r"got \['history', 'model'\]"):
        example.load(str(path))


def test_decode_of_the_readme_exits_with_status_2_and_no_traceback():
    """The command a newcomer might type, as a command."""
    result = subprocess.run([sys.executable, str(EXAMPLES / "digit_lines.py"), "--decode",
                             str(EXAMPLES.parent / "README.md")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "README.md is not a saved model" in result.stderr
