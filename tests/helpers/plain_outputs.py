"""Outputs of ctc_loss and forced_align on many random batches, stored from the code as it was
before the wildcard and skips were added, so that a test can check that without them (their
penalties None) every number is still the same, bit for bit.

    python tests/helpers/plain_outputs.py    # (re)writes plain_outputs.npz beside this file

Only run it on code known to give the old numbers. The inputs are rebuilt from integer draws
(seeded), and their digests are stored too: a change in numpy's generator shows up as "inputs
changed", not as a kernel change. Each output is stored as the SHA-256 of its bytes (the
gradients would make the file large), and the per-sample losses and path scores also in full,
so that a failure can say by how much.
"""

import hashlib
import os

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


def loss_outputs(logits, targets, input_lengths, target_lengths, fused):
    """Per-sample losses and the gradient of their sum, with respect to the logits when fused
    (ctc_loss of log_softmax(logits)), else to log_probs (the log_softmax output as a leaf)."""
    import lucid
    from lucid.nn.functional import ctc_loss, log_softmax

    z = lucid.tensor(logits, requires_grad=True)
    lp = log_softmax(z, dim=2)
    x = lp if fused else lucid.tensor(lp.numpy().copy(), requires_grad=True)
    losses = ctc_loss(x, targets, input_lengths, target_lengths, reduction="none")
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


def plain_forced_align(lp, targets, il, tl):
    """lucid.ctc.forced_align with both penalties None, on (T, N, C) numpy log_probs."""
    import lucid
    from lucid.ctc import forced_align
    labels, scores = forced_align(lucid.tensor(lp).transpose(0, 1), targets, il, tl,
                                  star_penalty=None, skip_penalty=None)
    return labels.numpy(), scores.numpy()


def stored_cases():
    """(i, the inputs of case i, the stored outputs), having checked the inputs' digest."""
    stored = np.load(PATH)
    for i in range(CASES):
        args = case(i)
        if digest(*args) != stored["inputs"][i]:
            raise AssertionError(f"case {i}: the inputs changed (numpy's generator?), not the code")
        yield i, args, stored


def compute(forced_align):
    inputs, losses, loss_digests, paths, align_digests, scores = [], [], [], [], [], []
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
        paths.append(path)
    return dict(inputs=np.array(inputs), loss_digests=np.array(loss_digests),
                align_digests=np.array(align_digests),
                losses=np.concatenate(losses), scores=np.concatenate(scores))


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    np.savez_compressed(PATH, **compute(plain_forced_align))
    print("wrote", PATH)
