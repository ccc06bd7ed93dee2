"""lucid.save / lucid.load: the default format round-trips checkpoints exactly, can neither hold
nor run code, and refuses crafted files with ValueError; pickle only on request."""

import collections
import inspect
import io
import json
import math
import pickle
import re
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lucid
from lucid import nn
from lucid.optim import Adam
from lucid.optim.lr_scheduler import StepLR


class Payload:
    """Unpickling this creates the file ``marker``: a stand-in for any code a pickle can run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def round_trip(obj, **load_options):
    buffer = io.BytesIO()
    lucid.save(obj, buffer)
    buffer.seek(0)
    return lucid.load(buffer, **load_options)


def assert_same(a, b):
    """Equal values of the same types all the way down (nan equals nan, -0.0 is not 0.0)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert_same(list(a), list(b))
        for x, y in zip(a.values(), b.values()):
            assert_same(x, y)
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)), (a, b)
    elif isinstance(a, lucid.Tensor):
        assert (a.dtype, a.device, a.requires_grad) == (b.dtype, b.device, b.requires_grad)
        assert b.is_leaf and b.grad is None
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


# ---------------------------------------------------------------------- code never runs
def test_a_crafted_pickle_is_refused_without_running(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "evil.lucid"
    path.write_bytes(pickle.dumps({"w": Payload(marker)}, protocol=pickle.HIGHEST_PROTOCOL))
    with pytest.raises(ValueError, match=r"is a pickle file.*weights_only=False"):
        lucid.load(path)
    with pytest.raises(ValueError, match="the file object is a pickle file"), \
            open(path, "rb") as f:
        lucid.load(f)
    assert not marker.exists()
    # The payload is real: the opt-in runs it, which is why it is an opt-in.
    lucid.load(path, weights_only=False)
    assert marker.exists()


def test_an_old_protocol_pickle_is_refused_without_running(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "evil.lucid"
    path.write_bytes(pickle.dumps(Payload(marker), protocol=0))  # no PROTO byte in front
    with pytest.raises(ValueError, match="not a lucid checkpoint.*weights_only=False"):
        lucid.load(path)
    assert not marker.exists()


def test_an_object_array_in_the_npz_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    payload = np.array([Payload(marker)], dtype=object)  # np.savez pickles object arrays
    data = tampered({"kind": "ndarray", "array": "arr_0"}, arr_0=payload)
    with pytest.raises(ValueError, match=r"obj: array 'arr_0'.*allow_pickle"):
        lucid.load(io.BytesIO(data))
    assert not marker.exists()


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [lucid.float16, lucid.float32, lucid.float64, lucid.int32,
                                   lucid.int64, lucid.bool_])
@pytest.mark.parametrize("device", ["cpu", "metal"])
def test_tensors_keep_values_dtype_and_device(dtype, device):
    lucid.manual_seed(0)
    for shape in [(), (0,), (3,), (2, 3, 4)]:
        t = (lucid.randn(*shape) * 5).to(dtype).to(device)
        assert_same(t, round_trip(t))


def test_requires_grad_is_kept_and_the_grad_is_not():
    w = lucid.tensor([1.5, -2.0], dtype=lucid.float64, requires_grad=True)
    (w * w).sum().backward()
    loaded = round_trip({"w": w, "frozen": w.detach()})
    assert loaded["w"].requires_grad and loaded["w"].is_leaf and loaded["w"].grad is None
    assert not loaded["frozen"].requires_grad
    assert loaded["w"].tolist() == [1.5, -2.0]


def test_a_parameter_comes_back_as_a_tensor_requiring_grad():
    p = nn.Linear(2, 3).weight
    loaded = round_trip(p)
    assert type(loaded) is lucid.Tensor and loaded.requires_grad
    np.testing.assert_array_equal(loaded.numpy(), p.numpy())


def test_numpy_arrays_and_scalars_keep_their_dtypes():
    obj = [np.arange(6, dtype=np.uint8).reshape(2, 3), np.array(["ab", "c"]), np.float32(0.5),
           np.int16(-3), np.bool_(True), np.float64(math.inf), np.zeros((0, 2), np.complex64)]
    assert_same(obj, round_trip(obj))


def test_nested_structures_keep_their_types_keys_and_special_floats():
    obj = collections.OrderedDict([
        ("tuple", (1, 2.5, "x", None, True)),
        ("list", [[], (), {}, [()]]),
        (3, {0: "int key", -1.5: "float key", (1, ("a", None)): "tuple key", None: 0,
             True: 1}),
        ("floats", [math.inf, -math.inf, math.nan, -0.0, 1e-310, 2 ** 70, -(2 ** 64)]),
        ("text", ["", "ü\n\"'\\", "\ud800", "{\"kind\": \"tensor\"}"]),
    ])
    assert_same(obj, round_trip(obj))
    assert_same(obj, round_trip(obj, weights_only=False))


def test_a_state_dict_loads_into_a_fresh_module(tmp_path):
    lucid.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    path = tmp_path / "model.lucid"
    lucid.save(model.state_dict(), path)
    lucid.manual_seed(2)
    fresh = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x = lucid.randn(5, 4)
    assert not np.array_equal(fresh(x).numpy(), model(x).numpy())
    state = lucid.load(path)
    assert type(state) is collections.OrderedDict and list(state) == list(model.state_dict())
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


def train_step(model, opt, sched, x, y):
    opt.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    opt.step()
    sched.step()


@pytest.mark.parametrize("amsgrad", [False, True])
def test_an_adam_checkpoint_resumes_with_identical_steps(tmp_path, amsgrad):
    def build(seed):
        lucid.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        opt = Adam(model.parameters(), lr=0.05, betas=(0.8, 0.99), amsgrad=amsgrad)
        return model, opt, StepLR(opt, step_size=2, gamma=0.5)

    lucid.manual_seed(0)
    x, y = lucid.randn(6, 3), lucid.randn(6, 2)
    model, opt, sched = build(seed=1)
    for _ in range(3):
        train_step(model, opt, sched, x, y)
    checkpoint = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "epoch": 3}
    lucid.save(checkpoint, tmp_path / "checkpoint.lucid")

    loaded = lucid.load(tmp_path / "checkpoint.lucid")
    assert_same(checkpoint["optimizer"], loaded["optimizer"])
    assert_same(checkpoint["scheduler"], loaded["scheduler"])
    resumed, resumed_opt, resumed_sched = build(seed=2)
    resumed.load_state_dict(loaded["model"])
    resumed_opt.load_state_dict(loaded["optimizer"])
    resumed_sched.load_state_dict(loaded["scheduler"])
    for _ in range(3):
        train_step(model, opt, sched, x, y)
        train_step(resumed, resumed_opt, resumed_sched, x, y)
        for a, b in zip(model.parameters(), resumed.parameters()):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert resumed_sched.get_last_lr() == sched.get_last_lr()


