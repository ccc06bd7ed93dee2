"""The example of lucid's ctc_loss documentation: a CTC loss on random logits, its value and
its gradient.

Run: python examples/quickstart.py
"""

import lucid
from lucid.nn.functional import ctc_loss, log_softmax

lucid.manual_seed(0)

# T=4 frames, N=1 batch, C=3 classes (blank=0)
logits = lucid.randn(4, 1, 3, requires_grad=True)
log_p = log_softmax(logits, dim=2)
targets = lucid.tensor([[1, 2]], dtype=lucid.int32)
il = lucid.tensor([4], dtype=lucid.int32)
tl = lucid.tensor([2], dtype=lucid.int32)

loss = ctc_loss(log_p, targets, il, tl)
loss.backward()

print("loss:", loss)
print("d loss / d logits:", logits.grad)
print(f"OpenMP: {lucid._C.openmp_enabled()}, threads: {lucid.get_num_threads()}")
