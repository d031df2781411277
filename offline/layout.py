"""The offline store's on-disk layout, a whole-view reader and a Python writer for it.

``<offline>/<namespace>/<view>/v<version>/date=YYYY-MM-DD/<file>`` (the directory from
:func:`naming.offline_dir`) holds Parquet files with one
row per computed feature row: the entity key columns, ``feature_time`` (UTC), the features and
``created_at`` (when the row was computed; null or equal to ``feature_time`` for backfills). The
``date`` partition is the UTC date of ``feature_time``.

The streaming job's Flink filesystem sink writes the same layout; its files may be named
``part-*`` without an extension and hidden in-progress files (``.`` or ``_`` prefixes) may lie
beside them. Readers list only visible files (:func:`data_files`, :func:`read_view`).
:func:`write_rows` writes atomically: a hidden temp file renamed into place, and whole date
partitions swapped when ``replace=True``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from featurestream.columns import CREATED_AT, FEATURE_TIME, PARTITION_DATE
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.naming import offline_dir
from featurestream.offline.errors import OfflineError
from featurestream.offline.timestamps import UTC_US, to_utc_column

__all__ = [
    "data_files",
    "delete_partitions",
    "partition_dates",
    "partition_dir",
    "read_view",
    "write_rows",
]

_PARTITION = f"{PARTITION_DATE}="

Rows: TypeAlias = pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]


def partition_dir(config: Config, view: FeatureView, day: date | str) -> Path:
    """The directory of one date partition (``day`` as a date or ``YYYY-MM-DD``)."""
    text = day.isoformat() if isinstance(day, date) else str(day)
    return offline_dir(config.offline_path, view) / f"{_PARTITION}{text}"


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def partition_dates(config: Config, view: FeatureView) -> list[date]:
    """Dates that have a partition directory, ascending."""
    root = offline_dir(config.offline_path, view)
    if not root.is_dir():
        return []
    out = []
    for entry in os.scandir(root):
        if entry.is_dir() and entry.name.startswith(_PARTITION) and _visible(entry.name):
            try:
                out.append(date.fromisoformat(entry.name[len(_PARTITION) :]))
            except ValueError:
                continue
    return sorted(out)


def data_files(config: Config, view: FeatureView, start: date | None = None, end: date | None = None) -> list[Path]:
    """Visible, non-empty data files of a view, optionally only partitions in ``[start, end]``."""
    files: list[Path] = []
    for day in partition_dates(config, view):
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        for entry in sorted(os.scandir(partition_dir(config, view, day)), key=lambda e: e.name):
            if entry.is_file() and _visible(entry.name) and entry.stat().st_size > 0:
                files.append(Path(entry.path))
    return files


def read_view(config: Config, view: FeatureView, start: date | None = None, end: date | None = None) -> pa.Table:
    """Every committed row of one view version as one Arrow table (optionally partitions in ``[start, end]``).

    Reads exactly the files :func:`data_files` lists (visible, non-empty, in ``date=`` partitions),
    so a streaming job's in-progress files are never read. Columns are as stored (no ``date``
    partition column, no normalisation); a view with no files gives an empty table with no columns.
    For joins and SQL use :mod:`offline.duck`; this is the whole-table read for reports and checks.
    """
    files = data_files(config, view, start, end)
    if not files:
        return pa.table({})
    return ds.dataset([str(f) for f in files], format="parquet").to_table()


# --------------------------------------------------------------------------- writing


def _as_table(rows: Rows) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pd.DataFrame):
        return pa.Table.from_pandas(rows, preserve_index=False)
    return pa.Table.from_pylist(list(rows))


def _normalise(table: pa.Table, view: FeatureView) -> pa.Table:
    missing = [c for c in (*view.entities, FEATURE_TIME) if c not in table.column_names]
    if missing:
        raise OfflineError(
            f"rows for {view.ref}: expected columns {[*view.entities, FEATURE_TIME]}, missing {missing}",
            hint="every offline row needs its entity keys and feature_time",
        )
    table = table.set_column(
        table.column_names.index(FEATURE_TIME), FEATURE_TIME, to_utc_column(table[FEATURE_TIME], FEATURE_TIME)
    )
    if CREATED_AT in table.column_names:
        created = to_utc_column(table[CREATED_AT], CREATED_AT, allow_null=True)
        table = table.set_column(table.column_names.index(CREATED_AT), CREATED_AT, created)
    else:
        table = table.append_column(CREATED_AT, pa.nulls(len(table), UTC_US))
    order = [
        *view.entities,
        FEATURE_TIME,
        *(c for c in table.column_names if c not in (*view.entities, FEATURE_TIME, CREATED_AT)),
        CREATED_AT,
    ]
    return table.select(order)


def _atomic_write(table: pa.Table, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = directory / f".{name}.inprogress"
    pq.write_table(table, tmp, compression="zstd")
    final = directory / name
    os.replace(tmp, final)
    return final


def write_rows(config: Config, view: FeatureView, rows: Rows, *, replace: bool = False) -> list[Path]:
    """Write feature rows to the offline store, split into UTC date partitions.

    ``rows`` is an Arrow table, a DataFrame or a sequence of dicts with the entity keys,
    ``feature_time``, features and optionally ``created_at`` (missing: null, i.e. "backfilled").
    Naive timestamps are UTC. Each file appears atomically. With ``replace=True`` every date
    partition the rows touch is replaced as a whole (other dates are untouched); the swap is a
    directory rename, so readers see either the old or the new partition.
    Returns the written files.
    """
    table = _normalise(_as_table(rows), view)
    if len(table) == 0:
        return []
    days = pc.strftime(table[FEATURE_TIME], format="%Y-%m-%d", locale="C")
    written: list[Path] = []
    for day in pc.unique(days).to_pylist():
        part = table.filter(pc.equal(days, day))
        target = partition_dir(config, view, day)
        if not replace:
            written.append(_atomic_write(part, target))
            continue
        staging = target.parent / f".staging-{day}-{uuid.uuid4().hex[:8]}"
        written_file = _atomic_write(part, staging)
        old = target.parent / f".old-{day}-{uuid.uuid4().hex[:8]}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
        written.append(target / written_file.name)
    return written


def delete_partitions(config: Config, view: FeatureView, days: Iterable[date]) -> None:
    """Delete whole date partitions (e.g. before a backfill that produced no rows for them)."""
    for day in days:
        shutil.rmtree(partition_dir(config, view, day), ignore_errors=True)