keys = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                 st.floats(allow_nan=False), st.tuples(st.integers(), st.text(max_size=3)))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.builds(lambda v, rg: lucid.tensor(v, dtype=lucid.float64, requires_grad=rg),
              st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4),
              st.booleans()),
    st.builds(np.array, st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=4)))
structures = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(keys, inner, max_size=4),
    st.dictionaries(keys, inner, max_size=4).map(collections.OrderedDict),
), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(structures)
def test_random_nested_structures_round_trip(obj):
    assert_same(obj, round_trip(obj))


# ---------------------------------------------------------------------- refused at save time
class Unsupported:
    pass


@pytest.mark.parametrize("obj, path, found", [
    ({"model": {"fc.weight": Unsupported()}}, r"obj\['model'\]\['fc.weight'\]",
     "test_serialization.Unsupported"),
    ([1, (2, {3})], r"obj\[1\]\[1\]", "builtins.set"),
    ({"f": len}, r"obj\['f'\]", "builtin_function_or_method"),
    (collections.defaultdict(list), "obj", "collections.defaultdict"),
    ({0: collections.namedtuple("Point", "x y")(1, 2)}, r"obj\[0\]", "Point"),
    (b"bytes", "obj", "builtins.bytes"),
    ({"a": {"b": np.array([1, None])}}, r"obj\['a'\]\['b'\] holds Python objects", "object"),
])
def test_an_unsupported_object_is_named_by_its_path(obj, path, found):
    with pytest.raises(TypeError, match=rf"lucid.save: {path}.*{found}.*pickle=True"):
        lucid.save(obj, io.BytesIO())


