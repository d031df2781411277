"""The offline store's layout, its commit rule, a whole-view reader and a Python writer for it.

``<offline>/<namespace>/<view>/v<version>/date=YYYY-MM-DD/<file>`` (the location from
:func:`naming.offline_dir`: a local directory or ``s3://bucket/prefix/...``) holds Parquet files
with one row per computed feature row: the entity key columns, ``feature_time`` (UTC), the
features and ``created_at`` (when the row was computed; null or equal to ``feature_time`` for
backfills). The ``date`` partition is the UTC date of ``feature_time``.

Which files a partition holds, and how a partition is replaced or deleted as a whole, is the
commit rule of :mod:`offline.swap` (a manifest while a swap is in flight, visible files otherwise;
a kill between any two steps leaves the old rows or the new ones, and the next writer finishes or
rolls back the interrupted swap). Readers here (:func:`data_files`, :func:`read_view`, and through
them :mod:`offline.duck`) follow it, nothing else. The streaming job's Flink filesystem sink makes
a file visible only when it is committed, so listing visible files never reads a half-written one.
Appends (:func:`write_rows` without ``replace``) add one atomically written file under a unique
name after recovering the partition.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from featurestream import storage
from featurestream.columns import CREATED_AT, FEATURE_TIME, PARTITION_DATE
from featurestream.config import Config
from featurestream.dates import DateWindow
from featurestream.definitions import FeatureView
from featurestream.naming import offline_dir
from featurestream.offline import swap
from featurestream.offline.errors import OfflineError
from featurestream.offline.swap import MANIFEST
from featurestream.offline.timestamps import UTC_US, to_utc_column

__all__ = [
    "MANIFEST",
    "data_files",
    "delete_partitions",
    "partition_dates",
    "partition_dir",
    "partition_files",
    "read_view",
    "repair",
    "replace_partition",
    "write_rows",
]

_PARTITION = f"{PARTITION_DATE}="

Rows: TypeAlias = pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]


def partition_dir(config: Config, view: FeatureView, day: date | str) -> str:
    """The location of one date partition (``day`` as a date or ``YYYY-MM-DD``)."""
    text = day.isoformat() if isinstance(day, date) else str(day)
    return storage.join(offline_dir(config.offline_location, view), f"{_PARTITION}{text}")


def partition_dates(config: Config, view: FeatureView) -> list[date]:
    """Dates that have a partition directory (prefix), ascending."""
    out = []
    for name in storage.list_dirs(config.s3, offline_dir(config.offline_location, view)):
        if name.startswith(_PARTITION) and swap.visible(name):
            try:
                out.append(date.fromisoformat(name[len(_PARTITION) :]))
            except ValueError:
                continue
    return sorted(out)


def partition_files(config: Config, view: FeatureView, day: date | str) -> list[str]:
    """The files one partition holds under the commit rule (:func:`offline.swap.committed_files`)."""
    return swap.committed_files(config.s3, partition_dir(config, view, day))


def data_files(config: Config, view: FeatureView, start: date | None = None, end: date | None = None) -> list[str]:
    """The committed data files of a view (:func:`partition_files`), optionally only the date
    partitions in ``[start, end)`` (:class:`featurestream.dates.DateWindow`: ``end`` exclusive)."""
    window = DateWindow(start, end)
    files: list[str] = []
    for day in partition_dates(config, view):
        if day not in window:
            continue
        files += partition_files(config, view, day)
    return files


def read_view(config: Config, view: FeatureView, start: date | None = None, end: date | None = None) -> pa.Table:
    """Every committed row of one view version as one Arrow table (optionally partitions in ``[start, end)``).

    Reads exactly the files :func:`data_files` lists (the commit rule of :mod:`offline.swap`), so a streaming job's
    in-progress files are never read. Columns are as stored (no ``date`` partition column, no
    normalisation); a view with no files gives an empty table with no columns.
    For joins and SQL use :mod:`offline.duck`; this is the whole-table read for reports and checks.
    """
    files = data_files(config, view, start, end)
    if not files:
        return pa.table({})
    fs, _ = storage.filesystem(config.s3, files[0])
    return ds.dataset([storage.filesystem(config.s3, f)[1] for f in files], filesystem=fs, format="parquet").to_table()


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


def _write_file(config: Config, table: pa.Table, part: str, prefix: str = "part-") -> str:
    """Write one Parquet file under a unique name (``prefix`` + a uuid) in one atomic write; returns its name."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    name = f"{prefix}{uuid.uuid4().hex}.parquet"
    storage.write_bytes(config.s3, storage.join(part, name), sink.getvalue().to_pybytes())
    return name


def _write_one(config: Config, table: pa.Table, part: str, prefix: str) -> list[str]:
    return [_write_file(config, table, part, prefix)]


def replace_partition(config: Config, view: FeatureView, day: date | str, write: swap.Write) -> list[str]:
    """Replace one date partition as a whole (:func:`offline.swap.replace`); returns the new files' locations.

    ``write(partition_location, prefix)`` writes the new files (each atomically, under unique names
    starting with ``prefix``) and returns their names. Readers see exactly the old partition until
    the swap commits, then exactly the new files; a killed swap is finished or rolled back by the
    next writer (or :func:`repair`).
    """
    return swap.replace(config.s3, partition_dir(config, view, day), write)


def repair(config: Config, view: FeatureView, days: Iterable[date] | None = None) -> list[date]:
    """Finish or roll back every interrupted swap of the view's partitions (or only ``days``);
    returns the days that had one. Readers see the same rows before and after."""
    return [
        d
        for d in (partition_dates(config, view) if days is None else days)
        if swap.recover(config.s3, partition_dir(config, view, d))
    ]


def write_rows(config: Config, view: FeatureView, rows: Rows, *, replace: bool = False) -> list[str]:
    """Write feature rows to the offline store, split into UTC date partitions.

    ``rows`` is an Arrow table, a DataFrame or a sequence of dicts with the entity keys,
    ``feature_time``, features and optionally ``created_at`` (missing: null, i.e. "backfilled").
    Naive timestamps are UTC. Each file appears atomically. With ``replace=True`` every date
    partition the rows touch is replaced as a whole (:func:`replace_partition`; other dates are
    untouched), so readers see either the old or the new partition. Returns the written files.
    """
    table = _normalise(_as_table(rows), view)
    if len(table) == 0:
        return []
    days = pc.strftime(table[FEATURE_TIME], format="%Y-%m-%d", locale="C")
    written: list[str] = []
    for day in pc.unique(days).to_pylist():
        part_rows = table.filter(pc.equal(days, day))
        if replace:
            written += replace_partition(config, view, day, functools.partial(_write_one, config, part_rows))
            continue
        part = partition_dir(config, view, day)
        swap.recover(config.s3, part)  # an append lands in a partition without a swap in flight
        written.append(storage.join(part, _write_file(config, part_rows, part)))
    return written


def delete_partitions(config: Config, view: FeatureView, days: Iterable[date]) -> None:
    """Delete whole date partitions (e.g. in a backfill's range, no longer produced): a swap to no
    files (:func:`offline.swap.replace`), so a killed delete leaves the day whole or empty."""
    for day in days:
        part = partition_dir(config, view, day)
        if storage.list_files(config.s3, part):
            swap.replace(config.s3, part, _no_files)


def _no_files(part: str, prefix: str) -> list[str]:
    return []
