"""SymInt: a tensor size read during export that stays tied to where it came from.

With dynamic axes, ``x.shape`` of a traced tensor returns SymInts: ints with the example's
value (so the model's Python runs unchanged) that also remember "dim i of graph value v"
and the arithmetic done on them. An op argument built from them (``y.reshape(b, t, c)``,
``w[: t]``) then becomes a shape computed in the graph (Shape, Add, Mul, ...) instead of
the example's number, so the exported graph follows the input's size at run time.
"""

from __future__ import annotations

from typing import Any

# expr: ("dim", value_name, axis) or (op, a, b) with a, b SymInts or ints.
Expr = tuple


class SymInt(int):
    """An int with a symbolic expression (see the module docstring)."""

    expr: Expr

    def __new__(cls, value: int, expr: Expr) -> SymInt:
        out = super().__new__(cls, value)
        out.expr = expr
        return out

    @staticmethod
    def _op(op: str, a: int, b: int, value: int) -> SymInt:
        return SymInt(value, (op, a, b))

    def __add__(self, o: Any) -> Any:
        return self._op("add", self, o, int(self) + o) if isinstance(o, int) else NotImplemented

    def __radd__(self, o: Any) -> Any:
        return self._op("add", o, self, o + int(self)) if isinstance(o, int) else NotImplemented

    def __sub__(self, o: Any) -> Any:
        return self._op("sub", self, o, int(self) - o) if isinstance(o, int) else NotImplemented

    def __rsub__(self, o: Any) -> Any:
        return self._op("sub", o, self, o - int(self)) if isinstance(o, int) else NotImplemented

    def __mul__(self, o: Any) -> Any:
        return self._op("mul", self, o, int(self) * o) if isinstance(o, int) else NotImplemented

    def __rmul__(self, o: Any) -> Any:
        return self._op("mul", o, self, o * int(self)) if isinstance(o, int) else NotImplemented

    def __floordiv__(self, o: Any) -> Any:
        if not isinstance(o, int):
            return NotImplemented
        return self._op("floordiv", self, o, int(self) // o)

    def __rfloordiv__(self, o: Any) -> Any:
        if not isinstance(o, int):
            return NotImplemented
        return self._op("floordiv", o, self, o // int(self))

    def __mod__(self, o: Any) -> Any:
        return self._op("mod", self, o, int(self) % o) if isinstance(o, int) else NotImplemented

    def __neg__(self) -> Any:
        return self._op("sub", 0, self, -int(self))

    def __pos__(self) -> SymInt:
        return self

    __hash__ = int.__hash__

    def __reduce__(self) -> Any:  # copies and pickles are plain ints
        return (int, (int(self),))


def has_symint(obj: Any) -> bool:
    """True if obj (a SymInt, or a slice / tuple / list holding one) depends on one."""
    if isinstance(obj, SymInt):
        return True
    if isinstance(obj, slice):
        return any(has_symint(v) for v in (obj.start, obj.stop, obj.step))
    if isinstance(obj, (tuple, list)):
        return any(has_symint(v) for v in obj)
    return False
