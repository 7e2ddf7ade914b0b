"""What every model config shares: JSON round trips (model folders store configs as JSON)
and the checks on its sizes."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

C = TypeVar("C", bound="ModelConfig")


class ModelConfig:
    """Mixin for dataclass configs: ``to_dict`` / ``from_dict`` and size checks."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"ember.models.{cls.__name__}: unknown keys {unknown}")
        return cls(**d)

    def _check_positive(self, *names: str) -> None:
        for name in names:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(
                    f"ember.models.{type(self).__name__}: {name} must be a positive int, got {v!r}"
                )

    def _check_dropout(self) -> None:
        p = getattr(self, "dropout")  # noqa: B009 - every config with dropout names it so
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(
                f"ember.models.{type(self).__name__}: dropout must be in [0, 1), got {p}"
            )
