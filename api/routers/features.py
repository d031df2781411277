"""``POST /v1/features``: the native lookup, with status, freshness and defaults per value."""

from __future__ import annotations

import time

from fastapi import APIRouter

from featurestream.api.deps import ApiKeyDep, StateDep
from featurestream.api.errors import BadRequest
from featurestream.api.limits import check_cost
from featurestream.api.lookup import run_lookup
from featurestream.api.responses import OrjsonResponse
from featurestream.api.schemas import NativeRequest, NativeResponse
from featurestream.api.timefmt import iso_ms
from featurestream.semantics import FILLED_STATUSES

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["features"])


# The route returns its Response itself (orjson bytes), so FastAPI never validates the body per request;
# response_model only documents it in the OpenAPI schema.
@router.post("/features", response_model=NativeResponse)
async def get_features(body: NativeRequest, state: StateDep, api_key: ApiKeyDep) -> OrjsonResponse:
    """Values in request order per entity; missing, expired or degraded values carry the declared
    default (``default_applied``), the same default the offline training-set join uses."""
    t0 = time.perf_counter()
    ns = state.keys.namespace_for(api_key, body.namespace)
    if (body.features is None) == (body.feature_service is None):
        raise BadRequest("pass exactly one of 'features' or 'feature_service'")
    if body.feature_service is not None:
        plan = state.catalog.service_plan(ns, body.feature_service)
    else:
        check_cost(len(body.features or []), body.entities, state.config.serving.max_cost)
        plan = state.catalog.plan(ns, body.features or [])
    check_cost(len(plan.columns), body.entities, state.config.serving.max_cost)
    if len({c.ref for c in plan.columns}) != len(plan.columns):
        raise BadRequest("a feature is requested twice", hint="list each reference once")
    deadline = (body.deadline_ms or state.config.serving.deadline_ms) / 1000.0
    res = await run_lookup(state, plan, body.entities, body.request_data, deadline)

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
        results.append({"entity": {e: body.entities[e][i] for e in plan.entity_names}, "features": feats})
    meta = {
        "namespace": ns,
        "features": [c.ref for c in plan.columns],
        "resolved": [c.canonical for c in plan.columns],
        "registry_revision": state.catalog.revision,
        "degraded": None if res.degraded is None else res.degraded.value,
    }
    state.metrics.request_seconds.labels("v1-features").observe(time.perf_counter() - t0)
    return OrjsonResponse({"metadata": meta, "results": results})
