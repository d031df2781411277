"""``POST /v1/features``: the native lookup, with status, freshness and defaults per value.

The answer is built by :func:`featurestream.api.answer.native_answer`; a well-formed request is
answered by ``api.fastlane`` before it reaches this route, which answers the rest (and documents
the endpoint), so pydantic's validation errors stay the contract for malformed requests.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from featurestream.api.admission import arrival_of
from featurestream.api.answer import native_answer
from featurestream.api.deps import ApiKeyDep, StateDep
from featurestream.api.schemas import NativeRequest, NativeResponse

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["features"])


# The route returns its Response itself (orjson bytes), so FastAPI never validates the body per request;
# response_model only documents it in the OpenAPI schema.
@router.post("/features", response_model=NativeResponse)
async def get_features(request: Request, body: NativeRequest, state: StateDep, api_key: ApiKeyDep) -> Response:
    """Values in request order per entity; missing, expired or degraded values carry the declared
    default (``default_applied``), the same default the offline training-set join uses."""
    content, _ = await native_answer(
        state,
        entities=body.entities,
        features=body.features,
        feature_service=body.feature_service,
        request_data=body.request_data,
        namespace=body.namespace,
        deadline_ms=body.deadline_ms,
        api_key=api_key,
        arrival=arrival_of(request.scope),
    )
    return Response(content, media_type="application/json")
