"""Devices: 'cpu' and 'cuda[:index]'."""

from __future__ import annotations

from typing import Any


class device:  # noqa: N801 - like torch.device
    """Where a tensor lives: ``ember.device('cpu')``, ``ember.device('cuda:0')``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: Any, index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"ember: expected a device string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"ember: unknown device {spec!r} (expected 'cpu' or 'cuda[:N]')")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"ember: bad device index in {spec!r}")
            index = int(idx)
        if kind == "cpu":
            index = None
        elif index is None:
            index = 0
        self.type, self.index = kind, index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}'"
            + ("" if self.index is None else f", index={self.index}")
            + ")"
        )


CPU = device("cpu")


def to_device(obj: Any) -> device:
    return obj if isinstance(obj, device) else device(obj)
