"""``POST /push``: Feast's push request, appended to the source's Kafka topic (see ``featurestream.push``).

Authorised per namespace like reads: the API key's namespace (or the ``x-featurestream-namespace``
header it may read) names where the source is looked up. A batch that does not fit the schema is
a 422 naming each row and column, and nothing is written; a broker that does not answer is a 503
with ``Retry-After``. Feast's ``to`` (online / offline / both) is accepted and means the same here:
the views reading the source write both stores.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from featurestream.api.deps import ApiKeyDep, NamespaceHeaderDep, StateDep
from featurestream.api.errors import ApiError, BadRequest, NotFound
from featurestream.api.responses import OrjsonResponse
from featurestream.definitions import Source
from featurestream.push import KafkaEventSink, PushError, PushUnavailable, push_rows, rows_from_columns

__all__ = ["PushOut", "PushRequest", "router"]

router = APIRouter(tags=["push"])


class PushRequest(BaseModel):
    """Feast's push body: ``push_source_name`` is the featurestream source, ``df`` its rows by column."""

    push_source_name: str
    df: dict[str, list[Any]] = Field(description="column -> one value per row (Feast's push shape)")
    to: Literal["online", "offline", "online_and_offline"] = "online_and_offline"


class PushOut(BaseModel):
    source: str
    topic: str
    rows: int


class BrokerUnavailable(ApiError):
    """Kafka did not take the batch (503, retry later: events are de-duplicated by id)."""

    status_code = 503
    code = "broker_unavailable"


@router.post("/push", response_model=PushOut)
async def push(body: PushRequest, state: StateDep, api_key: ApiKeyDep, namespace: NamespaceHeaderDep) -> OrjsonResponse:
    t0 = time.perf_counter()
    ns = state.keys.namespace_for(api_key, namespace)
    sources = {s["name"]: s for s in state.catalog.registry.sources(ns)}
    found = sources.get(body.push_source_name)
    if found is None:
        raise NotFound(
            f"expected a registered source named {body.push_source_name!r} in namespace {ns!r}, found none",
            hint=f"sources of this namespace: {', '.join(sorted(sources)) or 'none (run featurestream apply)'}",
        )
    if state.event_sink is None:
        state.event_sink = KafkaEventSink(state.config)
    try:
        rows = rows_from_columns(body.df)
        result = await run_in_threadpool(push_rows, state.config, Source.from_dict(found), rows, state.event_sink)
    except PushError as exc:
        raise BadRequest(exc.message, hint=exc.hint) from exc
    except PushUnavailable as exc:
        raise BrokerUnavailable(exc.message, hint=exc.hint) from exc
    state.metrics.request_seconds.labels("push").observe(time.perf_counter() - t0)
    return OrjsonResponse({"source": result.source, "topic": result.topic, "rows": result.rows})
