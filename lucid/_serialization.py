"""lucid.save and lucid.load: checkpoints of tensors, state dicts and plain Python containers.

The format is Python's pickle, as lucid's own ``.lucid`` checkpoints: load only files you
trust, since unpickling can run code.
"""

from __future__ import annotations

import os
import pickle
from typing import IO, Any, Union

PathOrFile = Union[str, os.PathLike, IO[bytes]]


def save(obj: Any, f: PathOrFile) -> None:
    """Write ``obj`` (a tensor, a state dict, ...) to a path or a binary file object.

    >>> import io, lucid
    >>> buffer = io.BytesIO()
    >>> lucid.save({"w": lucid.ones(2)}, buffer)
    >>> _ = buffer.seek(0)
    >>> lucid.load(buffer)["w"]
    Tensor([1., 1.])
    """
    if hasattr(f, "write"):
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        return
    with open(f, "wb") as out:
        pickle.dump(obj, out, protocol=pickle.HIGHEST_PROTOCOL)


def load(f: PathOrFile) -> Any:
    """Read an object written by :func:`save`. Only load files you trust (pickle)."""
    if hasattr(f, "read"):
        return pickle.load(f)
    with open(f, "rb") as src:
        return pickle.load(src)
