"""Optimisers that update a model's parameters from their ``.grad``, as torch.optim does, and
learning-rate schedules (:mod:`lucid.optim.lr_scheduler`).

>>> import lucid
>>> w = lucid.tensor([1.0, -2.0], requires_grad=True)
>>> opt = lucid.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w
Tensor([ 0.8, -1.6], requires_grad=True)
"""

from lucid.optim import lr_scheduler
from lucid.optim.adam import Adam, AdamW
from lucid.optim.optimizer import Optimizer
from lucid.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
