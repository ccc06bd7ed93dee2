"""Fixtures of the ctc_loss tests: the thread count (restored afterwards) and PyTorch (skipped
cleanly without it)."""

import pytest

import lucid


@pytest.fixture
def restore_threads():
    old = lucid.get_num_threads()
    yield
    lucid.set_num_threads(old)


@pytest.fixture(params=[1, 2], ids=["threads1", "threads2"])
def threads(request, restore_threads):
    lucid.set_num_threads(request.param)
    return request.param


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
