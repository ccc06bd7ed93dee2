"""Datasets, samplers and the DataLoader that batches them, as ``torch.utils.data`` (and
lucid 3's ``lucid.utils.data``), without worker processes."""

from lucid._missing import module_getattr
from lucid.utils.data.collate import default_collate, default_convert
from lucid.utils.data.dataloader import DataLoader
from lucid.utils.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from lucid.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DataLoader", "default_collate", "default_convert",
]


__getattr__ = module_getattr(__name__)  # names of lucid 3.8 we lack: see lucid/_missing.py
