"""The one point-in-time join: label rows x feature views (DuckDB reads and keys, numpy matches).

For each label row (entity keys + time ``t``) and each requested view, the answer is the view's
row with the greatest ``(feature_time, created_at)`` such that ``feature_time <= t`` (``created_at``
ordered as DuckDB orders the timestamp: NULL and -infinity lowest); it counts only if
``fresh_after(t) < feature_time`` (:func:`featurestream.semantics.validity`, the server's rule: the
TTL and the quiet-window rule), otherwise the view's declared default is used. The lower bound is
applied after the match: if the newest row at or before ``t`` is too old, every older row is too.
Rows outside ``(min t - max_age, max t]`` are filtered in the Parquet scan (``max_age``: the longest
any row is live).

"As served" mode orders rows by when they became available online instead: ``created_at`` for
streamed rows, ``feature_time + watermark delay`` for backfilled ones (``created_at`` missing or
not after ``feature_time``). Online writes are monotonic, so a row that became available after a
row with a greater ``feature_time`` never became visible; those rows are dropped before the match.

How: the labels' distinct entity key tuples (cast to the view's key types, as SQL ``=`` would
compare them) get dense integer codes in DuckDB, once per key set; each view's rows are read by
DuckDB joined to those codes (rows of entities no label asks for drop out there), as numeric
columns, and :mod:`offline.asof` finds every label row's match with one time sort (linear on rows
already in time order), one packed integer sort and binary searches. A DuckDB ``ASOF JOIN`` sorted
each view on its string keys and time for every training set: the sort cost what the rest of
the join cost together. The next view is read on a worker thread while this one is matched.
Label rows keep their order and count (duplicates included).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.offline.asof import AsOf, Probes, ProbeTimes, visible_rows
from featurestream.offline.duck import quote, view_select
from featurestream.offline.errors import LabelError, OfflineError
from featurestream.offline.timestamps import UTC_US
from featurestream.semantics import Validity

__all__ = ["JoinReport", "ViewReport", "ViewRequest", "pit_join"]

_ROW = "__fs_row"
_T = "__fs_t"


@dataclass(frozen=True)
class ViewRequest:
    """One view's part of a join: which features, under which output names."""

    view: FeatureView
    columns: tuple[tuple[str, str], ...]  # (feature, output column)
    defaults: tuple[object, ...]  # one per column, the value used when there is no valid row
    validity: Validity  # semantics.validity(view): how long a row is live
    watermark_delay: timedelta = timedelta(0)
    feature_time_column: str | None = None  # also output the joined feature_time under this name

    @property
    def max_age(self) -> timedelta:
        """The longest any row is live (the Parquet scan's lower bound)."""
        return timedelta(milliseconds=self.validity.horizon_ms)

    def fresh_after_us(self, t_us: np.ndarray) -> np.ndarray:
        """Per label time (epoch µs), the exclusive lower bound on a live row's feature time (µs):
        :meth:`semantics.Validity.fresh_after` over an array."""
        v = self.validity
        lo = t_us - v.horizon_ms * 1000
        if v.period_ms:
            period, offset = v.period_ms * 1000, v.offset_ms * 1000
            x = t_us - v.grace_ms * 1000 - offset
            lo = np.maximum(lo, x - x % period + offset)
        return lo


@dataclass(frozen=True)
class ViewReport:
    """How one view's rows matched: ``matched + expired + missing == rows``."""

    view: str
    rows: int
    matched: int
    expired: int  # a row at or before t existed but was no longer live (semantics.validity) -> default
    missing: int  # no row at or before t for the entity -> default
    leaked: int  # joined feature_time after the label time; the join guarantees 0

    @property
    def unmatched(self) -> int:
        return self.expired + self.missing


@dataclass
class JoinReport:
    """Per-view match counts and the leakage check of one training set."""

    rows: int
    as_served: bool
    seconds: float = 0.0
    views: list[ViewReport] = field(default_factory=list)

    @property
    def leakage_free(self) -> bool:
        return all(v.leaked == 0 for v in self.views)

    def summary(self) -> str:
        mode = "as served" if self.as_served else "point in time"
        lines = [f"{self.rows} label rows, {mode}, {self.seconds:.2f}s"]
        for v in self.views:
            lines.append(f"  {v.view}: matched {v.matched}, expired {v.expired}, no row {v.missing}, leaked {v.leaked}")
        lines.append("  leakage check: " + ("ok" if self.leakage_free else "FAILED"))
        return "\n".join(lines)


