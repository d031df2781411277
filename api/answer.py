"""The two lookup answers, as JSON bytes: Feast's (``/get-online-features``) and the native one (``/v1/features``).

One implementation each, called by the FastAPI routes (``api.routers``) and by the raw-ASGI fast lane
(``api.fastlane``), which must answer byte for byte alike. Each: resolve the namespace (API key), the
plan (cached) and the cost limits, pass admission control (:mod:`featurestream.api.admission`: the
deadline counts from ``arrival``), run the lookup within the rest of the deadline, render.

A degraded answer (Redis down or late) says which values are degraded and why: every stored value
has a degraded status (Feast: ``INVALID``; native: ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` with its
default), Feast's answer carries ``x-featurestream-degraded`` (the status) and
``x-featurestream-degraded-reason`` headers, the native one ``metadata.degraded`` and
``metadata.degraded_reason``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from featurestream.api.errors import BadRequest
from featurestream.api.limits import check_cost
from featurestream.api.lookup import run_lookup
from featurestream.api.plan import LookupPlan
from featurestream.api.state import AppState
from featurestream.api.timefmt import EPOCH_TS, iso_ms
from featurestream.semantics import DEGRADED_STATUSES, FILLED_STATUSES, Status

__all__ = ["Headers", "feast_answer", "native_answer"]

Headers = list[tuple[bytes, bytes]]
# Feast knows five statuses (PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE, NULL_VALUE, INVALID): every one of
# ours beyond its first three (store down or late, an on-demand function that raised or ran out of
# time, a stored value that is not JSON) is INVALID there, so the Feast SDK can parse every answer.
_FEAST_STATUS = {s: s.value for s in Status}
_FEAST_STATUS.update({s: "INVALID" for s in (*DEGRADED_STATUSES, Status.ERROR, Status.TIMEOUT)})
# What an on-demand function may return beyond JSON's types: numpy values, dicts with non-string
# keys. Every other value of an answer came from JSON (stored rows, the request) or is ours, and
# orjson's non-string-key mode doubles the cost of an answer (18 vs 9 us for 1 x 50): only plans
# with an on-demand column pay for it.
_UDF_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _dump(plan: LookupPlan, doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=_UDF_OPTS if plan.has_udf else 0)


def _plan(
    state: AppState, ns: str, features: Sequence[str] | None, service: str | None, entities: Mapping[str, Sequence[Any]]
) -> LookupPlan:
    if (features is None) == (service is None):
        raise BadRequest("pass exactly one of 'features' or 'feature_service'")
    max_cost = state.config.serving.max_cost
    if service is not None:
        plan = state.catalog.service_plan(ns, service)
    else:
        check_cost(len(features or ()), entities, max_cost)
        plan = state.catalog.plan(ns, features or ())
    check_cost(len(plan.columns), entities, max_cost)
    return plan


async def _lookup(
    state: AppState,
    plan: LookupPlan,
    entities: Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Sequence[Any]],
    deadline_ms: float | None,
    arrival: tuple[float, float],
) -> Any:
    rest = state.admission.admit(*arrival, (deadline_ms or state.config.serving.deadline_ms) / 1000.0)
    try:
        return await run_lookup(state, plan, entities, request_data, rest)
    finally:
        state.admission.release()


def _feast_names(plan: LookupPlan, full: bool) -> list[str]:
    """The answer's feature names (entity keys first); raises when a name repeats. Cached per plan."""
    cached = plan.render_cache.get(("feast_names", full))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names = list(plan.entity_names)
    seen: set[str] = set()
    for col in plan.columns:
        name = col.full_name if full else col.short_name
        if name in seen:
            raise BadRequest(
                f"feature name {name!r} appears twice in the response",
                hint="set 'full_feature_names': true, or request each feature once",
            )
        seen.add(name)
        names.append(name)
    plan.render_cache[("feast_names", full)] = names
    return names


def _column_groups(plan: LookupPlan) -> tuple[list[int], list[int]]:
    """Columns that share their statuses and times lists: a stored column shares its read's
    (:func:`~featurestream.api.lookup.assemble_columns`), an on-demand column has its own. Returns the
    first column of each group and, per column, the index of its group in that list. Cached per plan."""
    cached = plan.render_cache.get("column_groups")
    if cached is None:
        firsts: dict[tuple[str, int], int] = {}
        groups = [("read", col.read) if col.udf is None else ("udf", c) for c, col in enumerate(plan.columns)]
        for c, g in enumerate(groups):
            firsts.setdefault(g, c)
        order = list(firsts)
        cached = ([firsts[g] for g in order], [order.index(g) for g in groups])
        plan.render_cache["column_groups"] = cached
    return cached  # type: ignore[no-any-return]


