"""The one rule of a date range: ``[start, end)`` in UTC dates -- ``start`` inclusive, ``end`` exclusive.

Every ``--start/--end`` of the CLI (``materialize``, ``backfill``) and every ``start=/end=`` of the
Python API (``FeatureStore.materialize``) and of the offline store means this, so ``end=2026-07-01``
covers June and nothing of July 1st, wherever it is given. A missing bound is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from featurestream.errors import FeatureStreamError

__all__ = ["DateWindow"]


@dataclass(frozen=True)
class DateWindow:
    """UTC dates ``[start, end)``; ``None`` is an open bound. Refuses ``end <= start`` (an empty window)."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise FeatureStreamError(
                f"end {self.end} must be after start {self.start}: the end date is exclusive",
                hint=f"to include {self.start} itself, give end {self.start + timedelta(days=1)}",
            )

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day < self.end)

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def last_day(self) -> date | None:
        """The last date inside the window (``end`` - 1 day), or None when open-ended."""
        return self.end - timedelta(days=1) if self.end is not None else None

    def time_condition(self, column: str) -> str:
        """A SQL condition (Flink SQL and DuckDB alike) keeping timestamps of ``column`` (already
        quoted for the dialect) inside the window: ``>= start 00:00`` and ``< end 00:00`` (UTC);
        empty when the window is open on both sides."""
        conds = []
        if self.start is not None:
            conds.append(f"{column} >= TIMESTAMP '{self.start.isoformat()} 00:00:00'")
        if self.end is not None:
            conds.append(f"{column} < TIMESTAMP '{self.end.isoformat()} 00:00:00'")
        return " AND ".join(conds)
