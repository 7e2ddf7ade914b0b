"""How many of n items an ``amount`` removes, with torch.nn.utils.prune's meaning: a
float in [0, 1] is a fraction (rounded to the nearest count), an int >= 0 a count."""

from __future__ import annotations

import numbers


def check_amount(op: str, amount: object) -> None:
    """ValueError/TypeError naming ``op`` unless ``amount`` is a valid fraction or count."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"{op}: amount must be a float fraction in [0, 1] or an int count, "
            f"got {type(amount).__name__}"
        )
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"{op}: amount={amount} is a negative count")
    elif not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"{op}: amount={amount} is outside [0, 1] (a float is a fraction)")


def count(op: str, amount: float | int, n: int, what: str) -> int:
    """The number of the ``n`` ``what`` that ``amount`` removes; an int count larger
    than ``n`` is a ValueError."""
    if isinstance(amount, numbers.Integral):
        if amount > n:
            raise ValueError(f"{op}: amount={amount} is more than the {n} {what} there are")
        return int(amount)
    return round(float(amount) * n)