async def feast_answer(
    state: AppState,
    *,
    entities: Mapping[str, Sequence[Any]],
    features: Sequence[str] | None,
    feature_service: str | None,
    full_feature_names: bool,
    api_key: str | None,
    namespace: str | None,
    deadline_ms: float | None,
    arrival: tuple[float, float],
) -> tuple[bytes, Headers]:
    """Feast's feature-server answer: column-major, entity columns first, then features in request order."""
    t0 = time.perf_counter()
    state.catalog.maybe_refresh()
    ns = state.keys.namespace_for(api_key, namespace)
    plan = _plan(state, ns, features, feature_service, entities)
    names = _feast_names(plan, full_feature_names)
    res = await _lookup(state, plan, entities, entities, deadline_ms, arrival)
    n = res.n
    results: list[dict[str, object]] = []
    for e in plan.entity_names:
        results.append({"values": entities[e], "statuses": ["PRESENT"] * n, "event_timestamps": [EPOCH_TS] * n})
    # Columns of one view share their statuses and times lists: render each list once.
    firsts, group = _column_groups(plan)
    sts_g = [[_FEAST_STATUS[s] for s in res.statuses[c]] for c in firsts]
    ts_g = [[iso_ms(t) for t in res.times[c]] for c in firsts]
    results += [
        {"values": v, "statuses": sts_g[g], "event_timestamps": ts_g[g]} for v, g in zip(res.stored, group, strict=True)
    ]
    headers: Headers = []
    if res.degraded is not None:
        headers.append((b"x-featurestream-degraded", res.degraded.value.encode()))
        headers.append((b"x-featurestream-degraded-reason", (res.degraded_reason or "").encode("latin-1", "replace")))
    content = _dump(plan, {"metadata": {"feature_names": names}, "results": results})
    state.metrics.lookup_seconds["get-online-features"].observe(time.perf_counter() - t0)
    return content, headers


async def native_answer(
    state: AppState,
    *,
    entities: Mapping[str, Sequence[Any]],
    features: Sequence[str] | None,
    feature_service: str | None,
    request_data: Mapping[str, Sequence[Any]],
    namespace: str | None,
    deadline_ms: float | None,
    api_key: str | None,
    arrival: tuple[float, float],
) -> tuple[bytes, Headers]:
    """Values in request order per entity; missing, expired or degraded values carry the declared
    default (``default_applied``), the same default the offline training-set join uses."""
    t0 = time.perf_counter()
    state.catalog.maybe_refresh()
    ns = state.keys.namespace_for(api_key, namespace)
    plan = _plan(state, ns, features, feature_service, entities)
    if len({c.ref for c in plan.columns}) != len(plan.columns):
        raise BadRequest("a feature is requested twice", hint="list each reference once")
    res = await _lookup(state, plan, entities, request_data, deadline_ms, arrival)

    now = res.now_ms
    served = [res.served(c) for c in range(len(plan.columns))]
    results = []
    for i in range(res.n):
        feats = {}
        for c, col in enumerate(plan.columns):
            st = res.statuses[c][i]
            ft = res.times[c][i]
            breached = res.sla_breached[col.read][i] if col.udf is None else False
            feats[col.ref] = {
                "value": served[c][i],
                "status": st.value,
                "feature_time": None if ft is None else iso_ms(ft),
                "age_ms": None if ft is None else now - ft,
                "sla_breached": breached,
                "default_applied": st in FILLED_STATUSES,
            }
        results.append({"entity": {e: entities[e][i] for e in plan.entity_names}, "features": feats})
    meta = {
        "namespace": ns,
        "features": [c.ref for c in plan.columns],
        "resolved": [c.canonical for c in plan.columns],
        "registry_revision": state.catalog.revision,
        "degraded": None if res.degraded is None else res.degraded.value,
        "degraded_reason": res.degraded_reason,
    }
    content = _dump(plan, {"metadata": meta, "results": results})
    state.metrics.lookup_seconds["v1-features"].observe(time.perf_counter() - t0)
    return content, []
