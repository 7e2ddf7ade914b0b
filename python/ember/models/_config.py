"""What every model config shares: JSON round trips (model folders store configs as JSON)
and the checks on its values, declared once per config class.

A config's fields say their type in the annotation (``int``, ``float``, ``bool`` or
``str``, taken exactly: a bool is not an int, a string is never a number), their range
with :func:`bounded` and a string's allowed values with :func:`one_of`; ``DIVISIBLE``
names the fields one of which must divide the other. A
config.json from a stranger passes through these checks before it sizes anything.

>>> @dataclass
... class MyConfig(ModelConfig):
...     width: int = bounded(64, 1, 1 << 16)
...     dropout: float = bounded(0.0, 0.0, 1.0, below=True)
...     bias: bool = True
"""

from __future__ import annotations

import math
from dataclasses import asdict, field, fields
from functools import cache
from typing import Any, ClassVar, TypeVar, get_type_hints

C = TypeVar("C", bound="ModelConfig")

# Upper bounds shared by the architectures: far above any model ember trains; they keep the
# module count (layers) and every size's byte count sane. What a model folder's config
# allocates is bounded by its weights file instead: load_model checks the shapes first.
MAX_SIZE = 1 << 24  # vocabulary and context lengths
MAX_WIDTH = 1 << 16  # embedding, hidden and head counts
MAX_LAYERS = 1024


def bounded(default: Any, lo: float, hi: float, *, below: bool = False) -> Any:
    """A dataclass field whose value must lie in [lo, hi] ([lo, hi) with ``below``)."""
    return field(default=default, metadata={"range": (lo, hi, below)})


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A str dataclass field whose value must be one of ``choices``."""
    return field(default=default, metadata={"choices": tuple(choices)})


def _is(kind: type, v: Any) -> bool:
    """Exact JSON-style typing: bool only for bool, int not bool, float any real number."""
    if kind is str:
        return isinstance(v, str)
    if kind is bool:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    if kind is int:
        return isinstance(v, int)
    return isinstance(v, (int, float)) and math.isfinite(v)


class ModelConfig:
    """Mixin for dataclass configs: ``to_dict`` / ``from_dict`` and the value checks
    (``validate``, run on construction; models run it again, as fields can be set)."""

    DIVISIBLE: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __post_init__(self) -> None:
        self.validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: Any) -> C:
        if not isinstance(d, dict):
            raise ValueError(
                f"ember.models.{cls.__name__}: expected an object of fields, got {type(d).__name__}"
            )
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(repr(k) for k in d if k not in names)
        if unknown:
            raise ValueError(f"ember.models.{cls.__name__}: unknown keys [{', '.join(unknown)}]")
        return cls(**d)

    @classmethod
    @cache
    def _spec(cls) -> tuple[tuple[str, type, tuple | None, tuple | None], ...]:
        hints = get_type_hints(cls)
        return tuple(
            (f.name, hints[f.name], f.metadata.get("range"), f.metadata.get("choices"))
            for f in fields(cls)  # type: ignore[arg-type]
        )

    def validate(self) -> None:
        """ValueError naming the first field whose type or range is wrong."""
        name = type(self).__name__
        for field_name, kind, rng, choices in self._spec():
            v = getattr(self, field_name)
            want = f"{'a' if kind is not int else 'an'} {kind.__name__}"
            if rng is not None:
                lo, hi, below = rng
                want += f" in [{lo}, {hi}{')' if below else ']'}"
            if choices is not None:
                want = f"one of {', '.join(map(repr, choices))}"
            ok = _is(kind, v)
            if ok and rng is not None:
                ok = lo <= v < hi if below else lo <= v <= hi
            if ok and choices is not None:
                ok = v in choices
            if not ok:
                raise ValueError(f"ember.models.{name}: {field_name} must be {want}, got {v!r}")
        for a, b in self.DIVISIBLE:
            if getattr(self, a) % getattr(self, b):
                raise ValueError(
                    f"ember.models.{name}: {a} ({getattr(self, a)}) must be divisible by {b} "
                    f"({getattr(self, b)})"
                )
