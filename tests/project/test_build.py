"""The compiled extensions: OpenMP really on where it should be, the thread-count setting, the
CPU dispatch between baseline and x86-64-v3 kernels, show_config, and what an unbuilt tree says."""

import os
import pathlib
import platform
import re
import shutil
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


def run_python(code, **env):
    """Run code in a fresh interpreter (outside the source tree) and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd="/",
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_extension_is_compiled():
    assert _C._build.__file__.endswith(sysconfig.get_config_var("EXT_SUFFIX"))


def test_every_kernel_is_loaded_for_the_dispatch_target():
    config = _C.build_config()
    assert "_ctc" in config["kernels"] and "_build" not in config["kernels"]
    assert set(config["twinned"]) <= set(config["kernels"])
    suffix = {"baseline": "", "native": ""}.get(_C.DISPATCH, "__" + _C.DISPATCH.replace("-", "_"))
    for name in config["kernels"]:
        module = getattr(_C, name)
        twinned = name in config["twinned"]
        assert module.__name__ == f"lucid._C.{name}{suffix if twinned else ''}"
        assert sys.modules[f"lucid._C.{name}"] is module


def test_twins_are_built_for_the_twinned_kernels_only():
    config = _C.build_config()
    folder = pathlib.Path(_C.__file__).parent
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    for name in config["kernels"]:
        for target in config["twins"]:
            twin = folder / f"{name}__{target.replace('-', '_')}{ext}"
            assert twin.exists() == (name in config["twinned"]), twin
    if config["twins"]:  # the kernels measured to gain (setup.py's TWINNED)
        assert {"_ctc", "_softmax"} <= set(config["twinned"])
    else:
        assert config["twinned"] == []


def test_every_module_file_holds_its_own_code():
    """A twin is the baseline's C compiled with other flags and its init function renamed; if
    the two compiles share an object file (they run in parallel), one module links the other's
    code. Each file must define its own init function and no other's."""
    folder = pathlib.Path(_C.__file__).parent
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    modules = sorted(folder.glob(f"*{ext}"))
    assert modules
    for path in modules:
        name = path.name[: -len(ext)]
        inits = {m.decode() for m in re.findall(rb"PyInit_\w+", path.read_bytes())}
        assert inits == {f"PyInit_{name}"}, (path.name, inits)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 only")
def test_x86_64_builds_carry_twins_unless_native():
    config = _C.build_config()
    if config["native"]:
        assert config["twins"] == [] and _C.DISPATCH == "native"
    elif sys.platform != "win32":
        assert config["twins"] == ["x86-64-v4", "x86-64-v3"]
        if sys.platform == "linux":  # this CPU's own answer, from its flags, against the check
            flags = set(pathlib.Path("/proc/cpuinfo").read_text().split())
            v3 = {"avx2", "fma", "bmi1", "bmi2", "movbe"} <= flags
            v4 = v3 and {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags
            assert _C.cpu_supports("x86-64-v3") == v3
            assert _C.cpu_supports("x86-64-v4") == v4
            best = "x86-64-v4" if v4 else "x86-64-v3" if v3 else "baseline"
            forced = os.environ.get("LUCID_DISPATCH") == "baseline"
            assert _C.DISPATCH == ("baseline" if forced else best)


def test_cpu_supports_rejects_unknown_targets():
    with pytest.raises(ValueError, match="x86-64-v5"):
        _C.cpu_supports("x86-64-v5")


def test_lucid_dispatch_baseline_loads_the_baseline_kernels_with_the_same_results():
    code = ("import numpy as np, lucid\n"
            "from lucid.nn.functional import ctc_loss, log_softmax\n"
            "rng = np.random.default_rng(0)\n"
            "x = lucid.tensor(rng.standard_normal((30, 3, 6)), requires_grad=True)\n"
            "targets = lucid.tensor([[1, 2, 2], [3, 1, 0], [5, 0, 0]])\n"
            "loss = ctc_loss(log_softmax(x, dim=2), targets, [30, 25, 12], [3, 2, 1],"
            " reduction='sum')\n"
            "loss.backward()\n"
            "print(lucid._C.DISPATCH, lucid._C._ctc.__name__)\n"
            "print(repr(float(loss.item())), repr(float(np.abs(x.grad.numpy()).sum())))\n")
    chosen = run_python(code).splitlines()
    forced = run_python(code, LUCID_DISPATCH="baseline").splitlines()
    assert forced[0] == ("native lucid._C._ctc" if _C.DISPATCH == "native"
                         else "baseline lucid._C._ctc")
    # FMA contraction may move the last bits; nothing more
    np.testing.assert_allclose(np.array(chosen[1].split(), float),
                               np.array(forced[1].split(), float), rtol=1e-12)


def test_lucid_dispatch_rejects_unknown_values():
    done = subprocess.run([sys.executable, "-c", "import lucid"], cwd="/",
                          env={**os.environ, "LUCID_DISPATCH": "avx512"},
                          capture_output=True, text=True)
    assert done.returncode != 0 and "LUCID_DISPATCH" in done.stderr


def test_show_config_names_compiler_flags_openmp_threads_and_target(capsys):
    lucid.show_config()
    out = capsys.readouterr().out
    config = _C.build_config()
    assert config["compiler"] in out and " ".join(config["flags"]) in out
    assert _C.DISPATCH in out
    if config["openmp"]:
        assert f"on, {lucid.get_num_threads()} threads" in out
    else:
        assert "off" in out


@pytest.mark.parametrize(("openmp", "on_request", "warns"),
                         [(True, False, False), (False, True, False), (False, False, True)])
def test_serial_warning_only_for_an_unintended_serial_build(openmp, on_request, warns):
    config = {**_C.build_config(), "openmp": openmp, "openmp_off_on_request": on_request}
    message = _C.serial_warning(config)
    assert (message is not None) == warns
    if warns:
        assert "one thread" in message and "LUCID_NO_OPENMP" in message


def test_import_warns_when_built_without_openmp_by_accident():
    code = ("import warnings\nwarnings.simplefilter('error')\n"
            "try:\n    import lucid\nexcept RuntimeWarning as w:\n    print('warned', w)\n")
    out = run_python(code)
    assert out.startswith("warned") == (_C.serial_warning(_C.build_config()) is not None)


def test_an_unbuilt_source_tree_says_what_to_run(tmp_path):
    package = pathlib.Path(lucid.__file__).parent
    shutil.copytree(package, tmp_path / "lucid",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    done = subprocess.run([sys.executable, "-c", "import lucid"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "ImportError: lucid's compiled kernels are not built" in done.stderr
    assert "pip install -e ." in done.stderr


def test_a_kernel_added_after_the_build_says_what_to_run(tmp_path):
    package = pathlib.Path(lucid.__file__).parent
    shutil.copytree(package, tmp_path / "lucid", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "lucid" / "_C" / "_new_kernel.pyx").write_text("")
    done = subprocess.run([sys.executable, "-c", "from lucid._C import _new_kernel"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert "_new_kernel was added to the sources after the last build" in done.stderr


@pytest.mark.skipif(not built_with_gcc_on_linux(), reason="OpenMP is required on Linux/gcc only")
@pytest.mark.skipif(_C.build_config()["openmp_off_on_request"],
                    reason="built serially on purpose (LUCID_NO_OPENMP=1)")
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
