"""Execute a lookup plan, in named steps (each a function below, called once per request):

1. :func:`validate_request` — entity keys and request fields against the plan; the row count ``n``;
2. :func:`build_keys` — the Redis key of every (read, entity), in plan order;
3. :func:`read_rows` — ONE round trip for every key (or the hot-key cache) within the deadline;
4. :func:`classify_reads` — per read and entity: status, feature time, decoded values, SLA breach;
5. :func:`assemble_columns` — each stored column shares its read's status and time lists;
6. :func:`run_on_demand` — request-time functions over stored values (defaults where filled);
7. :func:`count_values` — the served-values metric, once per read.

The result is column-major (one list per output column), which is Feast's layout; the native
endpoint pivots it. Degradation: when Redis is down or misses the deadline (an exception in
:data:`~featurestream.api.errors.STORE_OUTAGES`) every stored value gets status ``UNAVAILABLE`` /
``DEADLINE_EXCEEDED`` (and its default in the native API), never an error. Any other store error is
a bug and propagates (500).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter  # read durations; ``time.time`` is the wall clock values are aged by
from typing import Any

import orjson

from featurestream.api.errors import STORE_OUTAGES, BadRequest, PayloadTooLarge
from featurestream.api.plan import LookupPlan
from featurestream.api.state import AppState
from featurestream.ondemand import OnDemandFeature
from featurestream.online.keys import RowReply, entity_keys, row_text
from featurestream.semantics import FILLED_STATUSES, Status

__all__ = [
    "LookupResult",
    "ReadRows",
    "assemble_columns",
    "build_keys",
    "classify_reads",
    "count_values",
    "read_rows",
    "run_lookup",
    "run_on_demand",
    "validate_request",
]

log = logging.getLogger(__name__)
_P, _NF, _OMA = Status.PRESENT, Status.NOT_FOUND, Status.OUTSIDE_MAX_AGE
_TIME_TYPES = frozenset({int, type(None)})  # of a stored row's feature_time (position 0)
_loads = orjson.loads


@dataclass
class LookupResult:
    plan: LookupPlan
    n: int
    now_ms: int
    stored: list[Sequence[Any]]  # per column: value as stored (None when missing); read-only
    statuses: list[list[Status]]  # per column
    times: list[list[int | None]]  # per column: feature_time ms (None when missing)
    degraded: Status | None
    sla_breached: list[list[bool]]  # per read, per entity
    degraded_reason: str | None = None  # why every stored value is degraded (None when not)

    def served(self, c: int) -> Sequence[Any]:
        """Column ``c`` with the declared default where the status calls for it (native API)."""
        col = self.plan.columns[c]
        if col.udf is not None:
            return self.stored[c]
        default = col.default
        return [default if s in FILLED_STATUSES else v for v, s in zip(self.stored[c], self.statuses[c], strict=True)]


def _entity_count(
    plan: LookupPlan,
    entities: Mapping[str, Sequence[Any]],
    max_entities: int,
    extra: set[str],
    rows_from: Mapping[str, Sequence[Any]],
) -> int:
    needed = set(plan.entity_names)
    missing = [e for e in plan.entity_names if e not in entities]
    if missing:
        raise BadRequest(
            f"missing entity key(s) {missing}",
            hint=f"the requested features are keyed by {list(plan.entity_names)}",
        )
    unknown = [k for k in entities if k not in needed and k not in extra]
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise BadRequest(
            f"unknown entity key(s) {unknown[:10]}{more}",
            hint=f"the requested features are keyed by {list(plan.entity_names)}"
            + (f"; request fields: {sorted(extra)}" if extra else ""),
        )
    lengths = {len(v) for v in entities.values()}
    if not lengths:  # only request-data features: rows are counted by the request data
        lengths = {len(v) for k, v in rows_from.items() if k in plan.request_fields}
    if not lengths:
        raise BadRequest("no entities given", hint='pass e.g. {"user_id": ["u1"]}')
    if len(lengths) != 1:
        raise BadRequest(
            "every entity key needs the same number of values, found "
            + ", ".join(f"{k}: {len(v)}" for k, v in entities.items())
        )
    n = lengths.pop()
    if n == 0:
        raise BadRequest("no entities given", hint='pass e.g. {"user_id": ["u1"]}')
    if n > max_entities:
        raise PayloadTooLarge(
            f"{n} entities in one request, the limit is {max_entities}",
            hint="split the request, or raise serving.max_entities",
        )
    for name in plan.entity_names:
        for v in entities[name]:
            if type(v) is not str and type(v) is not int:
                raise BadRequest(f"entity {name!r} values must be strings or integers, found {v!r}")
    return n


def validate_request(
    plan: LookupPlan,
    entities: Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Sequence[Any]],
    max_entities: int,
) -> int:
    """Check the entity keys and request fields against ``plan``; return the row count ``n``.

    ``request_data is entities`` means one mapping carries both (Feast's request): a request field
    is then not an unknown entity key. Every list has ``n`` values, ``1 <= n <= max_entities``;
    entity values are ``str`` or ``int``. Raises :class:`BadRequest` / :class:`PayloadTooLarge`.
    """
    extra = set(plan.request_fields)
    allowed = extra if request_data is entities else set()
    n = _entity_count(plan, entities, max_entities, allowed, request_data)
    for f in plan.request_fields:
        given = request_data.get(f)
        if given is None:
            raise BadRequest(f"missing request field {f!r} needed by an on-demand feature")
        if len(given) != n:
            raise BadRequest(f"request field {f!r} has {len(given)} values for {n} entities")
    if request_data is not entities:
        unknown = [k for k in request_data if k not in extra]
        if unknown:
            raise BadRequest(f"unknown request field(s) {unknown}", hint=f"needed: {sorted(extra)}")
    return n


def build_keys(plan: LookupPlan, entities: Mapping[str, Sequence[Any]]) -> list[str]:
    """The Redis key of every (read, entity) of ``plan``: read by read, entities in request order.

    Keys are ``read.key_prefix + encode_entity(values) + read.key_suffix``; a plain string entity
    (no ``|`` or ``\\``, which the encoding escapes) is its own encoding, so it skips the call.
    """
    keys: list[str] = []
    for read in plan.reads:
        keys += entity_keys(read.key_prefix, read.key_suffix, [entities[e] for e in read.view.entities])
    return keys


async def read_rows(
    state: AppState, namespace: str, keys: list[str], deadline_s: float
) -> tuple[list[RowReply], Status | None, str | None]:
    """The stored row of every key in ONE round trip to ``namespace``'s store (or all from the hot-key cache).

    Returns ``(rows, None, None)``, or ``([], UNAVAILABLE / DEADLINE_EXCEEDED, why)`` when the store is
    down, its breaker is open, or it misses ``deadline_s`` (the rest of the request's deadline when it
    was admitted). Only :data:`STORE_OUTAGES` degrade, and they open ``namespace``'s breaker alone
    (:mod:`featurestream.api.stores`); any other error propagates.
    """
    cached = state.cache_get(keys)
    if cached is not None:
        return cached, None, None
    store = state.store(namespace)
    if store.blocked():
        return (
            [],
            Status.UNAVAILABLE,
            (f"the online store is marked down after a failed read; retried every {store.retry_interval_s:g} s"),
        )
    t0 = perf_counter()
    try:
        raw = await store.reader.read(keys, deadline_s)
    except TimeoutError:
        state.metrics.redis_errors.labels(namespace, "deadline").inc()
        why = f"the online store did not answer within the {deadline_s * 1000:.1f} ms left of the deadline"
        return [], Status.DEADLINE_EXCEEDED, why
    except STORE_OUTAGES as exc:
        store.failed(exc)
        state.metrics.redis_errors.labels(namespace, "unavailable").inc()
        return [], Status.UNAVAILABLE, f"the online store is unavailable: {type(exc).__name__}"
    state.admission.observe_read(perf_counter() - t0)
    store.ok()
    state.cache_put(keys, raw)
    return raw, None, None


@dataclass(slots=True)
class ReadRows:
    """One read (view version) classified, per entity: status, feature time, SLA breach; and its
    values column-major: ``columns[pos][i]`` is field ``pos`` of entity ``i`` (pos 0 is the time)."""

    statuses: list[Status]
    times: list[int | None]
    columns: list[Sequence[Any]]
    sla_breached: list[bool]


def classify_reads(
    plan: LookupPlan, raw: list[RowReply], degraded: Status | None, n: int, now_ms: int
) -> list[ReadRows]:
    """Per read: ``degraded`` for every entity when set; else ``NOT_FOUND`` for a missing row,
    ``PRESENT`` when ``fresh_after(now) < feature_time`` (:func:`semantics.validity`), otherwise
    ``OUTSIDE_MAX_AGE`` (value kept).
    A missing or degraded row counts as an SLA breach.

    Values are decoded once, here, and in one parse per request: each entity's stored row is already
    one JSON array (:func:`online.keys.encode_row`), so the rows of every read are joined into one
    JSON array of rows (a missing row is its read's all-null row) and handed to orjson at once; a
    read's columns are one ``zip`` of its rows. No Python code runs per value. When a row is not
    JSON, each read parses its own rows, so only the rows that are not rows of their view version
    are lost (:func:`_decode_rows`)."""
    out: list[ReadRows] = []
    if degraded is not None:
        for read in plan.reads:
            nulls: list[Any] = [None] * n
            out.append(ReadRows([degraded] * n, [None] * n, [nulls] * len(read.defaults), [True] * n))
        return out
    parts: list[bytes] = []
    off = 0
    for read in plan.reads:
        null_row, names = read.layout.null_row, read.layout.names
        parts += [
            r if type(r) is bytes else null_row if r is None else row_text(r, names) or null_row
            for r in raw[off : off + n]
        ]
        off += n
    try:
        matrix: list[Any] | None = _load_rows(parts)
    except orjson.JSONDecodeError:
        matrix = None
    off = 0
    for read in plan.reads:
        width = len(read.defaults)
        bad: list[int] = []
        try:
            rows = matrix[off : off + n] if matrix is not None else _load_rows(parts[off : off + n])
            columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
            if len(columns) != width:
                raise ValueError(f"rows of {len(columns)} items, the view has {width}")
            if not _TIME_TYPES.issuperset(map(type, columns[0])):  # also a value that is not an array
                raise ValueError("a feature time that is not an integer")
        except (orjson.JSONDecodeError, ValueError, TypeError):  # a row not of this view version: only it is lost
            columns, bad = _decode_rows(read.view.ref, parts[off : off + n], width)
        off += n
        # comprehensions, not a loop of appends: this runs once per entity and view
        ft_col: list[int | None] = list(columns[0])
        fresh_after, sla_after = read.validity.fresh_after(now_ms), now_ms - read.sla_ms
        statuses = [_NF if t is None else _P if t > fresh_after else _OMA for t in ft_col]
        for i in bad:
            statuses[i] = Status.ERROR
        br = [t is None or t < sla_after for t in ft_col]
        out.append(ReadRows(statuses, ft_col, columns, br))
    return out


def _load_rows(parts: list[bytes]) -> list[Any]:
    """Stored rows (each one JSON array) parsed at once, as one JSON array of them."""
    return _loads(b"[" + b",".join(parts) + b"]")  # type: ignore[no-any-return]


def _decode_rows(view_ref: str, parts: list[bytes], width: int) -> tuple[list[Sequence[Any]], list[int]]:
    """Row by row: a row that is not JSON, or not an array of ``width`` items, gets nulls (status
    ``ERROR``, its default in the native API) and is logged; every other row keeps its values.
    Returns the columns and the positions of the rows lost."""
    matrix: list[Any] = []
    bad: list[int] = []
    for i, part in enumerate(parts):
        try:
            row = _loads(part)
            if type(row) is not list or len(row) != width or type(row[0]) not in _TIME_TYPES:
                raise ValueError(row)
            matrix.append(row)
        except (orjson.JSONDecodeError, ValueError):
            log.warning("a stored row of %s is not a row of this view version; served as ERROR", view_ref)
            bad.append(i)
            matrix.append([None] * width)
    return list(zip(*matrix, strict=True)), bad


def assemble_columns(
    plan: LookupPlan, reads: list[ReadRows], n: int
) -> tuple[list[Sequence[Any]], list[list[Status]], list[list[int | None]]]:
    """Column-major ``(stored, statuses, times)``; a stored column's status and time lists ARE its
    read's lists (shared, not copied: renderers rely on that), and its values are its read's column
    (read-only). On-demand columns are placeholders."""
    if not plan.has_udf:  # the common case: per run of columns adjacent in a read (LookupPlan.stored_runs)
        stored: list[Sequence[Any]] = []
        statuses: list[list[Status]] = []
        times: list[list[int | None]] = []
        for r, pos, k in plan.stored_runs:
            rows = reads[r]
            stored += rows.columns[pos : pos + k]
            statuses += [rows.statuses] * k
            times += [rows.times] * k
        return stored, statuses, times
    stored, statuses, times = [], [], []
    for col in plan.columns:
        if col.udf is None:
            rows = reads[col.read]
            stored.append(rows.columns[col.pos])
            statuses.append(rows.statuses)
            times.append(rows.times)
        else:
            stored.append([None] * n)
            statuses.append([_NF] * n)
            times.append([None] * n)
    return stored, statuses, times


async def run_lookup(
    state: AppState,
    plan: LookupPlan,
    entities: Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Sequence[Any]],
    deadline_s: float,
) -> LookupResult:
    """Validate, read in one round trip within ``deadline_s`` (what is left of the request's deadline),
    classify, run on-demand functions."""
    n = validate_request(plan, entities, request_data, state.config.serving.max_entities)
    keys = build_keys(plan, entities)
    raw, degraded, why = await read_rows(state, plan.namespace, keys, deadline_s)
    now_ms = int(time.time() * 1000)
    reads = classify_reads(plan, raw, degraded, n, now_ms)
    stored, statuses, times = assemble_columns(plan, reads, n)
    if plan.has_udf:
        # user code runs in a worker thread, never on the event loop; each function within its
        # per-request budget (featurestream.ondemand), interrupted there if it runs past it
        await asyncio.to_thread(_run_on_demand_columns, state, plan, n, request_data, reads, stored, statuses)
    count_values(state, plan, reads)
    result = LookupResult(plan, n, now_ms, stored, statuses, times, degraded, [r.sla_breached for r in reads], why)
    if state.feature_log is not None:  # sampled, queued without I/O; written by a background thread
        state.feature_log.offer(plan.namespace, plan, entities, result)
    return result


def count_values(state: AppState, plan: LookupPlan, reads: list[ReadRows]) -> None:
    """Add each read's statuses to ``featurestream_feature_values`` (:class:`~featurestream.api.metrics.ValueCounts`;
    the counts of the plan's reads are bound once per plan)."""
    slots = plan.render_cache.get("value_counts")
    if slots is None:
        counts = state.metrics.values.counts
        slots = plan.render_cache["value_counts"] = [counts(plan.namespace, r.view.ref) for r in plan.reads]
    for tally, rows in zip(slots, reads, strict=True):
        sts = rows.statuses
        if len(sts) == 1:
            s = sts[0]
            tally[s] = tally.get(s, 0) + 1
        else:
            for s in set(sts):  # a handful of distinct statuses: one count each, in C
                tally[s] = tally.get(s, 0) + sts.count(s)


def _run_on_demand_columns(
    state: AppState,
    plan: LookupPlan,
    n: int,
    request_data: Mapping[str, Sequence[Any]],
    reads: list[ReadRows],
    stored: list[Sequence[Any]],
    statuses: list[list[Status]],
) -> None:
    for c, col in enumerate(plan.columns):
        if col.udf is not None:
            stored[c], statuses[c] = run_on_demand(state, plan, col.udf, col.udf_args, n, request_data, reads)


def run_on_demand(
    state: AppState,
    plan: LookupPlan,
    udf: OnDemandFeature,
    udf_args: tuple[tuple[str, Any], ...],
    n: int,
    request_data: Mapping[str, Sequence[Any]],
    reads: list[ReadRows],
) -> tuple[list[Any], list[Status]]:
    """Evaluate ``udf`` per entity over ``udf_args`` (``("req", field)`` or ``("feat", (read, pos))``):
    a stored input whose status calls for its default gets the declared default, as offline does.
    Returns the column's values and statuses."""
    inputs: list[tuple[Sequence[Any], list[Status] | None, Any]] = []
    for kind, val in udf_args:
        if kind == "req":
            inputs.append((request_data[val], None, None))
        else:
            r, pos = val
            rows = reads[r]
            inputs.append((rows.columns[pos], rows.statuses, plan.reads[r].defaults[pos]))
    rows = (
        [vals[i] if sts is None or sts[i] not in FILLED_STATUSES else default for vals, sts, default in inputs]
        for i in range(n)
    )
    out_v, out_s = udf.evaluate_many(rows)
    for s in set(out_s):
        state.metrics.ondemand.labels(udf.name, s.value).inc(out_s.count(s))
    return out_v, out_s
