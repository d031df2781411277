"""DuckDB connections and the normalised SQL view of one feature view's offline rows.

Inside DuckDB every timestamp is a naive ``TIMESTAMP`` holding a UTC wall clock (the session
time zone is UTC); results convert back to ``TIMESTAMPTZ`` so Arrow and pandas see UTC-aware
values. Files written by Flink may store ``feature_time`` / ``created_at`` as TIMESTAMP with or
without a zone, INT96, or raw epoch INT64 (millis or micros): all are read as UTC instants.
Local files are scanned by DuckDB's ``read_parquet``; ``s3://`` files through a pyarrow dataset
registered on the connection (so a ``view_select`` is valid only on the connection it was built for).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from featurestream import storage
from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.offline.layout import data_files

__all__ = ["connect", "duckdb_type", "newest_feature_time", "quote", "view_select"]

_SIMPLE_TYPES = {
    "STRING": "VARCHAR",
    "VARCHAR": "VARCHAR",
    "CHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INTEGER",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "BYTES": "BLOB",
    "BINARY": "BLOB",
    "VARBINARY": "BLOB",
}


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(flink_type: str) -> str:
    """Map a Flink SQL type (``DOUBLE``, ``ARRAY<FLOAT>``, ``DECIMAL(10, 2)``) to DuckDB's."""
    t = re.sub(r"\s+NOT\s+NULL$", "", flink_type.strip().upper())
    m = re.match(r"^ARRAY\s*<(.+)>$", t)
    if m:
        return duckdb_type(m.group(1)) + "[]"
    if t.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    if t.startswith("DECIMAL"):
        return t
    base = re.sub(r"\(.*\)$", "", t).strip()
    return _SIMPLE_TYPES.get(base, "VARCHAR")


