"""The offline store's layout, its commit rule, a whole-view reader and a Python writer for it.

``<offline>/<namespace>/<view>/v<version>/date=YYYY-MM-DD/<file>`` (the location from
:func:`naming.offline_dir`: a local directory or ``s3://bucket/prefix/...``) holds Parquet files
with one row per computed feature row: the entity key columns, ``feature_time`` (UTC), the
features and ``created_at`` (when the row was computed; null or equal to ``feature_time`` for
backfills). The ``date`` partition is the UTC date of ``feature_time``.

The commit rule (the same on a local disk and on an object store without rename):

- Which files a partition holds: when ``date=.../_manifest.json`` exists, exactly the files it
  lists; otherwise every *visible* data file (name not starting with ``.`` or ``_``, non-empty).
  Readers (:func:`data_files`, :func:`read_view`, :mod:`offline.duck`) follow it, nothing else.
- The streaming job's Flink filesystem sink writes files that become visible only when committed
  (in-progress files are hidden locally; S3 multipart uploads complete at the checkpoint), so
  listing visible files never reads a half-written one.
- The Python writers (:func:`write_rows`, the backfill's partition swap) write each new file as one
  object under a unique name (one PUT on S3, temp + fsync + rename locally). Replacing a partition
  (:func:`replace_partition`): (1) if it has no manifest yet, publish one listing its visible files,
  freezing what readers see; (2) write the new files; (3) publish the manifest listing exactly the
  new files with ONE PUT; (4) delete every other data file. A crash before (3) leaves the old
  partition readable, after it the new one; leftovers of a crashed run are never read and are
  deleted by the next replace. Appending to a partition with a manifest re-publishes it with the
  new file added.
- Not locked: two Python writers replacing the same partition at once race (the last manifest
  wins), and a streaming job writing into a partition that has a manifest is not read until the
  next replace lists it - backfill past dates, not the ones the stream is writing.
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from featurestream.offline.errors import OfflineError
from featurestream.offline.timestamps import UTC_US, to_utc_column

__all__ = [
    "MANIFEST",
    "data_files",
    "delete_partitions",
    "partition_dates",
    "partition_dir",
    "partition_files",
    "read_view",
    "replace_partition",
    "write_rows",
]

MANIFEST = "_manifest.json"
_PARTITION = f"{PARTITION_DATE}="

Rows: TypeAlias = pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]


def partition_dir(config: Config, view: FeatureView, day: date | str) -> str:
    """The location of one date partition (``day`` as a date or ``YYYY-MM-DD``)."""
    text = day.isoformat() if isinstance(day, date) else str(day)
    return storage.join(offline_dir(config.offline_location, view), f"{_PARTITION}{text}")


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def partition_dates(config: Config, view: FeatureView) -> list[date]:
    """Dates that have a partition directory (prefix), ascending."""
    out = []
    for name in storage.list_dirs(config.s3, offline_dir(config.offline_location, view)):
        if name.startswith(_PARTITION) and _visible(name):
            try:
                out.append(date.fromisoformat(name[len(_PARTITION) :]))
            except ValueError:
                continue
    return sorted(out)


def _manifest(config: Config, part: str) -> list[str] | None:
    try:
        doc = json.loads(storage.read_bytes(config.s3, storage.join(part, MANIFEST)))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise OfflineError(
            f"{storage.join(part, MANIFEST)}: expected a JSON manifest {{'files': [...]}}, found unreadable JSON",
            hint="re-run the backfill or write_rows(replace=True) for that date to rewrite it",
        ) from exc
    return [str(f) for f in doc.get("files", [])]


def _publish(config: Config, part: str, names: Sequence[str]) -> None:
    """Publish the partition's file list with one atomic write (one PUT on S3)."""
    doc = {"format": 1, "files": sorted(names)}
    storage.write_bytes(config.s3, storage.join(part, MANIFEST), json.dumps(doc, indent=1).encode())


def _visible_files(config: Config, part: str) -> list[storage.Entry]:
    return [e for e in storage.list_files(config.s3, part) if _visible(e.name) and e.size > 0]


def partition_files(config: Config, view: FeatureView, day: date | str) -> list[str]:
    """The files one partition holds under the commit rule: its manifest's list, else its visible files."""
    part = partition_dir(config, view, day)
    listed = _manifest(config, part)
    if listed is None:
        return [e.location for e in _visible_files(config, part)]
    return [storage.join(part, name) for name in listed]


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

    Reads exactly the files :func:`data_files` lists (the commit rule above), so a streaming job's
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


def _write_file(config: Config, table: pa.Table, part: str) -> str:
    """Write one Parquet file under a unique name in one atomic write; returns its name."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    name = f"part-{uuid.uuid4().hex}.parquet"
    storage.write_bytes(config.s3, storage.join(part, name), sink.getvalue().to_pybytes())
    return name


def _write_one(config: Config, table: pa.Table, part: str) -> list[str]:
    return [_write_file(config, table, part)]


def replace_partition(
    config: Config, view: FeatureView, day: date | str, write: Callable[[str], list[str]]
) -> list[str]:
    """Replace one date partition as a whole under the commit rule; returns the new files' locations.

    ``write(partition_location)`` writes the new files (each atomically, under unique names) and
    returns their names. Readers see the old partition until the new manifest is published, then
    exactly the new files; the old files are deleted afterwards.
    """
    part = partition_dir(config, view, day)
    if _manifest(config, part) is None:
        current = [e.name for e in _visible_files(config, part)]
        if current:
            _publish(config, part, current)  # freeze what readers see while new files appear
    names = write(part)
    _publish(config, part, names)
    keep = set(names)
    storage.delete(config.s3, [e.location for e in _visible_files(config, part) if e.name not in keep])
    return [storage.join(part, n) for n in names]


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
        name = _write_file(config, part_rows, part)
        listed = _manifest(config, part)
        if listed is not None:
            _publish(config, part, [*listed, name])
        written.append(storage.join(part, name))
    return written


def delete_partitions(config: Config, view: FeatureView, days: Iterable[date]) -> None:
    """Delete whole date partitions (e.g. before a backfill that produced no rows for them).

    An empty manifest is published first (the partition reads empty from then on), then every
    file is deleted, the manifest last.
    """
    for day in days:
        part = partition_dir(config, view, day)
        entries = storage.list_files(config.s3, part)
        if not entries:
            continue
        _publish(config, part, [])
        storage.delete(config.s3, [e.location for e in entries if e.name != MANIFEST])
        storage.delete(config.s3, [storage.join(part, MANIFEST)])
        if not storage.is_uri(part):
            shutil.rmtree(part, ignore_errors=True)
