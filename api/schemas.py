"""Request and response models (separate classes; responses are documented, rendered with orjson)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

__all__ = [
    "ErrorBody",
    "ErrorOut",
    "FeastRequest",
    "FeastResponse",
    "FeatureServiceOut",
    "FeatureViewOut",
    "NativeRequest",
    "NativeResponse",
    "OnDemandFeatureOut",
    "ReadyOut",
    "StatusOut",
]

EntityValue = StrictStr | StrictInt


class FeastRequest(BaseModel):
    """Feast's feature-server request (``POST /get-online-features``)."""

    entities: dict[str, list[Any]] = Field(description="entity keys (and request data) -> one value per row")
    feature_service: str | None = None
    features: list[str] | None = None
    full_feature_names: bool = False


class FeastResult(BaseModel):
    values: list[Any]
    statuses: list[str]
    event_timestamps: list[str]


class FeastMetadata(BaseModel):
    feature_names: list[str]


class FeastResponse(BaseModel):
    """Column-major: ``results[i]`` is column ``metadata.feature_names[i]``, entity columns first."""

    metadata: FeastMetadata
    results: list[FeastResult]


class NativeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(None, description="'view[@version]:feature' or 'on_demand:name'")
    feature_service: str | None = Field(None, description="'name' or 'name@version'")
    entities: dict[str, list[EntityValue]]
    request_data: dict[str, list[Any]] = Field(default_factory=dict)
    namespace: str | None = None
    deadline_ms: float | None = Field(None, gt=0, le=60_000)


class FeatureValueOut(BaseModel):
    value: Any
    status: str
    feature_time: str | None
    age_ms: int | None
    sla_breached: bool
    default_applied: bool


class EntityResultOut(BaseModel):
    entity: dict[str, Any]
    features: dict[str, FeatureValueOut]


class NativeMetadata(BaseModel):
    namespace: str
    features: list[str]
    resolved: list[str]
    registry_revision: int
    degraded: str | None = Field(description="UNAVAILABLE or DEADLINE_EXCEEDED when every stored value is degraded")
    degraded_reason: str | None = Field(None, description="why the stored values are degraded")


class NativeResponse(BaseModel):
    metadata: NativeMetadata
    results: list[EntityResultOut]


class FeatureOut(BaseModel):
    name: str
    dtype: str
    default: Any


class FeatureViewOut(BaseModel):
    name: str
    version: int
    namespace: str
    entities: list[str]
    ttl: str
    freshness_sla: str
    owner: str
    description: str
    window: str | None
    features: list[FeatureOut]
    tags: dict[str, str]


class FeatureServiceOut(BaseModel):
    name: str
    version: int
    namespace: str
    features: list[str]
    owner: str
    description: str


class OnDemandFeatureOut(BaseModel):
    ref: str
    inputs: list[str]
    dtype: str
    default: Any
    budget_ms: float
    cache_ttl_s: float
    description: str


class StatusOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str = Field(description="'ready' or 'not ready'")
    redis: str = Field(description="'ok', or 'down: <why>'")
    online_store: str = Field(
        description="'ok' (the store's generation marker is present), 'unknown' while Redis is down, or "
        "'lost data: ...' (no marker: the store lost its data or was never filled; a job or materialize refills it)"
    )
    registry_revision: int
    feature_views: int


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. ``problems`` of a 422, ``incident`` of a 500

    code: str = Field(description="stable snake_case tag, e.g. 'not_found', 'store_unavailable'")
    name: str = Field(description="the error class, e.g. 'NotFound', 'StoreUnavailable', 'InternalError'")
    message: str = Field(description="what was expected and what was found")
    hint: str | None = Field(None, description="how to fix it")


class ErrorOut(BaseModel):
    """Every error answer (see featurestream.api.errors for which status means what)."""

    error: ErrorBody
