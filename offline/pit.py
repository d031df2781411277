"""The one point-in-time join: label rows x feature views, in DuckDB with ASOF JOIN.

For each label row (entity keys + time ``t``) and each requested view, the answer is the view's
row with the greatest ``(feature_time, created_at)`` such that ``feature_time <= t``; it counts
only if ``fresh_after(t) < feature_time`` (:func:`featurestream.semantics.validity`, the server's
rule: the TTL and the quiet-window rule), otherwise the view's declared default is used.
DuckDB's ASOF JOIN picks, per left row, the right row with the greatest ordering value ``<=`` the
left one; ordering on the pair
``(feature_time, created_at)`` against ``(t, +infinity)`` therefore resolves ``created_at`` ties
inside the join, with no separate de-duplication pass. The pair is packed into one ``HUGEINT``
(``feature_time`` epoch µs in the high 64 bits, ``created_at`` epoch µs offset to unsigned in the low
64 bits, NULL lowest), which orders exactly like the pair but sorts and compares far cheaper than
a struct. The TTL lower bound is applied after the join: if the newest row at or before ``t`` is
too old, every older row is too. Rows outside ``(min t - max_age, max t]`` are filtered in the
Parquet scan (``max_age``: the longest any row is live).

"As served" mode orders rows by when they became available online instead: ``created_at`` for
streamed rows, ``feature_time + watermark delay`` for backfilled ones (``created_at`` missing or
not after ``feature_time``). Online writes are monotonic, so a row that became available after a
row with a greater ``feature_time`` never became visible; those rows are dropped before the join.

Each view is its own ASOF query over the label keys (one query chaining the joins carried every
earlier view's columns through each later sort: 2x the peak memory). Label rows keep their order
and count (duplicates included): each carries its row number and every view's result is
scattered back by it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestream.config import Config
from featurestream.definitions import FeatureView
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


def _interval(td: timedelta) -> str:
    return f"INTERVAL {int(td / timedelta(microseconds=1))} MICROSECOND"


def _key_types(con: duckdb.DuckDBPyConnection, select: str, keys: tuple[str, ...]) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {select}").fetchall()
    return {r[0]: r[1] for r in rows if r[0] in keys}


# (feature_time, created_at) -> one HUGEINT ordered like the pair; see the module docstring.
_HIGH = "18446744073709551616::HUGEINT"
_CREATED_US = (
    "coalesce(epoch_us(created_at), CASE WHEN created_at > feature_time "
    "THEN 9223372036854775807 ELSE -9223372036854775808 END)"  # NULL, -infinity lowest; +infinity highest
)
_PACKED_ORDER = f"epoch_us(feature_time)::HUGEINT * {_HIGH} + ({_CREATED_US}::HUGEINT + 9223372036854775808)"
_LABEL_ORDER = f"epoch_us({_T})::HUGEINT * {_HIGH} + 18446744073709551615"  # (t, +infinity)

_ARROW_TO_DUCK = {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER"}


def _view_query(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    req: ViewRequest,
    labels: pa.Table,
    lo: datetime,
    hi: datetime,
    as_served: bool,
) -> str:
    """One view's ASOF join: ``(label row, joined feature_time in epoch µs, features...)``."""
    view = req.view
    select = view_select(
        con,
        config,
        view,
        start=(lo - timedelta(days=1)).date(),
        end=(hi + timedelta(days=1)).date(),
        time_range=(lo, hi),
    )
    ktypes = _key_types(con, select, view.entities)
    keys = ", ".join(quote(k) for k in view.entities)
    feats = ", ".join(quote(f) for f, _ in req.columns)
    created = "coalesce(created_at, TIMESTAMP '-infinity')"
    if not as_served:
        body = f"SELECT {keys}, epoch_us(feature_time) AS __ft, {_PACKED_ORDER} AS __ord, {feats} FROM ({select})"
        label_order = _LABEL_ORDER
    else:
        avail = (
            "CASE WHEN created_at IS NOT NULL AND created_at > feature_time THEN created_at "
            f"ELSE feature_time + {_interval(req.watermark_delay)} END"
        )
        ordered = f"{{'a': __avail, 'b': feature_time, 'c': {created}}}"
        body = (
            f"SELECT {keys}, epoch_us(feature_time) AS __ft, {ordered} AS __ord, {feats} FROM ("
            f"SELECT *, {avail} AS __avail FROM ({select})) "
            f"QUALIFY coalesce({{'b': feature_time, 'c': {created}}} >= max({{'b': feature_time, 'c': {created}}}) "
            f"OVER (PARTITION BY {keys} ORDER BY {ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), true)"
        )
        # make_timestamp(epoch_us(..)): the UTC wall clock by arithmetic (a cast from TIMESTAMPTZ goes through ICU)
        label_order = f"{{'a': make_timestamp(epoch_us({_T})), 'b': TIMESTAMP 'infinity', 'c': TIMESTAMP 'infinity'}}"
    on = " AND ".join(_key_match(labels, k, ktypes.get(k, "VARCHAR")) for k in view.entities)
    outs = ", ".join(
        [f"l.{_ROW}", "f.__ft", *(f"f.{quote(f)} AS {quote(f'__c{j}')}" for j, (f, _) in enumerate(req.columns))]
    )
    return (
        f"WITH l AS (SELECT {_ROW}, {keys}, {label_order} AS __ord_l FROM __fs_labels), f AS ({body}) "
        f"SELECT {outs} FROM l ASOF LEFT JOIN f ON {on} AND l.__ord_l >= f.__ord"
    )


