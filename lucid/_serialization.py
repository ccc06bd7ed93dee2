"""lucid.save and lucid.load: checkpoints that loading cannot turn into running code.

Why the format is shaped as it is:

(a) A pickle is a program: unpickling a crafted file can call any function. So the default
    file holds data only, a NumPy ``.npz`` (a zip of ``.npy`` arrays) read back with
    ``np.load(..., allow_pickle=False)``, plus one entry, ``structure``, holding a JSON
    description of the object that names the array of every tensor. Neither ``np.load``
    without pickle nor ``json.loads`` builds anything but arrays, strings, numbers, lists and
    dicts, so the worst a crafted file can do is raise ValueError. This is the contract of
    ``torch.load(weights_only=True)``, PyTorch's default since 2.6.
(b) In the JSON, None, bools, ints, strings and finite floats stand for themselves; everything
    else is an object tagged by its ``kind``. Tagging keeps what JSON would lose: tuple versus
    list, dict versus OrderedDict, non-string dict keys (dicts are lists of key/value pairs),
    inf and nan (JSON has no such numbers), and which arrays are tensors (with their device
    tag and requires_grad), which are NumPy arrays and which NumPy scalars.
(c) Container types are matched exactly, not by isinstance: a subclass (a namedtuple, a
    defaultdict) would come back as its base class, so it is refused at save time instead,
    with the path of the object inside the structure. The one exception is Tensor: a
    Parameter is saved as the tensor it is.
(d) Everything is encoded before the file is opened, so a refused object leaves an existing
    checkpoint untouched. The loader checks every node (known kind, exact fields, arrays
    that exist, a bounded depth) rather than trusting the writer.
(e) Pickle stays available, on request only: ``save(..., pickle=True)`` writes one and
    ``load(..., weights_only=False)`` reads one, for objects of any type from trusted files.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle as _pickle
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from lucid._device import TYPES as DEVICE_TYPES
from lucid._device import device
from lucid._dtype import to_dtype
from lucid._tensor import Tensor

PathOrFile = str | bytes | os.PathLike | IO[bytes]
MapLocation = str | device | dict[str, str] | Callable[[Tensor, str], Tensor] | None

FORMAT = "lucid-ctc checkpoint"
VERSION = 1
STRUCTURE = "structure"  # the .npz entry holding the JSON; the arrays are arr_0, arr_1, ...
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"  # pickle protocols 2 and up start with PROTO; lucid.save wrote 5
MAX_DEPTH = 100  # nested containers; real checkpoints use a handful, a cycle would use all

# The fields of each tagged node besides "kind": the loader accepts exactly these.
FIELDS = {
    "list": {"items"},
    "tuple": {"items"},
    "dict": {"items"},
    "OrderedDict": {"items"},
    "float": {"value"},
    "tensor": {"array", "device", "requires_grad"},
    "ndarray": {"array"},
    "numpy_scalar": {"array"},
}
KEY_KINDS = {"tuple", "float"}  # what a dict key may be besides a str, int, bool or None
SPECIAL_FLOATS = {"inf", "-inf", "nan"}  # repr() of the floats JSON cannot hold
SUPPORTED = ("Tensor, numpy array or scalar, dict, OrderedDict, list, tuple, str, int, float, "
             "bool or None")
PICKLE_HINT = ("to save objects of any type, pass pickle=True (such a file loads only with "
               "lucid.load(f, weights_only=False), which runs code: only for files you trust)")


def save(obj: Any, f: PathOrFile, *, pickle_protocol: int | None = None,
         pickle: bool = False) -> None:
    """Write ``obj`` to a path or a binary file object.

    The file is a NumPy ``.npz`` that holds only data, so loading it cannot run code. It
    keeps tensors (values, dtype, device tag, ``requires_grad``; not ``.grad``), NumPy
    arrays and scalars, and any nesting of dict, OrderedDict, list and tuple over them and
    over str, int, float (inf and nan included), bool and None; dict keys may be str, int,
    float, bool, None or tuples of those. That covers ``Module.state_dict()``, an
    optimizer's and an lr scheduler's ``state_dict()``. Anything else raises TypeError
    naming where it sits in ``obj``, unless ``pickle=True``.

    Parameters
    ----------
    obj : object
        What to save.
    f : str, bytes, os.PathLike or binary file object
        Where to write; a file object needs ``write`` (one object per file).
    pickle_protocol : int, optional
        The pickle protocol with ``pickle=True`` (default: the highest). The default format
        has no protocol, so passing one without ``pickle=True`` is an error.
    pickle : bool, default False
        Write a pickle instead, which holds objects of any type but runs code when loaded:
        :func:`load` reads it only with ``weights_only=False``.

    Examples
    --------
    >>> import io, lucid
    >>> buffer = io.BytesIO()
    >>> lucid.save({"w": lucid.ones(2, requires_grad=True), "step": 3}, buffer)
    >>> _ = buffer.seek(0)
    >>> lucid.load(buffer)
    {'w': Tensor([1., 1.], requires_grad=True), 'step': 3}
    """
    if not isinstance(pickle, bool):
        raise TypeError(f"lucid.save: pickle must be True or False, got {pickle!r}")
    if pickle_protocol is not None and not pickle:
        raise ValueError(f"lucid.save: pickle_protocol={pickle_protocol!r} applies to pickle "
                         f"files only; pass pickle=True too, or drop it for the default format")
    if pickle:
        protocol = _pickle.HIGHEST_PROTOCOL if pickle_protocol is None else pickle_protocol
        _with_file(f, "save", "wb", lambda out: _pickle.dump(obj, out, protocol=protocol))
        return
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, "obj", 0, arrays)
    header = {"format": FORMAT, "version": VERSION, "root": root}
    text = json.dumps(header, allow_nan=False)  # non-finite floats were tagged by _encode
    # np.savez is given a file object, never a path: with a path it would append ".npz".
    _with_file(f, "save", "wb", lambda out: np.savez(out, **{STRUCTURE: np.array(text)},
                                                     **arrays))


def load(f: PathOrFile, map_location: MapLocation = None, *, weights_only: bool = True) -> Any:
    """Read an object written by :func:`save`.

    The default format is read without pickle: a crafted file raises ValueError and can run
    nothing. A pickle file (written with ``save(..., pickle=True)``, or by ``lucid.save``
    before its default became the ``.npz`` format) is refused unless ``weights_only=False``.

    Parameters
    ----------
    f : str, bytes, os.PathLike or binary file object
        Where to read from; a file object needs ``read``.
    map_location : str, lucid.device, dict or callable, optional
        Re-tag the loaded tensors: a device (``"cpu"``, ``"metal"``) for all of them, a dict
        from saved device to device (``{"metal": "cpu"}``), or a function
        ``(tensor, saved_device_name) -> tensor``. Moved tensors are new leaf tensors. With
        a pickle, only tensors inside dicts, lists and tuples are reached.
    weights_only : bool, default True
        With False, a pickle file is loaded too: that runs whatever code the file holds, so
        only pass it for files you trust. Files in the default format load the same either
        way.

    Returns
    -------
    object
        What was saved: each container of the type it was saved as, tensors as new leaf
        tensors (a saved Parameter comes back as a Tensor with ``requires_grad=True``).

    Examples
    --------
    >>> import io, lucid
    >>> buffer = io.BytesIO()
    >>> lucid.save(lucid.nn.Linear(2, 1).state_dict(), buffer)
    >>> _ = buffer.seek(0)
    >>> list(lucid.load(buffer, map_location="metal").items())[1]
    ('bias', Tensor([...], device='metal'))
    """
    if not isinstance(weights_only, bool):
        raise TypeError(f"lucid.load: weights_only must be True or False, got "
                        f"{weights_only!r}")
    relocate = _relocator(map_location)  # a bad map_location fails before the file is read
    obj = _with_file(f, "load", "rb", lambda src: _read(src, _name(f), weights_only))
    return obj if relocate is None else _relocate(obj, relocate)


# ---------------------------------------------------------------- files

def _with_file(f: PathOrFile, caller: str, mode: str, use: Callable[[IO[bytes]], Any]) -> Any:
    """``use(file object)`` on ``f`` itself, or on the file it names, opened in ``mode``."""
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, mode) as file:
            return use(file)
    method = "write" if "w" in mode else "read"
    if not hasattr(f, method):
        raise TypeError(f"lucid.{caller}: f must be a path (str, bytes or os.PathLike) or a "
                        f"binary file object with {method}(), got {type(f).__name__}")
    return use(f)


def _name(f: PathOrFile) -> str:
    return repr(os.fsdecode(f)) if isinstance(f, (str, bytes, os.PathLike)) else "the file object"


def _read(src: IO[bytes], name: str, weights_only: bool) -> Any:
    """Dispatch on the first bytes: the .npz format, a pickle (on request only), or neither."""
    if not (hasattr(src, "seekable") and src.seekable()):
        src = io.BytesIO(src.read())  # the magic bytes must be read twice
    start = src.tell()
    magic = src.read(len(ZIP_MAGIC))
    src.seek(start)
    if magic == ZIP_MAGIC:
        return _read_npz(src, name, start)
    if not weights_only:
        return _pickle.load(src)
    if magic.startswith(PICKLE_MAGIC):
        raise ValueError(
            f"lucid.load: {name} is a pickle file (written with lucid.save(..., pickle=True), "
            f"or by lucid.save before its default became an .npz file). Unpickling can run any "
            f"code the file holds, so it is refused by default. If you trust the file, load it "
            f"with lucid.load(f, weights_only=False); to convert it once: "
            f"lucid.save(lucid.load(path, weights_only=False), new_path)")
    found = "it is empty" if not magic else f"its first bytes are {magic!r}"
    raise ValueError(f"lucid.load: {name} is not a lucid checkpoint: expected a zip file "
                     f"written by lucid.save (an .npz, starting with {ZIP_MAGIC!r}), but "
                     f"{found}; if it is a pickle you trust, pass weights_only=False")


def _read_npz(src: IO[bytes], name: str, start: int) -> Any:
    try:
        with np.load(src, allow_pickle=False) as npz:
            # zipfile finds an archive from its end, so of two checkpoints written one after
            # the other into a stream it would silently read the second.
            first = min((info.header_offset for info in npz.zip.infolist()), default=start)
            if first != start:
                raise ValueError(f"lucid.load: {name} holds more than one checkpoint from the "
                                 f"read position on (the last starts {first - start} bytes "
                                 f"further); the format holds one object per file or stream: "
                                 f"save several as one dict")
            if STRUCTURE not in npz.files:
                raise ValueError(f"lucid.load: {name} is a zip file but not a lucid checkpoint "
                                 f"(it has no {STRUCTURE!r} entry); a plain .npz of arrays "
                                 f"reads with numpy.load")
            try:
                entry = npz[STRUCTURE]
            except ValueError as error:  # an object array, or a damaged .npy header or body
                raise ValueError(f"lucid.load: {name}: the {STRUCTURE!r} entry is not a "
                                 f"readable str array: {error}") from error
            header = _parse_structure(entry, name)
            return _decode(header["root"], "obj", 0, npz)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"lucid.load: {name} is not a readable zip file: {error}") from error


def _parse_structure(entry: Any, name: str) -> dict[str, Any]:
    # np.load hands a member that is not an .npy array back as raw bytes.
    if not isinstance(entry, np.ndarray) or entry.dtype.kind != "U" or entry.ndim != 0:
        got = (f"dtype {entry.dtype} with shape {entry.shape}" if isinstance(entry, np.ndarray)
               else "raw bytes")
        raise ValueError(f"lucid.load: {name}: expected the {STRUCTURE!r} entry to be a 0-d "
                         f"str array, got {got}")
    try:
        # The writer tags inf and nan itself: bare NaN/Infinity mean someone else wrote this.
        header = json.loads(str(entry[()]), parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"lucid.load: {name}: the structure is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an int too long to convert
        raise ValueError(f"lucid.load: {name}: the structure is not valid JSON: "
                         f"{error}") from error
    if (not isinstance(header, dict) or set(header) != {"format", "version", "root"}
            or header["format"] != FORMAT):
        raise ValueError(f"lucid.load: {name}: expected a structure "
                         f"{{'format': {FORMAT!r}, 'version': ..., 'root': ...}}, got "
                         f"{_preview(header)}")
    if header["version"] != VERSION:
        raise ValueError(f"lucid.load: {name} has format version {header['version']!r}; this "
                         f"lucid-ctc reads version {VERSION}")
    return header


def _refuse_constant(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON (lucid.save writes inf and nan as tagged nodes)")


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- encoding

def _encode(obj: Any, path: str, depth: int, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON node for ``obj`` at ``path``; arrays go into ``arrays``, named as np.savez
    names positional ones."""
    kind = type(obj)
    if obj is None or kind in (bool, int, str):
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else {"kind": "float", "value": repr(obj)}
    if isinstance(obj, Tensor):
        return {"kind": "tensor", "array": _store(obj.numpy(), path, arrays),
                "device": obj.device.type, "requires_grad": obj.requires_grad}
    if kind is np.ndarray:
        return {"kind": "ndarray", "array": _store(obj, path, arrays)}
    if isinstance(obj, np.generic):
        return {"kind": "numpy_scalar", "array": _store(np.asarray(obj), path, arrays)}
    if kind in (list, tuple, dict, OrderedDict) and depth >= MAX_DEPTH:
        raise ValueError(f"lucid.save: {_preview(path)} nests more than {MAX_DEPTH} containers "
                         f"deep (does a container hold itself?)")
    if kind in (list, tuple):
        return {"kind": kind.__name__,
                "items": [_encode(v, f"{path}[{i}]", depth + 1, arrays)
                          for i, v in enumerate(obj)]}
    if kind in (dict, OrderedDict):
        items = []
        for key, value in obj.items():
            if not _is_key(key):
                raise TypeError(f"lucid.save: {path} has a key of type {type(key).__name__} "
                                f"({_preview(key)}); keys must be str, int, float, bool, None "
                                f"or tuples of them, or {PICKLE_HINT}")
            items.append([_encode(key, path, depth + 1, arrays),
                          _encode(value, f"{path}[{key!r}]", depth + 1, arrays)])
        return {"kind": kind.__name__, "items": items}
    raise TypeError(f"lucid.save: {path} is a {kind.__module__}.{kind.__qualname__}; the "
                    f"default format holds a {SUPPORTED}; {PICKLE_HINT}")


