"""Dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import Cookie, Depends, Header, Request

from featurestream.api.limits import api_key_of
from featurestream.api.state import AppState

__all__ = ["ApiKeyDep", "NamespaceHeaderDep", "StateDep", "get_state"]


# Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, which
# cost more CPU than the whole lookup (a thread hop per dependency per request).


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.fs
    state.catalog.maybe_refresh()
    return state


async def _api_key(
    x_api_key: Annotated[str | None, Header(description="API key (or send Authorization: Bearer <key>)")] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    featurestream_api_key: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> str | None:
    # the cookie is the dashboard's (GET only: RequestGuard checks requests with a body by header)
    cookie = unquote(featurestream_api_key) if featurestream_api_key else None  # the page percent-encodes it
    return api_key_of(x_api_key, authorization) or cookie


async def _namespace_header(
    x_featurestream_namespace: Annotated[str | None, Header(description="namespace to read (optional)")] = None,
) -> str | None:
    return x_featurestream_namespace


StateDep = Annotated[AppState, Depends(get_state)]
ApiKeyDep = Annotated[str | None, Depends(_api_key)]
NamespaceHeaderDep = Annotated[str | None, Depends(_namespace_header)]