def test_an_unsupported_key_is_named_by_its_container():
    with pytest.raises(TypeError, match=r"obj\['state'\] has a key of type Tensor"):
        lucid.save({"state": {lucid.zeros(1): 1}}, io.BytesIO())
    with pytest.raises(TypeError, match=r"obj has a key of type tuple"):
        lucid.save({(1, frozenset()): 1}, io.BytesIO())


def test_a_refused_object_leaves_the_existing_file_alone(tmp_path):
    path = tmp_path / "checkpoint.lucid"
    lucid.save({"step": 1}, path)
    with pytest.raises(TypeError):
        lucid.save({"step": 2, "bad": Unsupported()}, path)
    assert lucid.load(path) == {"step": 1}


def test_a_container_that_holds_itself_is_refused():
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match=r"obj\[0\]\[0\].*more than 100 containers deep"):
        lucid.save(cycle, io.BytesIO())


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="pickle_protocol=4 applies to pickle files only"):
        lucid.save({}, io.BytesIO(), pickle_protocol=4)
    with pytest.raises(TypeError, match="pickle must be True or False, got 'yes'"):
        lucid.save({}, io.BytesIO(), pickle="yes")
    with pytest.raises(TypeError, match=r"f must be a path .* with write\(\), got int"):
        lucid.save({}, 3)
    with pytest.raises(TypeError, match=r"f must be a path .* with read\(\), got list"):
        lucid.load([])
    with pytest.raises(TypeError, match="weights_only must be True or False, got None"):
        lucid.load(io.BytesIO(), weights_only=None)
    with pytest.raises(TypeError, match="map_location must be a device.*got int"):
        lucid.load(io.BytesIO(), map_location=0)


# ---------------------------------------------------------------------- pickle on request
def test_pickle_files_need_the_opt_in_both_ways(tmp_path):
    path = tmp_path / "any.pkl"
    obj = {"counter": collections.Counter("abca"), "w": lucid.ones(2, requires_grad=True)}
    lucid.save(obj, path, pickle=True, pickle_protocol=2)
    assert path.read_bytes()[:2] == b"\x80\x02"
    with pytest.raises(ValueError, match="is a pickle file"):
        lucid.load(path)
    loaded = lucid.load(path, weights_only=False)
    assert loaded["counter"] == obj["counter"] and loaded["w"].requires_grad


def test_a_checkpoint_of_the_pickle_era_loads_with_the_opt_in_and_converts(tmp_path):
    model = nn.Linear(3, 2)
    old, new = tmp_path / "old.lucid", tmp_path / "new.lucid"
    with open(old, "wb") as f:  # what lucid.save wrote before the .npz format
        pickle.dump(model.state_dict(), f, protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ValueError, match=r"lucid.save\(lucid.load\(path, weights_only=False\), "
                                         r"new_path\)"):
        lucid.load(old)
    lucid.save(lucid.load(old, weights_only=False), new)
    assert_same(model.state_dict(), lucid.load(new))


