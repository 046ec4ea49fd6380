"""Ages and start dates written the way people type them: ``90d``, ``12w``, ``1y``, ``2024-01-31``.

Used by ``marsad prune`` (``--failures-older-than 90d``) and ``marsad report``
(``--since 30d`` or ``--since 2024-01-01``). Months are not accepted: ``m`` means
minutes in ``--interval`` and a month has no fixed length; say ``30d`` or ``13w``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from marsad.errors import InputError

_AGE = re.compile(r"^\s*(\d+)\s*([dwy])\s*$", re.IGNORECASE)
_DAYS_PER_UNIT = {"d": 1, "w": 7, "y": 365}


def parse_age(text: str) -> timedelta:
    """``90d`` → 90 days, ``12w`` → 84 days, ``1y`` → 365 days."""
    found = _AGE.match(text or "")
    if not found:
        raise InputError(
            f"age {text!r} is not understood: write a number and a unit, d (days), w (weeks) "
            "or y (years of 365 days), e.g. 90d, 12w, 1y"
        )
    return timedelta(days=int(found.group(1)) * _DAYS_PER_UNIT[found.group(2).lower()])


def parse_since(text: str, today: date | None = None) -> date:
    """A start day: ``YYYY-MM-DD``, or an age back from ``today`` (UTC) such as ``30d``."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        pass
    try:
        age = parse_age(text)
    except InputError:
        raise InputError(
            f"--since {text!r} is neither a date (YYYY-MM-DD) nor an age such as 30d, 12w, 1y"
        ) from None
    return (today or datetime.now(UTC).date()) - age
