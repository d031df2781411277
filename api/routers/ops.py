"""Liveness, readiness (reports Redis down, or an online store that lost its data) and Prometheus metrics.

``/readyz`` is unauthenticated, so it names the kind of failure only, never a host, port or URL.
It probes the repo's own store (``redis.url``). A namespace served from its own store
(``redis.namespaces``) never makes the worker unready: an orchestrator would then pull the worker
from every namespace for one namespace's outage. That namespace's lookups answer degraded instead.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from featurestream.api.errors import RETRY_AFTER_S, STORE_OUTAGES
from featurestream.api.responses import OrjsonResponse
from featurestream.api.schemas import ReadyOut, StatusOut
from featurestream.api.state import AppState
from featurestream.online.keys import GENERATION_KEY

__all__ = ["router"]

router = APIRouter(tags=["operations"])
# No generation marker (featurestream.online.generation): the store lost its data or was never filled.
LOST = "lost data: no generation marker (refill the store from the offline one: 'featurestream materialize VIEW')"
_METRICS = "Prometheus text exposition format"


@router.get("/healthz", response_model=StatusOut)
async def healthz() -> OrjsonResponse:
    return OrjsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={
        503: {"model": ReadyOut, "description": "not ready: the body names the Redis error or the store's data loss"}
    },
)
async def readyz(request: Request) -> OrjsonResponse:
    state: AppState = request.app.state.fs
    state.catalog.maybe_refresh()
    redis_status = "ok"
    store = "unknown"
    own = state.store(state.config.namespace)  # the repo's store (redis.url); see the module docstring
    try:
        async with asyncio.timeout(max(state.config.serving.deadline_ms / 1000.0, 0.5)):
            await own.reader.ping()
            marker = await own.reader.client.get(GENERATION_KEY)
        own.ok()
        store = "ok" if marker is not None else LOST
    except TimeoutError:
        redis_status = "down: no answer to PING in time"
    except STORE_OUTAGES as exc:
        own.failed(exc)  # the full error (host, port) goes to the server's log only
        redis_status = f"down: {type(exc).__name__}"
    ready = redis_status == "ok" and store == "ok"
    body = {
        "status": "ready" if ready else "not ready",
        "redis": redis_status,
        "online_store": store,
        "registry_revision": state.catalog.revision,
        "feature_views": len(state.catalog.registry.views()),
    }
    if ready:
        return OrjsonResponse(body)
    return OrjsonResponse(body, status_code=503, headers={"retry-after": str(RETRY_AFTER_S)})


@router.get(
    "/metrics",
    response_class=Response,  # no default media type: the body is documented below
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}, "description": _METRICS}},
)
async def metrics(request: Request) -> Response:
    state: AppState = request.app.state.fs
    state.metrics.registry_revision.set(state.catalog.revision)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