def _is_key(key: Any) -> bool:
    if type(key) is tuple:
        return all(_is_key(k) for k in key)
    return key is None or type(key) in (str, int, float, bool)


def _store(array: np.ndarray, path: str, arrays: dict[str, np.ndarray]) -> str:
    if array.dtype.hasobject:
        raise TypeError(f"lucid.save: {path} holds Python objects (dtype {array.dtype}), which "
                        f"only a pickle can store; convert it to a numeric array, or "
                        f"{PICKLE_HINT}")
    name = f"arr_{len(arrays)}"
    arrays[name] = array
    return name


# ---------------------------------------------------------------- decoding

def _decode(node: Any, path: str, depth: int, npz: Any, key: bool = False) -> Any:
    """The object for ``node`` at ``path``, checking the node as it goes; ``key`` limits it to
    what a dict key may be."""
    if node is None or type(node) in (bool, int, float, str):
        return node
    kind = node.get("kind") if type(node) is dict else None
    if type(kind) is not str or kind not in (KEY_KINDS if key else FIELDS):
        what = f"kind {kind!r}" if type(node) is dict else f"a JSON {type(node).__name__}"
        allowed = "a str, int, float, bool, None or a node of kind " + ", ".join(
            sorted(KEY_KINDS if key else FIELDS))
        raise ValueError(f"lucid.load: {path}{' (a dict key)' if key else ''}: expected "
                         f"{allowed}; got {what}")
    if set(node) != {"kind"} | FIELDS[kind]:
        raise ValueError(f"lucid.load: {path}: a {kind} node has the fields "
                         f"{sorted(FIELDS[kind])}, got {sorted(set(node) - {'kind'})}")
    if kind == "float":
        if type(node["value"]) is not str or node["value"] not in SPECIAL_FLOATS:
            raise ValueError(f"lucid.load: {path}: expected a float value in "
                             f"{sorted(SPECIAL_FLOATS)}, got {_preview(node['value'])}")
        return float(node["value"])
    if kind in ("list", "tuple", "dict", "OrderedDict"):
        if depth >= MAX_DEPTH:
            raise ValueError(f"lucid.load: {_preview(path)}: nested more than {MAX_DEPTH} "
                             f"containers deep")
        items = node["items"]
        if type(items) is not list:
            raise ValueError(f"lucid.load: {path}: expected the items of a {kind} as a JSON "
                             f"list, got {type(items).__name__}")
        if kind in ("list", "tuple"):
            values = [_decode(v, f"{path}[{i}]", depth + 1, npz, key)
                      for i, v in enumerate(items)]
            return values if kind == "list" else tuple(values)
        return _decode_dict(kind, items, path, depth, npz)
    array = _array(node["array"], path, npz)
    if kind == "ndarray":
        return array
    if kind == "numpy_scalar":
        if array.ndim != 0:
            raise ValueError(f"lucid.load: {path}: a numpy scalar needs a 0-d array, got "
                             f"shape {array.shape}")
        return array[()]
    return _tensor(node, array, path)


