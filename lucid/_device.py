"""lucid.device: where a tensor lives, "cpu" or "metal" as in lucid 3.

Real lucid runs "cpu" tensors on Apple Accelerate and "metal" tensors on the GPU through MLX.
Here both are tags: every tensor is computed on the CPU, and the tag only travels with the
tensor (an op refuses to mix tags, as lucid does). "gpu", lucid 2's name for the GPU stream,
is accepted as an alias of "metal" so older code keeps running.
"""

from __future__ import annotations

TYPES = ("cpu", "metal")
ALIASES = {"gpu": "metal"}


class device:
    """A device descriptor: ``lucid.device("cpu")``, ``lucid.device("metal")`` or ``"metal:0"``.

    Compares equal to another device of the same type and to its type's name.

    >>> import lucid
    >>> d = lucid.device("metal")
    >>> d, d.type, d == "metal"
    (device('metal'), 'metal', True)
    >>> lucid.device("gpu")  # lucid 2's name, kept as an alias
    device('metal')
    """

    __slots__ = ("type", "index")

    def __init__(self, type_or_str: str | device, index: int = 0) -> None:
        if isinstance(type_or_str, device):
            type_or_str, index = type_or_str.type, type_or_str.index
        if not isinstance(type_or_str, str):
            raise TypeError(f"device: expected a str such as 'cpu' or 'metal', got "
                            f"{type(type_or_str).__name__}")
        name = type_or_str.strip()
        if ":" in name:
            name, idx = name.split(":", 1)
            if not idx.strip().isdigit():
                raise ValueError(f"device: expected 'type:index', got {type_or_str!r}")
            index = int(idx)
        name = ALIASES.get(name, name)
        if name not in TYPES:
            raise ValueError(f"device: expected 'cpu' or 'metal' ('gpu' is an alias of "
                             f"'metal'), got {type_or_str!r}")
        if index != 0:
            raise ValueError(f"device: only index 0 exists, got {index}")
        self.type = name
        self.index = 0

    @property
    def is_metal(self) -> bool:
        """Whether this is the (tagged) GPU stream."""
        return self.type == "metal"

    def __repr__(self) -> str:
        return f"device({self.type!r})"

    def __str__(self) -> str:
        return self.type

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                return device(other).type == self.type
            except (TypeError, ValueError):
                return False
        if isinstance(other, device):
            return other.type == self.type
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.type)


DeviceLike = str | device

CPU = device("cpu")
METAL = device("metal")


_default = CPU  # where factories put tensors when no device is given


def get_default_device() -> str:
    """The device type new tensors get when no device is given: "cpu" unless
    :func:`set_default_device` changed it (a str, as lucid 3 returns)."""
    return _default.type


def set_default_device(d: DeviceLike) -> None:
    """Tag the tensors that factories, ``lucid.Tensor(...)`` and new layers make with ``d``
    when they are given no device ("cpu", "metal" or a :class:`device`). Existing tensors
    keep their tag.

    >>> import lucid
    >>> lucid.set_default_device("metal")
    >>> lucid.zeros(2).device, lucid.nn.Linear(2, 1).weight.device
    (device('metal'), device('metal'))
    >>> lucid.set_default_device("cpu")
    """
    global _default
    if not isinstance(d, (str, device)):
        raise TypeError(f"set_default_device: expected a lucid.device or a str such as 'cpu' or "
                        f"'metal', got {type(d).__name__}")
    _default = METAL if device(d).is_metal else CPU


def to_device(value: DeviceLike | None) -> device:
    """Resolve a device or its name; None means the default device ("cpu" unless
    :func:`set_default_device` says otherwise). Returns one of two shared instances."""
    if value is None:
        return _default
    if value is CPU:
        return CPU
    if value is METAL:
        return METAL
    return METAL if device(value).is_metal else CPU


def is_device_like(value: object) -> bool:
    """Whether ``value`` names a device (so ``t.to(value)`` is a move, not a cast)."""
    if isinstance(value, device):
        return True
    if not isinstance(value, str):
        return False
    try:
        device(value)
    except ValueError:
        return False
    return True