# ---------------------------------------------------------------------- paths and streams
def test_paths_and_file_objects(tmp_path):
    obj = {"w": lucid.arange(4)}
    for path in [tmp_path / "a.lucid", str(tmp_path / "b.ckpt"), bytes(tmp_path / "c")]:
        lucid.save(obj, path)
        assert_same(obj, lucid.load(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.lucid", "b.ckpt", "c"]
    with open(tmp_path / "d", "wb") as f:
        f.write(b"header")  # the checkpoint need not start the stream
        lucid.save(obj, f)
    with open(tmp_path / "d", "rb") as f:
        assert f.read(6) == b"header"
        assert_same(obj, lucid.load(f))


class ReadOnlyStream:
    """A pipe-like source: read() only, no seek."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def read(self, size=-1):
        return self._data.read(size)


def test_a_stream_that_cannot_seek():
    buffer = io.BytesIO()
    lucid.save({"w": lucid.ones(3)}, buffer)
    assert_same({"w": lucid.ones(3)}, lucid.load(ReadOnlyStream(buffer.getvalue())))


def test_the_file_is_a_plain_npz():
    buffer = io.BytesIO()
    lucid.save({"w": lucid.full((2,), 7.0)}, buffer)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        assert npz.files == ["structure", "arr_0"]
        assert npz["arr_0"].tolist() == [7.0, 7.0]
        assert json.loads(str(npz["structure"]))["root"]["items"][0][0] == "w"


def test_map_location():
    obj = {"a": lucid.ones(1, device="metal", requires_grad=True), "b": [lucid.zeros(1)]}
    on_cpu = round_trip(obj, map_location="cpu")
    assert on_cpu["a"].device == "cpu" and on_cpu["a"].requires_grad and on_cpu["a"].is_leaf
    swapped = round_trip(obj, map_location={"gpu": "cpu", "cpu": lucid.device("metal")})
    assert (swapped["a"].device, swapped["b"][0].device) == ("cpu", "metal")
    seen = []
    round_trip(obj, map_location=lambda t, name: seen.append(name) or t)
    assert seen == ["metal", "cpu"]


# ---------------------------------------------------------------------- crafted .npz files
def tampered(root, header=None, **arrays):
    """A checkpoint written by hand: ``root`` as the structure's root node."""
    header = {"format": "lucid-ctc checkpoint", "version": 1, "root": root} if header is None \
        else header
    text = header if isinstance(header, str) else json.dumps(header)
    buffer = io.BytesIO()
    np.savez(buffer, structure=np.array(text), **arrays)
    return buffer.getvalue()


def nested(depth):
    node = 0
    for _ in range(depth):
        node = {"kind": "list", "items": [node]}
    return node


tensor_node = {"kind": "tensor", "array": "arr_0", "device": "cpu", "requires_grad": False}


@pytest.mark.parametrize("root, arrays, message", [
    ({"kind": "set", "items": []}, {}, r"obj: expected .* node of kind .*; got kind 'set'"),
    ({"items": []}, {}, "got kind None"),
    ([1, 2], {}, "got a JSON list"),
    ({"kind": "list", "items": [], "extra": 1}, {},
     r"fields \['items'\], got \['extra', 'items'\]"),
    ({"kind": "list", "items": {"a": 1}}, {}, "items of a list as a JSON list, got dict"),
    ({"kind": "dict", "items": [["a"]]}, {}, r"item 0 of a dict to be a \[key, value\] pair"),
    ({"kind": "dict", "items": [["a", 1], ["a", 2]]}, {}, "the key 'a' appears twice"),
    ({"kind": "dict", "items": [[{"kind": "list", "items": []}, 1]]}, {},
     r"obj key 0 \(a dict key\).*got kind 'list'"),
    ({"kind": "float", "value": "1e400"}, {}, "float value in"),
    ({"kind": ["list"], "items": []}, {}, r"got kind \['list'\]"),
    ({"kind": "float", "value": ["inf"]}, {}, "float value in"),
    (tensor_node, {}, "refers to array 'arr_0', which the file does not hold"),
    ({**tensor_node, "array": "structure"}, {}, "refers to array 'structure'"),
    ({**tensor_node, "array": ["arr_0"]}, {"arr_0": np.zeros(1)}, "refers to array"),
    (tensor_node, {"arr_0": np.zeros(1, np.complex128)}, "complex128, which is not a lucid"),
    ({**tensor_node, "device": "cuda"}, {"arr_0": np.zeros(1)}, "device in .*got 'cuda'"),
    ({**tensor_node, "requires_grad": 1}, {"arr_0": np.zeros(1)}, "requires_grad to be a bool"),
    ({**tensor_node, "requires_grad": True}, {"arr_0": np.zeros(1, np.int64)},
     "got True for a lucid.int64 tensor"),
    ({"kind": "numpy_scalar", "array": "arr_0"}, {"arr_0": np.zeros(2)}, "needs a 0-d array"),
    (nested(101), {}, "more than 100 containers deep"),
])
def test_a_tampered_structure_is_refused(root, arrays, message):
    with pytest.raises(ValueError, match=message):
        lucid.load(io.BytesIO(tampered(root, **arrays)))


@pytest.mark.parametrize("header, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("{not json", "not valid JSON"),
    ('{"format": "lucid-ctc checkpoint", "version": 1, "root": NaN}', "NaN is not JSON"),
    ('{"format": "lucid-ctc checkpoint", "version": 1, "root": ' + "9" * 5000 + "}",
     "not valid JSON"),
    ({"format": "pickle", "version": 1, "root": 0}, "expected a structure"),
    ({"format": "lucid-ctc checkpoint", "version": 2, "root": 0}, "format version 2"),
    ({"format": "lucid-ctc checkpoint", "version": 1}, "expected a structure"),
])
def test_a_tampered_header_is_refused(header, message):
    with pytest.raises(ValueError, match=message):
        lucid.load(io.BytesIO(tampered(None, header=header)))


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    plain = io.BytesIO()
    np.savez(plain, w=np.ones(2))
    with pytest.raises(ValueError, match="zip file but not a lucid checkpoint"):
        lucid.load(io.BytesIO(plain.getvalue()))
    wrong_entry = io.BytesIO()
    np.savez(wrong_entry, structure=np.ones(2))
    with pytest.raises(ValueError, match="to be a 0-d str array, got dtype float64"):
        lucid.load(io.BytesIO(wrong_entry.getvalue()))
    good = io.BytesIO()
    lucid.save({"w": lucid.ones(1000)}, good)
    with pytest.raises(ValueError, match="not a readable zip file"):
        lucid.load(io.BytesIO(good.getvalue()[:500]))
    compressed = io.BytesIO()
    np.savez_compressed(compressed, structure=np.array(json.dumps(
        {"format": "lucid-ctc checkpoint", "version": 1, "root": {"kind": "ndarray",
                                                                  "array": "arr_0"}})),
        arr_0=np.arange(10_000))
    damaged = bytearray(compressed.getvalue())
    damaged[100] ^= 0xFF  # inside the deflated structure entry
    with pytest.raises(ValueError, match="not a readable zip file"):
        lucid.load(io.BytesIO(bytes(damaged)))
    for data in [b"", b"hello", b"\x93NUMPY"]:
        with pytest.raises(ValueError, match="not a lucid checkpoint: expected a zip file"):
            lucid.load(io.BytesIO(data))


def _npy(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=True)
    return out.getvalue()


def _zip(**members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("content, says", [
    (b"# lucid-ctc\n\nA README, not a model.\n",
     r"is not a lucid checkpoint: expected a zip file written by lucid.save .*first bytes are "
     r"b'# lu'"),
    (b"", "is not a lucid checkpoint: expected a zip file .* but it is empty"),
    (_npy(np.arange(3)), r"not a lucid checkpoint: .*first bytes are b'\\x93NUM'"),
    (pickle.dumps({"w": [1.0]}, protocol=4), "is a pickle file"),
    (_zip(**{"w.npy": _npy(np.ones(2))}), "is a zip file but not a lucid checkpoint .*numpy.load"),
    # numpy's own errors for these ("Object arrays cannot be loaded...", "EOF: reading array
    # data...") name no file: lucid.load says which file and which entry
    (_zip(**{"structure.npy": _npy(np.array([{}], dtype=object))}),
     "'structure' entry is not a readable str array: Object arrays cannot be loaded"),
    (_zip(**{"structure.npy": _npy(np.array('{"format": "x"}'))[:-4]}),
     "'structure' entry is not a readable str array: EOF"),
])
def test_a_file_that_is_not_a_checkpoint_gets_a_value_error_naming_it(tmp_path, content, says):
    path = tmp_path / "not_a_model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^lucid.load: {re.escape(repr(str(path)))}.*{says}"):
        lucid.load(path)
    assert path.read_bytes() == content  # untouched


def test_zip_members_that_are_not_npy_arrays_are_refused():
    def zip_of(**members):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return io.BytesIO(buffer.getvalue())

    with pytest.raises(ValueError, match="'structure' entry to be a 0-d str array, got raw"):
        lucid.load(zip_of(**{"structure.npy": b"garbage"}))
    valid = io.BytesIO()
    np.lib.format.write_array(valid, np.array(json.dumps(
        {"format": "lucid-ctc checkpoint", "version": 1, "root": tensor_node})))
    with pytest.raises(ValueError, match="entry 'arr_0' is not an .npy array"):
        lucid.load(zip_of(**{"structure.npy": valid.getvalue(), "arr_0.npy": b"\x00" * 64}))


def test_two_checkpoints_in_one_stream_are_not_mistaken_for_one():
    buffer = io.BytesIO()
    lucid.save({"first": 1}, buffer)
    lucid.save({"second": 2}, buffer)
    buffer.seek(0)
    with pytest.raises(ValueError, match="more than one checkpoint.*one object per file"):
        lucid.load(buffer)


def test_what_the_differences_page_says_of_torch(tmp_path):
    torch = pytest.importorskip("torch")
    parameters = inspect.signature(torch.load).parameters
    assert list(parameters) == ["f", "map_location", "pickle_module", "weights_only", "mmap",
                                "pickle_load_args"]
    assert parameters["weights_only"].kind is inspect.Parameter.KEYWORD_ONLY
    marker, path = tmp_path / "ran", tmp_path / "evil.pt"
    torch.save({"w": Payload(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # weights_only=None is True
    assert not marker.exists()
    t = torch.ones(2)
    torch.save({"a": t, "b": t, "p": torch.nn.Parameter(torch.ones(1)),
                "size": torch.Size([2]), "counter": collections.Counter("ab")}, path)
    loaded = torch.load(path)
    assert loaded["a"] is loaded["b"] and type(loaded["p"]) is torch.nn.Parameter
    assert loaded["size"] == torch.Size([2]) and loaded["counter"] == collections.Counter("ab")
    shared = lucid.ones(2)
    ours = round_trip({"a": shared, "b": shared})
    assert ours["a"] is not ours["b"]  # where lucid-ctc differs: each occurrence is its own


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.sampled_from(["list", "tuple", "dict", "OrderedDict", "float", "tensor",
                               "ndarray", "numpy_scalar", "inf", "nan", "arr_0", "arr_1",
                               "structure", "cpu", "metal"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["kind", "items", "value", "array", "device",
                                         "requires_grad"]), inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_structure_either_loads_or_raises_value_error(root):
    data = tampered(root, arr_0=np.zeros(2, np.float32), arr_1=np.array(1.5))
    try:
        lucid.load(io.BytesIO(data))
    except ValueError:
        pass
