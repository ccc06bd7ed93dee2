"""Fixtures of the layer tests: PyTorch with float64 as its default dtype (restored
afterwards), so that layers built on both sides compare in double precision."""

import pytest


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(torch.float32)
