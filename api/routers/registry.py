"""Registry endpoints: feature views and services visible to the caller's namespace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from featurestream.api.deps import ApiKeyDep, StateDep
from featurestream.api.errors import NotFound
from featurestream.api.responses import OrjsonResponse
from featurestream.api.schemas import FeatureServiceOut, FeatureViewOut, OnDemandFeatureOut
from featurestream.definitions import FeatureView
from featurestream.errors import FeatureStreamError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["registry"])
NamespaceQuery = Annotated[str | None, Query(description="defaults to the API key's namespace")]


def _view(v: FeatureView) -> dict[str, Any]:
    d = v.to_dict()
    return {k: d[k] for k in FeatureViewOut.model_fields}


@router.get("/feature-views", response_model=list[FeatureViewOut])
async def list_views(state: StateDep, api_key: ApiKeyDep, namespace: NamespaceQuery = None) -> OrjsonResponse:
    ns = state.keys.namespace_for(api_key, namespace)
    return OrjsonResponse([_view(v) for v in state.catalog.registry.views(ns)])


@router.get("/feature-views/{name}", response_model=list[FeatureViewOut])
async def get_view(
    name: str,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NamespaceQuery = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> OrjsonResponse:
    """Every registered version of the view (or only ``version``), oldest first."""
    ns = state.keys.namespace_for(api_key, namespace)
    views = [v for v in state.catalog.registry.views(ns) if v.name == name and version in (None, v.version)]
    if not views:
        raise NotFound(
            f"no feature view {name!r}" + (f" version {version}" if version else "") + f" in namespace {ns!r}",
            hint="list them with GET /v1/feature-views",
        )
    return OrjsonResponse([_view(v) for v in views])


@router.get("/feature-services", response_model=list[FeatureServiceOut])
async def list_services(state: StateDep, api_key: ApiKeyDep, namespace: NamespaceQuery = None) -> OrjsonResponse:
    ns = state.keys.namespace_for(api_key, namespace)
    return OrjsonResponse([s.to_dict() for s in state.catalog.registry.services(ns)])


@router.get("/feature-services/{name}", response_model=FeatureServiceOut)
async def get_service(
    name: str, state: StateDep, api_key: ApiKeyDep, namespace: NamespaceQuery = None
) -> OrjsonResponse:
    ns = state.keys.namespace_for(api_key, namespace)
    try:
        return OrjsonResponse(state.catalog.service(ns, name).to_dict())
    except FeatureStreamError as exc:
        raise NotFound(exc.message, hint=exc.hint) from exc


@router.get("/on-demand-features", response_model=list[OnDemandFeatureOut])
async def list_on_demand(state: StateDep, api_key: ApiKeyDep) -> OrjsonResponse:
    """The on-demand functions this key can request: those whose stored inputs all resolve in its namespace."""
    ns = state.keys.namespace_for(api_key)
    return OrjsonResponse(
        [
            {
                "ref": f.ref,
                "inputs": list(f.inputs),
                "dtype": f.dtype,
                "default": f.default,
                "budget_ms": f.budget_ms,
                "cache_ttl_s": f.cache_ttl_s,
                "description": f.description,
            }
            for f in state.catalog.udfs
            if state.catalog.usable_in(ns, f)
        ]
    )
