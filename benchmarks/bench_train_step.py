"""A training step of the digit-line reader (examples/digit_lines.py): lucid against PyTorch.

    python benchmarks/bench_train_step.py              # 30 timed steps each (about a minute)
    python benchmarks/bench_train_step.py --quick      # smoke run: 3 steps, no claims

One step = forward (Conv1d, ReLU, Conv1d, ReLU, bidirectional GRU with each line's length,
Linear, log_softmax), ctc_loss (reduction "sum" on both sides: the same arithmetic), backward,
Adam. PyTorch runs the same model with the same weights (copied through state_dict), the GRU
on a packed sequence, which is what lucid's ``lengths`` computes; the first step's losses are
checked to agree before anything is timed. Both use the same thread count (--threads, default
lucid's), float32, and the same batches, in one process, alternating step by step; the table
gives the median wall and CPU time of a step and their ratio. On a busy machine the CPU times
are the steadier of the two.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the example: small matrices

import numpy as np  # noqa: E402

import lucid  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_example():
    spec = importlib.util.spec_from_file_location("digit_lines", ROOT / "examples" /
                                                  "digit_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_model(torch, example, state: dict, channels: int, hidden: int):
    nn = torch.nn

    class Reader(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(example.ROWS, channels, kernel_size=3, padding=1)
            self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
            self.rnn = nn.GRU(channels, hidden, bidirectional=True)
            self.head = nn.Linear(2 * hidden, example.DIGITS + 1)

        def forward(self, images, lengths):
            x = torch.relu(self.conv2(torch.relu(self.conv1(images))))
            packed = nn.utils.rnn.pack_padded_sequence(x.permute(2, 0, 1), lengths,
                                                       enforce_sorted=False)
            x, _ = self.rnn(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(x, total_length=images.shape[2])
            return torch.log_softmax(self.head(x), dim=2)

    model = Reader()
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in state.items()})
    return model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per framework")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 steps, 1 warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup = 3, 1
    try:
        import torch
    except ImportError:
        torch = None
    threads = args.threads or lucid.get_num_threads()
    lucid.set_num_threads(threads)

    example = load_example()
    train_set, _ = example.load_split(0)
    rng = np.random.default_rng(0)
    batches = [example.make_batch([example.compose_line(*train_set, rng)
                                   for _ in range(args.batch_size)])
               for _ in range(args.steps + args.warmup)]
    lucid.manual_seed(0)
    model = example.DigitLineReader()
    state = model.state_dict()
    optimizer = lucid.optim.Adam(model.parameters(), lr=1e-3)
    channels, hidden = state["conv1.weight"].shape[0], state["rnn.weight_hh_l0"].shape[1]

    def lucid_step(i):
        batch = batches[i]
        log_probs = model(batch["images"], batch["lengths"])
        loss = lucid.nn.functional.ctc_loss(log_probs, batch["targets"], batch["lengths"],
                                            batch["target_lengths"], reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    steps = {"lucid": lucid_step}
    if torch is not None:
        torch.set_num_threads(threads)
        tmodel = torch_model(torch, example, state, channels, hidden)
        toptimizer = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        tbatches = [(torch.tensor(b["images"].numpy()), torch.tensor(b["lengths"]),
                     torch.tensor(b["targets"]), torch.tensor(b["target_lengths"]))
                    for b in batches]

        def torch_step(i):
            images, lengths, targets, target_lengths = tbatches[i]
            log_probs = tmodel(images, lengths)
            loss = torch.nn.functional.ctc_loss(log_probs, targets, lengths, target_lengths,
                                                reduction="sum")
            toptimizer.zero_grad()
            loss.backward()
            toptimizer.step()
            return loss.item()

        steps["torch"] = torch_step
        first = {name: step(0) for name, step in steps.items()}
        if not np.isclose(first["lucid"], first["torch"], rtol=1e-4):
            raise SystemExit(f"the two models disagree: losses {first}")
    else:
        lucid_step(0)

    times = {name: {"wall": [], "cpu": []} for name in steps}
    for i in range(1, len(batches)):
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step(i)
            if i >= args.warmup:
                times[name]["wall"].append(time.perf_counter() - wall)
                times[name]["cpu"].append(time.process_time() - cpu)

    frames = int(np.median([b["lengths"].max() for b in batches]))
    print(f"digit-line reader training step: batch {args.batch_size}, ~{frames} frames, "
          f"{sum(p.numel() for p in state.values())} parameters, float32, {threads} thread(s), "
          f"median of {len(times['lucid']['wall'])} steps")
    medians = {name: {k: 1e3 * statistics.median(v) for k, v in t.items()}
               for name, t in times.items()}
    print(f"{'':8}{'wall ms':>10}{'CPU ms':>10}")
    for name, m in medians.items():
        print(f"{name:8}{m['wall']:10.1f}{m['cpu']:10.1f}")
    if "torch" in medians:
        ratio = {k: medians["lucid"][k] / medians["torch"][k] for k in ("wall", "cpu")}
        print(f"{'ratio':8}{ratio['wall']:10.2f}{ratio['cpu']:10.2f}   (lucid / torch)")
        medians["ratio"] = ratio
    return medians


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
