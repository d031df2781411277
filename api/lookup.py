"""Execute a lookup plan: validate entities, one Redis round trip, statuses, defaults, on-demand.

The result is column-major (one list per output column), which is Feast's layout; the native
endpoint pivots it. Degradation: when Redis is down or misses the deadline every stored value gets
status ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` (and its default in the native API), never an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from featurestream.api.errors import BadRequest, PayloadTooLarge
from featurestream.api.plan import LookupPlan
from featurestream.api.state import AppState
from featurestream.online.keys import entity_keys
from featurestream.semantics import FILLED_STATUSES, Status

__all__ = ["LookupResult", "run_lookup"]

log = logging.getLogger(__name__)
_P, _NF, _OMA = Status.PRESENT, Status.NOT_FOUND, Status.OUTSIDE_MAX_AGE
_loads = orjson.loads


@dataclass
class LookupResult:
    plan: LookupPlan
    n: int
    now_ms: int
    stored: list[list[Any]]  # per column: value as stored (None when missing)
    statuses: list[list[Status]]  # per column
    times: list[list[int | None]]  # per column: feature_time ms (None when missing)
    degraded: Status | None
    sla_breached: list[list[bool]]  # per read, per entity

    def served(self, c: int) -> list[Any]:
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
        raise BadRequest(
            f"unknown entity key(s) {unknown}",
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


async def run_lookup(
    state: AppState,
    plan: LookupPlan,
    entities: Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Sequence[Any]],
    deadline_s: float,
) -> LookupResult:
    """Validate, read in one round trip within ``deadline_s``, classify, run on-demand functions."""
    extra = set(plan.request_fields)
    allowed = extra if request_data is entities else set()
    n = _entity_count(plan, entities, state.config.serving.max_entities, allowed, request_data)
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

    groups = []
    for read in plan.reads:
        cols = [entities[e] for e in read.view.entities]
        groups.append((entity_keys(read.key_prefix, read.key_suffix, cols), read.fields))

    degraded: Status | None = None
    raw: list[list[bytes | None]] = []
    cached = state.cache_get(groups)
    if cached is not None:
        raw = cached
    elif state.store_blocked():
        degraded = Status.UNAVAILABLE
    else:
        try:
            async with asyncio.timeout(deadline_s):
                raw = await state.reader.read(groups)
            state.store_ok()
            state.cache_put(groups, raw)
        except TimeoutError:
            degraded = Status.DEADLINE_EXCEEDED
            state.metrics.redis_errors.labels("deadline").inc()
        except (RedisError, OSError) as exc:
            degraded = Status.UNAVAILABLE
            state.store_failed(exc)
            state.metrics.redis_errors.labels("unavailable").inc()

    now_ms = int(time.time() * 1000)
    ncols = len(plan.columns)
    stored: list[list[Any]] = [[None] * n for _ in range(ncols)]
    statuses: list[list[Status]] = [[_NF] * n for _ in range(ncols)]
    times: list[list[int | None]] = [[None] * n for _ in range(ncols)]
    per_read_status: list[list[Status]] = []
    per_read_time: list[list[int | None]] = []
    per_read_vals: list[list[list[Any]]] = []
    sla: list[list[bool]] = []
    off = 0
    for read in plan.reads:
        st_col: list[Status] = []
        ft_col: list[int | None] = []
        vals: list[list[Any]] = []
        br: list[bool] = []
        nf = len(read.fields)
        for i in range(n):
            if degraded is not None:
                st_col.append(degraded)
                ft_col.append(None)
                vals.append([None] * nf)
                br.append(True)
                continue
            row = raw[off + i]
            ft_raw = row[0]
            if ft_raw is None:
                st_col.append(_NF)
                ft_col.append(None)
                vals.append([None] * nf)
                br.append(True)
                continue
            ft = int(ft_raw)
            st_col.append(_P if now_ms - read.max_age_ms < ft else _OMA)
            ft_col.append(ft)
            vals.append([None if b is None else _loads(b) for b in row])
            br.append(now_ms - ft > read.sla_ms)
        off += n
        per_read_status.append(st_col)
        per_read_time.append(ft_col)
        per_read_vals.append(vals)
        sla.append(br)
        _count(state, plan.namespace, read.view.ref, st_col)

    for c, col in enumerate(plan.columns):
        if col.udf is None:
            vals_r = per_read_vals[col.read]
            stored[c] = [v[col.pos] for v in vals_r]
            statuses[c] = per_read_status[col.read]
            times[c] = per_read_time[col.read]
    for c, col in enumerate(plan.columns):
        if col.udf is not None:
            _run_udf(state, plan, col, c, n, request_data, per_read_vals, per_read_status, stored, statuses)
    result = LookupResult(plan, n, now_ms, stored, statuses, times, degraded, sla)
    if state.feature_log is not None:  # sampled, queued without I/O; written by a background thread
        state.feature_log.offer(plan.namespace, plan, entities, result)
    return result


def _count(state: AppState, namespace: str, view: str, statuses: list[Status]) -> None:
    counts: dict[Status, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    for s, k in counts.items():
        state.metrics.values.labels(namespace, view, s.value).inc(k)


def _run_udf(
    state: AppState,
    plan: LookupPlan,
    col: Any,
    c: int,
    n: int,
    request_data: Mapping[str, Sequence[Any]],
    per_read_vals: list[list[list[Any]]],
    per_read_status: list[list[Status]],
    stored: list[list[Any]],
    statuses: list[list[Status]],
) -> None:
    udf = col.udf
    out_v: list[Any] = []
    out_s: list[Status] = []
    for i in range(n):
        args = []
        for kind, val in col.udf_args:
            if kind == "req":
                args.append(request_data[val][i])
            else:
                r, pos = val
                st = per_read_status[r][i]
                args.append(plan.reads[r].defaults[pos] if st in FILLED_STATUSES else per_read_vals[r][i][pos])
        v, s = udf.evaluate(args)
        out_v.append(v)
        out_s.append(s)
        if s is not Status.PRESENT:
            log.debug("on-demand %s -> %s", udf.name, s)
    stored[c] = out_v
    statuses[c] = out_s
    for s in set(out_s):
        state.metrics.ondemand.labels(udf.name, s.value).inc(out_s.count(s))
