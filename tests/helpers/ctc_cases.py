"""What the ctc_loss tests share: tolerances, random feasible batches (padding full of garbage),
lucid's and PyTorch's per-sample losses and gradients, and the comparison with the reference."""

import numpy as np

import lucid
from helpers.ctc_reference import ctc_batch_reference
from lucid.nn.functional import ctc_loss

DTYPES = [np.float32, np.float64]
LUCID_DTYPE = {np.float32: lucid.float32, np.float64: lucid.float64}
# The documented accuracy: float64 loss within 1e-9 relative and gradient within 1e-9 of
# the reference;
# float32 loss within 2e-5 relative. The float32 gradient tolerance is ours: gamma lies in
# [0, 1], so 1e-5 leaves ~100 float32 ulps at 1.0.
LOSS_RTOL = {np.float32: 2e-5, np.float64: 1e-9}
GRAD_ATOL = {np.float32: 1e-5, np.float64: 1e-9}



def np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def required_frames(target):
    """Frames a target needs: one per label, plus a blank between adjacent equal labels."""
    return len(target) + sum(a == b for a, b in zip(target, target[1:]))


class Batch:
    """A random batch with feasible targets: (T, N, C) float64 log-probs, per-sample targets and
    lengths. Sample 0 uses every frame; sample 1 (if any) uses fewer, so there are frames past
    its input length."""

    def __init__(self, seed, T=20, N=4, C=6, S_max=6, blank=0, scale=1.0, repeat_heavy=False):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.T, self.N, self.C, self.S_max, self.blank = T, N, C, S_max, blank
        self.logits = rng.normal(scale=scale, size=(T, N, C))
        self.lp = np_log_softmax(self.logits, axis=2)
        labels = [c for c in range(C) if c != blank]
        if repeat_heavy:
            labels = labels[:2]
        self.target_lengths = [int(s) for s in rng.integers(1, S_max + 1, size=N)]
        self.targets = [[int(c) for c in rng.choice(labels, size=s)] for s in self.target_lengths]
        self.input_lengths = [int(rng.integers(required_frames(t), T + 1)) for t in self.targets]
        self.input_lengths[0] = T
        if N > 1:
            self.input_lengths[1] = max(required_frames(self.targets[1]), T - 5)
        assert max(required_frames(t) for t in self.targets) <= T - 5

    def padded(self, dtype=np.int64):
        """(N, S_max) targets whose padding is garbage: negative, >= C, the blank, huge."""
        garbage = np.array([-7, self.C, self.C + 100, self.blank, 2**30])
        out = self.rng.choice(garbage, size=(self.N, self.S_max))
        for n, target in enumerate(self.targets):
            out[n, : len(target)] = target
        return out.astype(dtype)

    def concatenated(self, dtype=np.int64):
        return np.array([c for target in self.targets for c in target], dtype=dtype)

    def reference(self, dtype=np.float64, lp=None):
        """Reference losses and gradients on the inputs rounded to ``dtype``."""
        lp = self.lp if lp is None else lp
        rounded = lp.astype(dtype).astype(np.float64)
        return ctc_batch_reference(
            rounded, self.targets, self.input_lengths, self.target_lengths, self.blank
        )


def lucid_ctc(lp, targets, input_lengths, target_lengths, dtype=np.float64, **kwargs):
    """(per-sample losses, gradient of the summed loss w.r.t. lp) from lucid, as float64 numpy."""
    kwargs.setdefault("blank", 0)
    with lucid.no_grad():
        x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype])
        losses = ctc_loss(x, targets, input_lengths, target_lengths, reduction="none", **kwargs)
    x = lucid.tensor(lp, dtype=LUCID_DTYPE[dtype], requires_grad=True)
    total = ctc_loss(x, targets, input_lengths, target_lengths, reduction="sum", **kwargs)
    total.backward()
    assert losses.dtype == LUCID_DTYPE[dtype] and total.dtype == LUCID_DTYPE[dtype]
    assert x.grad.dtype == LUCID_DTYPE[dtype] and x.grad.shape == lp.shape
    return losses.numpy().astype(np.float64), x.grad.numpy().astype(np.float64)


def batch_ctc(batch, dtype=np.float64, targets=None, **kwargs):
    targets = batch.padded() if targets is None else targets
    return lucid_ctc(
        batch.lp,
        targets,
        batch.input_lengths,
        batch.target_lengths,
        dtype,
        blank=batch.blank,
        **kwargs,
    )


def assert_close_to_reference(losses, grad, ref_losses, ref_grad, dtype):
    np.testing.assert_allclose(losses, ref_losses, rtol=LOSS_RTOL[dtype], atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=GRAD_ATOL[dtype])


def torch_ctc(torch, lp, targets, il, tl, blank=0):
    """PyTorch's per-sample losses and its gradient of their sum w.r.t. log_probs (float64)."""
    x = torch.tensor(lp, dtype=torch.float64, requires_grad=True)
    concat = torch.tensor([c for t in targets for c in t], dtype=torch.long)
    losses = torch.nn.functional.ctc_loss(
        x, concat, torch.tensor(il), torch.tensor(tl), blank=blank, reduction="none"
    )
    losses.sum().backward()
    return losses.detach().numpy(), x.grad.numpy()
