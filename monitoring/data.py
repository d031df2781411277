"""Read feature values for monitoring: offline rows of a view over a time window, and logged served
values. Both go through DuckDB connections from :func:`offline.duck.connect`; offline rows through
:func:`offline.duck.view_select` (the normalised view of the Parquet layout). Large windows are
reservoir-sampled to ``max_rows`` (seeded, so reruns agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.monitoring.errors import MonitoringError
from featurestream.monitoring.served_log import served_dir
from featurestream.offline.duck import quote, view_select

__all__ = ["Window", "latest_feature_time", "offline_rows", "served_values", "windows_ending_at"]


@dataclass(frozen=True)
class Window:
    """A half-open time range ``(start, end]`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, ts in (("start", self.start), ("end", self.end)):
            if ts.tzinfo is None:
                raise MonitoringError(
                    f"window {name} must be timezone-aware UTC, found naive {ts.isoformat()}",
                    hint="attach a zone, e.g. datetime(..., tzinfo=UTC)",
                )
        if self.end <= self.start:
            raise MonitoringError(
                f"window end must be after its start, found {self.start.isoformat()} .. {self.end.isoformat()}",
                hint="swap the bounds",
            )

    def naive(self) -> tuple[datetime, datetime]:
        """The bounds as naive UTC wall clocks (DuckDB's TIMESTAMP inside our connections)."""
        return self.start.astimezone(UTC).replace(tzinfo=None), self.end.astimezone(UTC).replace(tzinfo=None)

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def windows_ending_at(end: datetime, current: timedelta, reference: timedelta) -> tuple[Window, Window]:
    """(reference, current): ``current`` ends at ``end``, ``reference`` is the span just before it."""
    cur = Window(end - current, end)
    return Window(cur.start - reference, cur.start), cur


def latest_feature_time(con: duckdb.DuckDBPyConnection, config: Config, view: FeatureView) -> datetime | None:
    """The newest ``feature_time`` in the view's offline rows (UTC), or None when it has none."""
    row = con.execute(f"SELECT max(feature_time) FROM ({view_select(con, config, view)})").fetchone()
    if row is None or row[0] is None:
        return None
    ts: datetime = row[0]
    return ts.replace(tzinfo=UTC)


def offline_rows(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    view: FeatureView,
    window: Window,
    *,
    max_rows: int,
    features: list[str] | None = None,
) -> pa.Table:
    """``feature_time``, ``created_at`` (naive UTC) and the features of the view's rows in ``window``."""
    lo, hi = window.naive()
    select = view_select(con, config, view, start=(lo - timedelta(days=1)).date(), end=(hi + timedelta(days=1)).date())
    names = view.feature_names if features is None else features
    cols = ", ".join([FEATURE_TIME, CREATED_AT, *(quote(n) for n in names)])
    sql = (
        f"SELECT {cols} FROM ({select}) WHERE {FEATURE_TIME} > ? AND {FEATURE_TIME} <= ? "
        f"USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (7)"
    )
    return con.sql(sql, params=[lo, hi]).to_arrow_table()


def served_values(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    view: FeatureView,
    window: Window,
    *,
    max_rows: int,
) -> dict[str, tuple[list[Any], list[str]]]:
    """Logged served values of ``view`` in ``window``: feature -> (values, statuses)."""
    root = served_dir(config, view.namespace)
    if not root.is_dir() or not any(root.glob("date=*/part-*.parquet")):
        return {}
    lo, hi = window.naive()
    scan = f"read_parquet('{root}/date=*/part-*.parquet', hive_partitioning = false)"
    sql = (
        f"SELECT feature, status, value, value_num FROM {scan} WHERE view = ? AND version = ? "
        "AND CAST(served_at AS TIMESTAMP) > ? AND CAST(served_at AS TIMESTAMP) <= ? "
        f"USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (7)"
    )
    out: dict[str, tuple[list[Any], list[str]]] = {}
    for feature, status, value, num in con.execute(sql, [view.name, view.version, lo, hi]).fetchall():
        vals, statuses = out.setdefault(feature, ([], []))
        vals.append(num if num is not None else (None if value is None else orjson.loads(value)))
        statuses.append(status)
    return out