def _decode_dict(kind: str, items: list, path: str, depth: int, npz: Any) -> dict:
    out = {} if kind == "dict" else OrderedDict()
    for i, pair in enumerate(items):
        if type(pair) is not list or len(pair) != 2:
            raise ValueError(f"lucid.load: {path}: expected item {i} of a {kind} to be a "
                             f"[key, value] pair, got {_preview(pair)}")
        k = _decode(pair[0], f"{path} key {i}", depth + 1, npz, key=True)
        if k in out:
            raise ValueError(f"lucid.load: {path}: the key {k!r} appears twice")
        out[k] = _decode(pair[1], f"{path}[{k!r}]", depth + 1, npz)
    return out


def _array(name: Any, path: str, npz: Any) -> np.ndarray:
    if type(name) is not str or name == STRUCTURE or name not in npz.files:
        raise ValueError(f"lucid.load: {path}: refers to array {_preview(name)}, which the "
                         f"file does not hold")
    try:
        array = npz[name]
    except ValueError as error:  # an object array, refused by allow_pickle=False
        raise ValueError(f"lucid.load: {path}: array {name!r}: {error}") from error
    if not isinstance(array, np.ndarray):  # a member that is not an .npy comes back as bytes
        raise ValueError(f"lucid.load: {path}: entry {name!r} is not an .npy array")
    return array