def _interval_us(td: timedelta) -> int:
    return int(td / timedelta(microseconds=1))


def _key_types(con: duckdb.DuckDBPyConnection, select: str, keys: tuple[str, ...]) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {select}").fetchall()
    return {r[0]: r[1] for r in rows if r[0] in keys}


# created_at as one BIGINT ordered like DuckDB orders the TIMESTAMP: NULL and -infinity lowest, +infinity highest
# (epoch_us of an infinite timestamp is NULL).
_CREATED_US = (
    "coalesce(epoch_us(created_at), CASE WHEN created_at > feature_time "
    "THEN 9223372036854775807 ELSE -9223372036854775808 END)"
)

_BATCH = 1 << 40  # one Arrow batch per DuckDB thread: fewer chunks to take from

_ARROW_TO_DUCK = {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER"}


def _label_key(label: pa.Table, key: str, ktype: str, alias: str = "") -> str:
    """The label's key column as the view's type; TRY_CAST only when the types differ."""
    col = f"{alias}{quote(key)}"
    same = _ARROW_TO_DUCK.get(str(label.schema.field(key).type)) == ktype
    return col if same else f"TRY_CAST({col} AS {ktype})"


_KeySpec = tuple[tuple[str, str], ...]  # (entity key, the view's DuckDB type of it), per key


class _KeyCodes:
    """Dense codes for the label rows' entity key tuples, one temp table per key set and types.

    ``__fs_keys_<i>`` holds each distinct non-NULL key tuple of the labels (cast to the view's
    types) with a ``__code``; a view's rows join it to get their code (rows of entities no label
    asks for drop out); every label row gets its code (``-1``: a NULL or
    uncastable key, which matches nothing, as ``=`` in SQL).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, labels: pa.Table, t_us: np.ndarray) -> None:
        self._con = con
        self._labels = labels
        self._t_us = t_us
        self._times: ProbeTimes | None = None
        self._tables: dict[_KeySpec, tuple[str, np.ndarray]] = {}
        self._probes: dict[_KeySpec, Probes] = {}

    def table(self, keys: tuple[str, ...], ktypes: dict[str, str]) -> tuple[str, _KeySpec]:
        """(temp table name, key set) for ``keys`` typed as the view's ``ktypes``; DuckDB work only
        (it runs on the thread that reads the view), the probes are built by :meth:`probes`."""
        spec = tuple((k, ktypes.get(k, "VARCHAR")) for k in keys)
        if spec in self._tables:
            return self._tables[spec][0], spec
        name = f"__fs_keys_{len(self._tables)}"
        cols = ", ".join(f"{_label_key(self._labels, k, t)} AS {quote(k)}" for k, t in spec)
        notnull = " AND ".join(f"{quote(k)} IS NOT NULL" for k in keys)
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT *, CAST(row_number() OVER () - 1 AS INTEGER) AS __code "
            f"FROM (SELECT DISTINCT {cols} FROM __fs_labels) WHERE {notnull}"
        )
        on = " AND ".join(f"{_label_key(self._labels, k, t, 'l.')} = k.{quote(k)}" for k, t in spec)
        found = self._con.sql(f"SELECT l.{_ROW}, k.__code FROM __fs_labels l JOIN {name} k ON {on}").to_arrow_table()
        codes = np.full(len(self._labels), -1, dtype=np.int64)
        codes[_numpy(found[_ROW])] = _numpy(found["__code"])
        self._tables[spec] = (name, codes)
        return name, spec

    def times(self) -> ProbeTimes:
        """The label times in time order (every key set's probes share them)."""
        if self._times is None:
            self._times = ProbeTimes(self._t_us)
        return self._times

    def probes(self, spec: _KeySpec) -> Probes:
        """The label rows as probes of the key set ``spec`` (after :meth:`table` built its codes).
        Called by the thread that matches, so the next view's read does not wait for the sorts."""
        if spec not in self._probes:
            self._probes[spec] = Probes(self._tables[spec][1], self.times())
        return self._probes[spec]

    def drop(self) -> None:
        for name, _ in self._tables.values():
            self._con.execute(f"DROP TABLE IF EXISTS {name}")


def _view_query(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    req: ViewRequest,
    keys: _KeyCodes,
    lo: datetime,
    hi: datetime,
    as_served: bool,
) -> tuple[str, _KeySpec]:
    """The query of the view's rows in ``(lo, hi]`` of entities the labels ask for: ``__code``, ``__ft``
    (epoch µs), ``__cr`` (created_at, :data:`_CREATED_US`), ``__av`` (as served: when the row became
    available, µs) and the requested features as ``__v<j>``; and the key set whose codes ``__code``
    holds (its key table is built here)."""
    view = req.view
    select = view_select(
        con,
        config,
        view,
        start=(lo - timedelta(days=1)).date(),
        end=(hi + timedelta(days=1)).date(),
        time_range=(lo, hi),
    )
    table, spec = keys.table(view.entities, _key_types(con, select, view.entities))
    cols = ["k.__code", "epoch_us(feature_time) AS __ft", f"{_CREATED_US} AS __cr"]
    if as_served:
        # streamed rows: created_at; backfilled ones (created_at missing or not after feature_time):
        # feature_time + the watermark delay
        cols.append(
            f"CASE WHEN created_at IS NOT NULL AND created_at > feature_time THEN {_CREATED_US} "
            f"ELSE epoch_us(feature_time) + {_interval_us(req.watermark_delay)} END AS __av"
        )
    cols += [f"f.{quote(f)} AS {quote(f'__v{j}')}" for j, (f, _) in enumerate(req.columns)]
    on = " AND ".join(f"f.{quote(k)} = k.{quote(k)}" for k in view.entities)
    return f"SELECT {', '.join(cols)} FROM ({select}) f JOIN {table} k ON {on}", spec


def _read(con: duckdb.DuckDBPyConnection, planned: Future[tuple[str, _KeySpec]]) -> pa.Table:
    return con.sql(planned.result()[0]).to_arrow_table(_BATCH)


def _match(rows: pa.Table, probes: Probes, as_served: bool) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Per label row (label order), the matched row (``-1``: none); the feature columns and
    ``feature_time`` (µs) of the rows it indexes (as served: only the rows that were ever visible)."""
    code, ft, cr = (_numpy(rows[c]) for c in ("__code", "__ft", "__cr"))
    if as_served:
        avail = _numpy(rows["__av"])
        keep = visible_rows(code, avail, ft, cr)
        if len(keep) < len(rows):
            rows = rows.take(pa.array(keep))
            code, ft, cr, avail = code[keep], ft[keep], cr[keep], avail[keep]
        index = AsOf(code, avail, (ft, cr))
        del avail
    else:
        index = AsOf(code, ft, (cr,))
    del code, cr
    features = rows.select([c for c in rows.column_names if c.startswith("__v")])
    return features, index.match(probes), ft


def _numpy(col: pa.ChunkedArray) -> np.ndarray:
    """A column without nulls as one numpy array (zero-copy for one chunk). Several chunks are joined
    by numpy, not by Arrow: Arrow's pool hands every large buffer back to the kernel when it is freed,
    so each new one is faulted in and zeroed again (~5x the copy itself); numpy's reuses the memory."""
    if col.num_chunks == 1:
        return col.chunk(0).to_numpy()
    if col.num_chunks == 0:
        return col.combine_chunks().to_numpy()
    return np.concatenate([c.to_numpy() for c in col.chunks])


def pit_join(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    labels: pa.Table,
    time_column: str,
    requests: list[ViewRequest],
    *,
    as_served: bool = False,
) -> tuple[pa.Table, JoinReport]:
    """Join ``requests`` onto ``labels`` point in time; returns (feature columns, report).

    ``labels[time_column]`` must already be ``timestamp[us, UTC]`` without nulls. The returned
    table has one row per label row, in label order, holding only the requested output columns
    (defaults filled in) and any requested ``feature_time`` columns.
    """
    started = time.perf_counter()
    n = len(labels)
    report = JoinReport(rows=n, as_served=as_served)
    keys_needed = sorted({k for r in requests for k in r.view.entities})
    missing = [k for k in keys_needed if k not in labels.column_names]
    if missing:
        raise LabelError(
            f"labels: expected entity key column(s) {missing} for the requested views, found columns "
            f"{labels.column_names}",
            hint="add the column(s) to the labels, or rename yours to the entity names the views declare",
        )
    if n == 0 or not requests:
        report.seconds = time.perf_counter() - started
        return pa.table({}), report
    tcol = labels[time_column].cast(UTC_US)
    mm = pc.min_max(tcol).as_py()
    t_min, t_max = mm["min"].replace(tzinfo=None), mm["max"].replace(tzinfo=None)
    base = pa.table(
        {
            _ROW: pa.array(np.arange(n, dtype=np.int64)),
            _T: tcol,
            **{k: labels[k] for k in keys_needed},
        }
    )
    t_us = tcol.cast(pa.int64()).to_numpy()
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    con.register("__fs_labels", base)
    keys = _KeyCodes(con, base, t_us)

    # The next view's rows are read (DuckDB, which releases the GIL) while this one is matched
    # (numpy); only the worker thread uses the connection until the pool is shut down. Per view the
    # worker first builds the key codes, then reads: the label probes are sorted here meanwhile.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurestream-pit")

    def submit(req: ViewRequest) -> tuple[Future[tuple[str, _KeySpec]], Future[pa.Table]]:
        planned = pool.submit(_view_query, con, config, req, keys, t_min - req.max_age, t_max, as_served)
        return planned, pool.submit(_read, con, planned)

    try:
        planned, read = submit(requests[0])
        keys.times()  # while the first view is read
        for i, req in enumerate(requests):
            probes = keys.probes(planned.result()[1])
            rows = read.result()
            if i + 1 < len(requests):
                planned, read = submit(requests[i + 1])
            rows, matched, ft = _match(rows, probes, as_served)
            _scatter(rows, matched, ft, req, t_us, columns, report)
            del rows, ft
    except BaseException:
        con.interrupt()  # stop a read still running for a join that failed (or was interrupted)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        keys.drop()
        con.unregister("__fs_labels")
    report.seconds = time.perf_counter() - started
    return pa.table(columns), report


def _scatter(
    rows: pa.Table,
    matched: np.ndarray,
    row_ft: np.ndarray,
    req: ViewRequest,
    t_us: np.ndarray,
    columns: dict[str, pa.ChunkedArray | pa.Array],
    report: JoinReport,
) -> None:
    """One view's matched rows in label order; validity bound, defaults, match counts."""
    n = len(matched)
    has = matched >= 0
    ft = np.where(has, row_ft[np.maximum(matched, 0)] if len(row_ft) else 0, 0)
    valid_np = has & (ft > req.fresh_after_us(t_us)) & (ft <= t_us)
    has_row = int(has.sum())
    matched_n = int(valid_np.sum())
    leaked = int((has & (ft > t_us)).sum())
    report.views.append(ViewReport(req.view.ref, n, matched_n, has_row - matched_n, n - has_row, leaked))
    valid = pa.array(valid_np)
    # every row without a valid match gets the default, so the unmatched ones may take row 0
    take = np.maximum(matched, 0)
    for j, ((_, out), default) in enumerate(zip(req.columns, req.defaults, strict=True)):
        columns[out] = _fill(_take(rows[f"__v{j}"], take), valid, default, out)
    if req.feature_time_column:
        columns[req.feature_time_column] = pa.array(ft, type=pa.int64(), mask=~valid_np).cast(UTC_US)


def _take(col: pa.ChunkedArray, take: np.ndarray) -> pa.Array:
    """``col``'s values at the row indices ``take``. Integer and float columns without nulls are
    gathered by numpy (the same bytes; no Arrow concatenation of every chunk first, see :func:`_numpy`)."""
    if len(col) == 0:
        return pa.nulls(len(take), col.type)
    if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return pa.array(_numpy(col)[take], type=col.type)
    return col.combine_chunks().take(pa.array(take))


def _fill(col: pa.Array, valid: pa.Array, default: object, name: str) -> pa.Array:
    try:
        fallback = pa.scalar(default, type=col.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise OfflineError(
            f"column {name!r}: the declared default {default!r} does not fit the feature's type {col.type}",
            hint="fix '-- defaults:' in the view's .sql file to a value of the feature's type",
        ) from exc
    return pc.if_else(valid, col, fallback)
