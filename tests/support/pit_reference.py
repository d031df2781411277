"""A brute-force, pure-Python point-in-time join: the reference the DuckDB join is tested against.

Deliberately naive (a scan of every feature row per label row) so that it is obviously right;
a test oracle only (shipped code never imports it), shared by the PIT suites.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ReferenceView", "reference_pit_join", "utc"]

_MIN = datetime.min.replace(tzinfo=UTC)


def utc(ts: datetime) -> datetime:
    """Naive -> UTC, zoned -> converted to UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass
class ReferenceView:
    """One view's offline rows and request, for :func:`reference_pit_join`."""

    name: str
    entities: Sequence[str]
    rows: Sequence[Mapping[str, Any]]  # entity keys, feature_time, created_at (optional), features
    features: Sequence[str]
    max_age: timedelta
    defaults: Mapping[str, Any] = field(default_factory=dict)
    watermark_delay: timedelta = timedelta(0)
    # When set: the first instant a row with this feature_time is no longer live (replaces max_age).
    expires: Callable[[datetime], datetime] | None = None


def _available(row: Mapping[str, Any], delay: timedelta) -> datetime:
    ft, ca = utc(row["feature_time"]), row.get("created_at")
    if ca is not None and utc(ca) > ft:
        return utc(ca)
    return ft + delay


def _rank(row: Mapping[str, Any]) -> tuple[datetime, datetime]:
    ca = row.get("created_at")
    return utc(row["feature_time"]), utc(ca) if ca is not None else _MIN


def _visible_online(rows: list[Mapping[str, Any]], t: datetime, delay: timedelta) -> Mapping[str, Any] | None:
    """Replay monotonic online writes in availability order up to ``t``; return the stored row."""
    stored: Mapping[str, Any] | None = None
    for row in sorted(rows, key=lambda r: (_available(r, delay), *_rank(r))):
        if _available(row, delay) > t:
            break
        if stored is None or _rank(row) >= _rank(stored):
            stored = row
    return stored


def reference_pit_join(
    labels: Sequence[Mapping[str, Any]], time_column: str, views: Sequence[ReferenceView], *, as_served: bool = False
) -> list[dict[str, Any]]:
    """For each label row, ``{feature: value}`` per view (keys ``<view>__<feature>``)."""
    out: list[dict[str, Any]] = []
    for label in labels:
        t = utc(label[time_column])
        result: dict[str, Any] = {}
        for v in views:
            same = [r for r in v.rows if all(r[k] == label[k] for k in v.entities)]
            best: Mapping[str, Any] | None
            if as_served:
                best = _visible_online(same, t, v.watermark_delay)
            else:
                past = [r for r in same if utc(r["feature_time"]) <= t]
                best = max(past, key=_rank) if past else None
            ok = best is not None and utc(best["feature_time"]) <= t
            if ok and best is not None:
                ft = utc(best["feature_time"])
                ok = t < v.expires(ft) if v.expires is not None else t - v.max_age < ft
            for f in v.features:
                result[f"{v.name}__{f}"] = best[f] if ok and best is not None else v.defaults.get(f)
        out.append(result)
    return out