def _tensor(node: dict[str, Any], array: np.ndarray, path: str) -> Tensor:
    try:
        dtype = to_dtype(array.dtype)
    except TypeError:
        raise ValueError(f"lucid.load: {path}: a tensor's array has dtype {array.dtype}, "
                         f"which is not a lucid dtype") from None
    if type(node["device"]) is not str or node["device"] not in DEVICE_TYPES:
        raise ValueError(f"lucid.load: {path}: expected device in {list(DEVICE_TYPES)}, got "
                         f"{_preview(node['device'])}")
    requires_grad = node["requires_grad"]
    if type(requires_grad) is not bool or (requires_grad and not dtype.is_floating_point):
        raise ValueError(f"lucid.load: {path}: expected requires_grad to be a bool (True only "
                         f"for floating point), got {requires_grad!r} for a {dtype} tensor")
    return Tensor(array, device=node["device"], requires_grad=requires_grad)


# ---------------------------------------------------------------- map_location

def _relocator(map_location: MapLocation) -> Callable[[Tensor], Tensor] | None:
    """The function that gives a loaded tensor its new device tag, from ``map_location``."""
    if map_location is None:
        return None
    if isinstance(map_location, (str, device)):
        target = device(map_location)
        return lambda t: _moved(t, target)
    if isinstance(map_location, dict):
        mapping = {device(k).type: device(v) for k, v in map_location.items()}
        return lambda t: _moved(t, mapping.get(t.device.type, t.device))
    if callable(map_location):
        return lambda t: map_location(t, t.device.type)
    raise TypeError(f"lucid.load: map_location must be a device, a dict from device to device "
                    f"or a callable (tensor, device name) -> tensor, got "
                    f"{type(map_location).__name__}")


def _moved(t: Tensor, target: device) -> Tensor:
    if t.device == target:
        return t
    return Tensor(t.numpy(), device=target, requires_grad=t.requires_grad)


def _relocate(obj: Any, relocate: Callable[[Tensor], Tensor]) -> Any:
    if isinstance(obj, Tensor):
        return relocate(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_relocate(v, relocate) for v in obj)
    if type(obj) in (dict, OrderedDict):
        return type(obj)((k, _relocate(v, relocate)) for k, v in obj.items())
    return obj
