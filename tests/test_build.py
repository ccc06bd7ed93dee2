"""The compiled extension: OpenMP really on where it should be, and the thread-count setting."""

import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import lucid
from lucid import _C, _threads


def built_with_gcc_on_linux():
    cc = (sysconfig.get_config_var("CC") or "").split()
    return sys.platform.startswith("linux") and bool(cc) and "gcc" in os.path.basename(cc[0])


@pytest.fixture
def restore_threads(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", _threads._num_threads)


def test_extension_is_compiled():
    assert _C._openmp.__file__.endswith(sysconfig.get_config_var("EXT_SUFFIX"))


@pytest.mark.skipif(not built_with_gcc_on_linux(), reason="OpenMP is required on Linux/gcc only")
def test_openmp_enabled_on_linux_gcc():
    assert _C.openmp_enabled() is True, "the extension was built without OpenMP (silently serial)"


def test_threads_in_region():
    assert _C.threads_in_region(1) == 1
    if _C.openmp_enabled():
        assert _C.threads_in_region(2) == 2
        assert _C.threads_in_region(3) == 3
    else:
        assert _C.threads_in_region(2) == 1
        assert _C.max_threads() == 1


def test_default_thread_count_is_openmps(restore_threads):
    _threads._num_threads = None
    assert lucid.get_num_threads() == _C.max_threads() >= 1


@pytest.mark.skipif(not _C.openmp_enabled(), reason="needs an OpenMP build")
def test_default_thread_count_honours_omp_num_threads():
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run(
        [sys.executable, "-c", "import lucid; print(lucid.get_num_threads())"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "3"


@pytest.mark.parametrize("n", [1, 2, 7, np.int64(3), np.int32(2), np.uint8(4), 1024])
def test_set_get_num_threads_round_trip(restore_threads, n):
    lucid.set_num_threads(n)
    assert lucid.get_num_threads() == n
    assert type(lucid.get_num_threads()) is int


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-1, ValueError), (1025, ValueError), (2**31 - 1, ValueError),
    (2**31, ValueError), (2**63, ValueError), (np.int64(-3), ValueError),
    (2.0, TypeError), (np.float64(2.0), TypeError), ("2", TypeError), (True, TypeError),
    (np.bool_(True), TypeError), (None, TypeError),
])
def test_set_num_threads_rejects_what_is_not_an_int_in_range(restore_threads, bad, error):
    before = lucid.get_num_threads()
    with pytest.raises(error, match="set_num_threads"):
        lucid.set_num_threads(bad)
    assert lucid.get_num_threads() == before
