"""``POST /get-online-features``: Feast's feature-server JSON, so Feast clients work unchanged.

Differences from Feast, on purpose: an unknown entity is ``NOT_FOUND`` (Feast's Python server says
``PRESENT`` with a null), feature order follows the request, and a row older than the view's max
age is returned with ``OUTSIDE_MAX_AGE`` and its stored value, as Feast's Go server does. When the
store is down or late, values are null with status ``INVALID`` (the only other Feast status) and the
``x-featurestream-degraded`` / ``x-featurestream-degraded-reason`` headers say what and why. A
worker that cannot serve the request in time answers 503 ``Overloaded`` (``api.admission``).

The answer is built by :func:`featurestream.api.answer.feast_answer`; a well-formed request never
reaches this route (``api.fastlane`` answers it first); this route answers the rest (and documents
the endpoint), so pydantic's validation errors stay the contract for malformed requests.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from featurestream.api.admission import arrival_of
from featurestream.api.answer import feast_answer
from featurestream.api.deps import ApiKeyDep, NamespaceHeaderDep, StateDep
from featurestream.api.schemas import FeastRequest, FeastResponse

__all__ = ["router"]

router = APIRouter(tags=["feast"])


# The route returns its Response itself (orjson bytes), so FastAPI never validates the body per request;
# response_model only documents it in the OpenAPI schema.
@router.post("/get-online-features", response_model=FeastResponse)
async def get_online_features(
    request: Request,
    body: FeastRequest,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NamespaceHeaderDep,
    x_deadline_ms: Annotated[float | None, Header(gt=0, le=60_000)] = None,
) -> Response:
    content, headers = await feast_answer(
        state,
        entities=body.entities,
        features=body.features,
        feature_service=body.feature_service,
        full_feature_names=body.full_feature_names,
        api_key=api_key,
        namespace=namespace,
        deadline_ms=x_deadline_ms,
        arrival=arrival_of(request.scope),
    )
    named = {k.decode(): v.decode("latin-1") for k, v in headers}
    return Response(content, media_type="application/json", headers=named)
