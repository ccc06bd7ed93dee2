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

from lucid._missing import module_getattr
from lucid.optim import lr_scheduler
from lucid.optim.adam import Adam, AdamW
from lucid.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, StepLR
from lucid.optim.optimizer import Optimizer
from lucid.optim.sgd import SGD

# The schedulers are also reachable here, as in lucid 3 (lucid.optim.StepLR).
__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler",
           "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR"]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
