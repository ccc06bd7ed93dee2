"""Outputs of ctc_loss and forced_align on many random batches, stored from the code as it was
before the wildcard and skips were added, so that a test can check that without them (their
penalties None) every number is still the same, bit for bit.

    python tests/helpers/plain_outputs.py                          # the twins this CPU runs
    LUCID_DISPATCH=baseline python tests/helpers/plain_outputs.py  # the baseline kernels

Only run it on code known to give the old numbers (a checkout of that code, built, first on
PYTHONPATH). The inputs are rebuilt from integer draws (seeded), and their digests are stored
too: a change in numpy's generator shows up as "inputs changed", not as a kernel change. Each
output is stored as the SHA-256 of its bytes (the gradients would make the file large), once
for each kernel build this machine runs (baseline, x86-64-v3, x86-64-v4: compiled for wider
vectors, a kernel may round differently), and the per-sample losses and path scores in full,
so that a failure can say by how much. Each run adds its builds' digests to the file and keeps
what it holds already (delete the file to start again).
"""

import hashlib
import os
import sys

import numpy as np

CASES = 240
PATH = os.path.join(os.path.dirname(__file__), "plain_outputs.npz")


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def case(i):
    """Batch i: (T, N, C) logits of either dtype, padded targets and lengths. Kinds: peaky or
    flat logits, repeats, a few -inf emissions, infeasible samples, empty targets."""
    rng = np.random.default_rng([2024, i])
    T = int(rng.integers(1, 25))
    N = int(rng.integers(1, 5))
    C = int(rng.integers(2, 8))
    dtype = np.float32 if i % 2 else np.float64
    scale = [1, 10, 100, 1000][(i // 2) % 4]  # 1000: emissions for guard (a)
    logits = (rng.integers(-1000, 1000, size=(T, N, C)) * (scale / 1000)).astype(dtype)
    if i % 7 == 3:  # impossible emissions
        impossible = rng.integers(0, 2, size=logits.shape) == 1
        impossible[..., int(rng.integers(0, C))] = False  # no frame without a class
        logits[impossible] = -np.inf
    S_max = int(rng.integers(0, 7))
    alphabet = int(rng.integers(1, C))  # a small one makes repeats common
    targets = rng.integers(1, alphabet + 1, size=(N, S_max))
    target_lengths = rng.integers(0, S_max + 1, size=N)
    input_lengths = rng.integers(0, T + 1, size=N)
    input_lengths[0] = T
    return logits, targets, input_lengths, target_lengths


def loss_outputs(logits, targets, input_lengths, target_lengths, fused, **penalties):
    """Per-sample losses and the gradient of their sum, with respect to the logits when fused
    (ctc_loss of log_softmax(logits)), else to log_probs (the log_softmax output as a leaf)."""
    import lucid
    from lucid.nn.functional import ctc_loss, log_softmax

    z = lucid.tensor(logits, requires_grad=True)
    lp = log_softmax(z, dim=2)
    x = lp if fused else lucid.tensor(lp.numpy().copy(), requires_grad=True)
    losses = ctc_loss(x, targets, input_lengths, target_lengths, reduction="none", **penalties)
    losses.sum().backward()
    return losses.numpy(), (z if fused else x).grad.numpy()


def align_outputs(logits, targets, input_lengths, target_lengths, forced_align):
    """Paths and per-frame scores of forced_align on log_softmax(logits), as (N, T) numpy arrays;
    `forced_align(lp, targets, input_lengths, target_lengths)` takes (T, N, C) numpy log_probs
    and returns numpy (N, T) arrays, whatever the public function's layout (the outputs were
    stored when it took (T, N, C) and returned numpy arrays)."""
    x = logits.astype(np.float64)
    lp = (x - np.logaddexp.reduce(x, axis=2, keepdims=True)).astype(logits.dtype)
    return forced_align(lp, targets, input_lengths, target_lengths)


def plain_forced_align(lp, targets, il, tl, **penalties):
    """lucid.ctc.forced_align on (T, N, C) numpy log_probs, as (N, T) numpy arrays."""
    import lucid
    from lucid.ctc import forced_align
    labels, scores = forced_align(lucid.tensor(lp).transpose(0, 1), targets, il, tl, **penalties)
    return labels.numpy(), scores.numpy()


def stored_cases():
    """(i, the inputs of case i, the stored outputs, case i's stored values: "losses" (without,
    then with log_softmax fused) and "scores"), having checked the inputs' digest."""
    stored = np.load(PATH)
    loss_at = score_at = 0
    for i in range(CASES):
        args = case(i)
        if digest(*args) != stored["inputs"][i]:
            raise AssertionError(f"case {i}: the inputs changed (numpy's generator?), not the code")
        N = args[0].shape[1]
        values = {"losses": (stored["losses"][loss_at: loss_at + N],
                             stored["losses"][loss_at + N: loss_at + 2 * N]),
                  "scores": stored["scores"][score_at: score_at + N]}
        loss_at, score_at = loss_at + 2 * N, score_at + N
        yield i, args, stored, values


def use_kernels(target):
    """Make every module that holds one of lucid's twinned kernels hold the `target` twin of it
    ("x86-64-v3", ...), as lucid._C would have chosen on a CPU that has no better one."""
    import importlib

    import lucid._C as kernels
    for name in kernels._CONFIG["twinned"]:
        suffix = "__" + target.replace("-", "_")
        old, new = getattr(kernels, name), importlib.import_module(f"lucid._C.{name}{suffix}")
        for module in list(sys.modules.values()):
            for attr, value in list(getattr(module, "__dict__", {}).items()):
                if value is old:
                    setattr(module, attr, new)


def compute(forced_align, targets):
    out = {}
    for target in targets:
        if target != lucid_dispatch():
            use_kernels(target)
        inputs, losses, loss_digests, align_digests, scores = [], [], [], [], []
        for i in range(CASES):
            args = case(i)
            inputs.append(digest(*args))
            for fused in (False, True):
                loss, grad = loss_outputs(*args, fused=fused)
                losses.append(loss.astype(np.float64))
                loss_digests.append(digest(loss, grad))
            path, frame_scores = align_outputs(*args, forced_align=forced_align)
            align_digests.append(digest(path, frame_scores))
            scores.append(frame_scores.astype(np.float64).sum(-1))
        out[f"loss_digests:{target}"] = np.array(loss_digests)
        out[f"align_digests:{target}"] = np.array(align_digests)
        if "losses" not in out:
            out.update(inputs=np.array(inputs), losses=np.concatenate(losses),
                       scores=np.concatenate(scores))
    return out


def stored_digests(stored, kind):
    """The stored digests ("loss" or "align") of the kernel build this process runs, or None."""
    key = f"{kind}_digests:{lucid_dispatch()}"
    return stored[key] if key in stored else None


def lucid_dispatch():
    """The kernel build lucid chose in this process: "x86-64-v4", "baseline", ..."""
    import lucid._C
    return lucid._C.DISPATCH


if __name__ == "__main__":
    import warnings

    import lucid._C
    warnings.simplefilter("ignore")
    print("lucid from", lucid._C.__file__)
    chosen = lucid_dispatch()
    builds = [chosen] + ([] if chosen in ("baseline", "native") else
                         [t for t in lucid._C._CONFIG["twins"]
                          if t != chosen and lucid._C.cpu_supports(t)])
    stored = dict(np.load(PATH)) if os.path.exists(PATH) else {}
    np.savez_compressed(PATH, **{**compute(plain_forced_align, builds), **stored})
    print("wrote", PATH, "for", builds)
