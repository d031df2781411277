"""Human durations (``90s``, ``10m``, ``1h``, ``7d``, ``250ms``) and Flink INTERVAL literals."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration", "parse_flink_interval"]

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)

_FLINK_UNITS = {
    "MILLISECOND": timedelta(milliseconds=1),
    "SECOND": timedelta(seconds=1),
    "MINUTE": timedelta(minutes=1),
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
}
_FLINK_INTERVAL = re.compile(r"INTERVAL\s+'(\d+(?:\.\d+)?)'\s+(MILLISECOND|SECOND|MINUTE|HOUR|DAY)S?\b", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``"10m"`` -> ``timedelta(minutes=10)``. Raises ``ValueError`` naming the accepted forms."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"expected a duration such as 30s, 10m, 1h or 7d, found {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def format_duration(td: timedelta) -> str:
    """The shortest exact form: ``timedelta(minutes=90)`` -> ``"90m"``."""
    ms = round(td.total_seconds() * 1000)
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def flink_intervals(text: str) -> list[timedelta]:
    """Every ``INTERVAL 'n' UNIT`` literal in ``text``, in order."""
    return [float(m.group(1)) * _FLINK_UNITS[m.group(2).upper()] for m in _FLINK_INTERVAL.finditer(text)]


def parse_flink_interval(text: str) -> timedelta | None:
    """The first ``INTERVAL 'n' UNIT`` literal in ``text``, or None."""
    m = _FLINK_INTERVAL.search(text)
    if not m:
        return None
    return float(m.group(1)) * _FLINK_UNITS[m.group(2).upper()]
