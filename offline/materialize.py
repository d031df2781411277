"""Bulk-load the latest offline row per entity into the online store (Redis).

The online writer (:class:`online.store.RedisOnlineStore`) is monotonic: a row never overwrites
a stored row with a newer ``feature_time`` (nor, at an equal ``feature_time``, one with a newer
``created_at``), so materializing old data over fresher streamed rows is harmless, and re-running
is idempotent. Rows go from DuckDB to the writer as Arrow columns (``write_columns``), never as
Python objects per value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from featurestream.config import Config
from featurestream.dates import DateWindow
from featurestream.definitions import FeatureView
from featurestream.offline.duck import connect, quote, view_select

__all__ = ["MaterializeResult", "OnlineWriter", "latest_rows_sql", "materialize"]

Progress = Callable[[int, int], None]


class OnlineWriter(Protocol):
    def write_columns(self, view: FeatureView, columns: Mapping[str, Any], *, fill: bool = ...) -> object: ...


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    rows: int  # latest rows read from the offline store (one per entity)
    written: int  # applied online (the rest were older than what Redis already had, or keyless)
    seconds: float
    keyless: int = 0  # rows with a NULL or blank entity value: never stored online

    @property
    def skipped(self) -> int:
        return self.rows - self.written - self.keyless


def latest_rows_sql(select: str, view: FeatureView, window: DateWindow) -> str:
    """The newest row per entity (ties: latest ``created_at``) with ``feature_time`` in ``window``
    (UTC dates ``[start, end)``)."""
    keys = ", ".join(quote(k) for k in view.entities)
    cond = window.time_condition("feature_time")
    where = f"WHERE {cond}" if cond else ""
    cols = [quote(k) for k in view.entities] + [quote(f) for f in view.feature_names]
    return (
        f"SELECT {', '.join(cols)}, epoch_ms(feature_time) AS feature_time, epoch_ms(created_at) AS created_at "
        f"FROM ({select}) {where} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY feature_time DESC, created_at DESC NULLS LAST) = 1"
    )


def materialize(
    config: Config,
    view: FeatureView,
    writer: OnlineWriter,
    *,
    start: date | None = None,
    end: date | None = None,
    batch_rows: int = 50_000,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Write the latest row per entity of ``view`` with ``feature_time`` in the UTC dates
    ``[start, end)`` (``end`` exclusive, :class:`featurestream.dates.DateWindow`) via ``writer``."""
    window = DateWindow(start, end)
    started = time.perf_counter()
    con = connect(config)
    try:
        select = view_select(con, config, view, start=window.start, end=window.end)
        con.execute(f"CREATE TEMP TABLE __latest AS {latest_rows_sql(select, view, window)}").fetchall()
        total = int(con.execute("SELECT count(*) FROM __latest").fetchall()[0][0])
        done = written = keyless = 0
        if progress:
            progress(0, total)
        reader = con.sql("SELECT * FROM __latest").to_arrow_reader(batch_rows)
        for batch in reader:
            # fill: a bulk load, most keys hold nothing yet (the store's fill_probe: one plain SET NX per new row)
            stats = writer.write_columns(view, dict(zip(batch.schema.names, batch.columns, strict=True)), fill=True)
            written += int(getattr(stats, "written", batch.num_rows))
            keyless += int(getattr(stats, "keyless", 0))
            done += batch.num_rows
            if progress:
                progress(done, total)
    finally:
        con.close()
    return MaterializeResult(view.ref, done, written, time.perf_counter() - started, keyless)