def connect(config: Config | None = None, *, progress: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with UTC session time, spilling to disk and the configured limits."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if config is not None:
        off = config.offline
        tmp = Path(off.duckdb_temp_directory) if off.duckdb_temp_directory else config.state_path / "duckdb_tmp"
        con.execute(f"SET temp_directory = '{tmp}'")
        con.execute(f"SET memory_limit = '{off.duckdb_memory_limit}'")
        if off.duckdb_threads:
            con.execute(f"SET threads = {int(off.duckdb_threads)}")
    con.execute("SET preserve_insertion_order = false")
    if progress:
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = true")
        con.execute("SET progress_bar_time = 1000")
    else:
        con.execute("SET enable_progress_bar = false")
    return con


def _ts_expr(col: str, typ: str | None) -> str:
    q = quote(col)
    if typ is None:
        return "CAST(NULL AS TIMESTAMP)"
    t = typ.upper()
    if t in ("BIGINT", "INTEGER", "UBIGINT", "HUGEINT"):
        # Raw epoch numbers: micros when large, else millis.
        return f"CASE WHEN abs({q}) > 100000000000000 THEN make_timestamp({q}::BIGINT) ELSE epoch_ms({q}::BIGINT) END"
    # TIMESTAMPTZ -> the UTC wall clock by arithmetic: a CAST to TIMESTAMP goes through ICU's calendar
    # per value (~85 ns each, more than the whole Parquet scan of a narrow view).
    if t == "VARCHAR":
        return f"make_timestamp(epoch_us(CAST({q} AS TIMESTAMPTZ)))"
    if t == "TIMESTAMP WITH TIME ZONE":
        return f"make_timestamp(epoch_us({q}))"
    return f"CAST({q} AS TIMESTAMP)"


def view_select(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    view: FeatureView,
    *,
    start: date | None = None,
    end: date | None = None,
    files: Sequence[str | Path] | None = None,
    time_range: tuple[datetime, datetime] | None = None,
) -> str:
    """A ``SELECT`` of the view's offline rows with normalised columns.

    Columns: the entity keys, ``feature_time`` and ``created_at`` as UTC ``TIMESTAMP``, then every
    declared feature (NULL when a file lacks it). ``start``/``end`` prune date partitions to
    ``[start, end)`` (:class:`featurestream.dates.DateWindow`).
    ``time_range=(lo, hi)`` (naive UTC) keeps only rows with ``lo < feature_time <= hi``; the filter
    is written on the stored column when it already is a timestamp, so the Parquet scan applies it
    (row-group statistics, no per-row cast) instead of a filter above the normalising cast.
    """
    paths = list(files) if files is not None else data_files(config, view, start, end)
    feats = [(f.name, duckdb_type(f.dtype)) for f in view.features]
    if not paths:
        cols = [f"CAST(NULL AS VARCHAR) AS {quote(k)}" for k in view.entities]
        cols += [f"CAST(NULL AS TIMESTAMP) AS {FEATURE_TIME}", f"CAST(NULL AS TIMESTAMP) AS {CREATED_AT}"]
        cols += [f"CAST(NULL AS {t}) AS {quote(n)}" for n, t in feats]
        return f"SELECT {', '.join(cols)} WHERE false"
    scan = _scan(con, config, [str(p) for p in paths])
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    cols = [quote(k) for k in view.entities]
    cols.append(f"{_ts_expr(FEATURE_TIME, schema.get(FEATURE_TIME))} AS {FEATURE_TIME}")
    cols.append(f"{_ts_expr(CREATED_AT, schema.get(CREATED_AT))} AS {CREATED_AT}")
    for name, typ in feats:
        cols.append(quote(name) if name in schema else f"CAST(NULL AS {typ}) AS {quote(name)}")
    where = "" if time_range is None else " WHERE " + _time_filter(schema.get(FEATURE_TIME), *time_range)
    return f"SELECT {', '.join(cols)} FROM {scan}{where}"


def newest_feature_time(config: Config, view: FeatureView) -> datetime | None:
    """The newest ``feature_time`` (UTC-aware) of the view's committed offline rows, None when it has none."""
    con = connect(config)
    try:
        row = con.execute(f"SELECT max({FEATURE_TIME}) FROM ({view_select(con, config, view)})").fetchone()
    finally:
        con.close()
    newest = row[0] if row else None
    return None if newest is None else newest.replace(tzinfo=UTC)


def _scan(con: duckdb.DuckDBPyConnection, config: Config, paths: list[str]) -> str:
    """The FROM expression reading ``paths``: DuckDB's own Parquet reader for local files (the fast
    path); for object-store files a pyarrow dataset registered on ``con`` (DuckDB's httpfs extension
    is not available here), with the files' schemas unified by name like ``union_by_name``."""
    if not any(storage.is_uri(p) for p in paths):
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        return f"read_parquet([{listing}], union_by_name = true, hive_partitioning = false)"
    fs, _ = storage.filesystem(config.s3, paths[0])
    inner = [storage.filesystem(config.s3, p)[1] for p in paths]
    schema = pa.unify_schemas([pq.read_schema(p, filesystem=fs) for p in inner], promote_options="permissive")
    name = f"fs_scan_{uuid.uuid4().hex[:12]}"
    con.register(name, ds.dataset(inner, filesystem=fs, format="parquet", schema=schema))
    return name


def _time_filter(typ: str | None, lo: datetime, hi: datetime) -> str:
    """``lo < feature_time <= hi`` on the stored column (pushed into the scan) where possible."""
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    t = (typ or "").upper()
    if t == "TIMESTAMP WITH TIME ZONE":
        col, lit = quote(FEATURE_TIME), "TIMESTAMPTZ '{}+00'"
    elif t in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        col, lit = (
            f"CAST({quote(FEATURE_TIME)} AS TIMESTAMP)" if t != "TIMESTAMP" else quote(FEATURE_TIME),
            "TIMESTAMP '{}'",
        )
    else:
        col, lit = _ts_expr(FEATURE_TIME, typ), "TIMESTAMP '{}'"
    return f"{col} > {lit.format(lo.strftime(fmt))} AND {col} <= {lit.format(hi.strftime(fmt))}"