def _key_match(label: pa.Table, key: str, ktype: str) -> str:
    """``l.key = f.key``; TRY_CAST the label side only when its type differs from the view's."""
    same = _ARROW_TO_DUCK.get(str(label.schema.field(key).type)) == ktype
    left = f"l.{quote(key)}" if same else f"TRY_CAST(l.{quote(key)} AS {ktype})"
    return f"{left} = f.{quote(key)}"


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
    try:
        for req in requests:
            sql = _view_query(con, config, req, base, t_min - req.max_age, t_max, as_served)
            raw = con.sql(sql).to_arrow_table()
            _scatter(raw, req, t_us, n, columns, report)
    finally:
        con.unregister("__fs_labels")
    report.seconds = time.perf_counter() - started
    return pa.table(columns), report


def _scatter(
    raw: pa.Table,
    req: ViewRequest,
    t_us: np.ndarray,
    n: int,
    columns: dict[str, pa.ChunkedArray | pa.Array],
    report: JoinReport,
) -> None:
    """Put one view's joined rows back in label order; TTL bound, defaults, match counts."""
    position = np.empty(n, dtype=np.int64)
    position[raw[_ROW].to_numpy()] = np.arange(n, dtype=np.int64)
    take = pa.array(position)
    ft_arr = raw["__ft"].take(take)
    has = pc.is_valid(ft_arr).to_numpy(zero_copy_only=False)
    ft = pc.fill_null(ft_arr, 0).to_numpy()
    valid_np = has & (ft > req.fresh_after_us(t_us)) & (ft <= t_us)
    has_row = int(has.sum())
    matched = int(valid_np.sum())
    leaked = int((has & (ft > t_us)).sum())
    report.views.append(ViewReport(req.view.ref, n, matched, has_row - matched, n - has_row, leaked))
    valid = pa.chunked_array([pa.array(valid_np)])
    for j, ((_, out), default) in enumerate(zip(req.columns, req.defaults, strict=True)):
        columns[out] = _fill(raw[f"__c{j}"].take(take), valid, default, out)
    if req.feature_time_column:
        kept = pc.if_else(valid, ft_arr, pa.scalar(None, pa.int64()))
        columns[req.feature_time_column] = kept.cast(pa.timestamp("us")).cast(UTC_US)


def _fill(col: pa.ChunkedArray, valid: pa.ChunkedArray, default: object, name: str) -> pa.ChunkedArray:
    try:
        fallback = pa.scalar(default, type=col.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise OfflineError(
            f"column {name!r}: the declared default {default!r} does not fit the feature's type {col.type}",
            hint="fix '-- defaults:' in the view's .sql file to a value of the feature's type",
        ) from exc
    return pc.if_else(valid, col, fallback)
