"""``POST /get-online-features``: Feast's feature-server JSON, so Feast clients work unchanged.

Differences from Feast, on purpose: an unknown entity is ``NOT_FOUND`` (Feast's Python server says
``PRESENT`` with a null), feature order follows the request, and a row older than the view's max
age is returned with ``OUTSIDE_MAX_AGE`` and its stored value, as Feast's Go server does. When the
store is down or late, values are null with status ``INVALID`` (the only other Feast status) and the
``x-featurestream-degraded`` header says why.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header

from featurestream.api.deps import ApiKeyDep, NamespaceHeaderDep, StateDep
from featurestream.api.errors import BadRequest
from featurestream.api.limits import check_cost
from featurestream.api.lookup import run_lookup
from featurestream.api.responses import OrjsonResponse
from featurestream.api.schemas import FeastRequest, FeastResponse
from featurestream.api.timefmt import EPOCH_TS, iso_ms
from featurestream.semantics import DEGRADED_STATUSES, Status

__all__ = ["router"]

router = APIRouter(tags=["feast"])
_FEAST_STATUS = {s: s.value for s in Status}
_FEAST_STATUS.update({s: "INVALID" for s in DEGRADED_STATUSES})


# The route returns its Response itself (orjson bytes), so FastAPI never validates the body per request;
# response_model only documents it in the OpenAPI schema.
@router.post("/get-online-features", response_model=FeastResponse)
async def get_online_features(
    body: FeastRequest,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NamespaceHeaderDep,
    x_deadline_ms: Annotated[float | None, Header(gt=0, le=60_000)] = None,
) -> OrjsonResponse:
    t0 = time.perf_counter()
    ns = state.keys.namespace_for(api_key, namespace)
    if (body.features is None) == (body.feature_service is None):
        raise BadRequest("pass exactly one of 'features' or 'feature_service'")
    if body.feature_service is not None:
        plan = state.catalog.service_plan(ns, body.feature_service)
    else:
        check_cost(len(body.features or []), body.entities, state.config.serving.max_cost)
        plan = state.catalog.plan(ns, body.features or [])
    check_cost(len(plan.columns), body.entities, state.config.serving.max_cost)
    deadline = (x_deadline_ms or state.config.serving.deadline_ms) / 1000.0
    res = await run_lookup(state, plan, body.entities, body.entities, deadline)

    names: list[str] = []
    results: list[dict[str, object]] = []
    n = res.n
    for e in plan.entity_names:
        names.append(e)
        results.append({"values": body.entities[e], "statuses": ["PRESENT"] * n, "event_timestamps": [EPOCH_TS] * n})
    seen: set[str] = set()
    # Columns of one view share their statuses and times lists: render each list once.
    rendered: dict[tuple[int, int], tuple[list[str], list[str]]] = {}
    for c, col in enumerate(plan.columns):
        name = col.full_name if body.full_feature_names else col.short_name
        if name in seen:
            raise BadRequest(
                f"feature name {name!r} appears twice in the response",
                hint="set 'full_feature_names': true, or request each feature once",
            )
        seen.add(name)
        names.append(name)
        sts, times = res.statuses[c], res.times[c]
        key = (id(sts), id(times))
        pair = rendered.get(key)
        if pair is None:
            pair = ([_FEAST_STATUS[s] for s in sts], [iso_ms(t) for t in times])
            rendered[key] = pair
        results.append({"values": res.stored[c], "statuses": pair[0], "event_timestamps": pair[1]})
    headers = {"x-featurestream-degraded": res.degraded.value} if res.degraded is not None else None
    state.metrics.request_seconds.labels("get-online-features").observe(time.perf_counter() - t0)
    return OrjsonResponse({"metadata": {"feature_names": names}, "results": results}, headers=headers)
