"""The FastAPI app: built from a config; clients and definitions are set up in the lifespan.

The app is a :class:`ServingApp`: well-formed lookups take the raw-ASGI fast lane
(:mod:`featurestream.api.fastlane`) before FastAPI's middleware and routing; everything else,
malformed lookups included, is FastAPI's as usual.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from featurestream.api.admission import stamp
from featurestream.api.auth import KeyRing
from featurestream.api.catalog import Catalog
from featurestream.api.fastlane import FAST_PATHS, FastLane
from featurestream.api.handlers import install_handlers
from featurestream.api.limits import RequestGuard
from featurestream.api.routers import feast, features, monitoring, ops, push, registry
from featurestream.api.schemas import ErrorOut
from featurestream.api.state import AppState
from featurestream.api.stores import Stores
from featurestream.config import Config, load_config
from featurestream.errors import FeatureStreamError
from featurestream.monitoring.service import MonitoringService
from featurestream.ondemand import load_udfs
from featurestream.online.reader import AsyncOnlineReader
from featurestream.registry import Registry

__all__ = ["ServingApp", "create_app"]

log = logging.getLogger(__name__)
# Documented on every route: the error body of featurestream.api.errors (FastAPI's default 422 is not ours).
_INVALID: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "invalid request"}}
_BUG: dict[int | str, dict[str, Any]] = {500: {"model": ErrorOut, "description": "a bug; logged under the incident id"}}


class ServingApp(FastAPI):
    """FastAPI, with the lookup endpoints answered by the fast lane once the lifespan has run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast = FastLane(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            stamp(scope)
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in FAST_PATHS:
            fs = getattr(self.state, "fs", None)
            if fs is not None:
                scope["app"] = self
                await self._fast(scope, receive, send, fs)
                return
        await super().__call__(scope, receive, send)


def _warm_plans(catalog: Catalog, namespace: str) -> int:
    """Resolve every feature service of ``namespace`` into the plan cache (start-up, not the first request)."""
    warmed = 0
    for svc in catalog.registry.services(namespace):
        try:
            catalog.service_plan(namespace, f"{svc.name}@{svc.version}")
            catalog.service_plan(namespace, svc.name)
            warmed += 1
        except FeatureStreamError as exc:  # a service naming a missing view: its requests will say so
            log.warning("feature service %s@%s not resolvable at start-up: %s", svc.name, svc.version, exc.message)
    return warmed


def create_app(config: Config | None = None) -> FastAPI:
    """The serving app for ``config`` (default: ``load_config()`` of the working directory).

    On-demand functions come from the repo's ``ondemand.path`` folder (``load_udfs``), the same
    ones the training-set builder runs.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = config or load_config()
        catalog = Catalog(Registry.open(cfg), load_udfs(cfg), plan_cache_size=cfg.serving.plan_cache_size)
        stores = Stores(lambda ns: AsyncOnlineReader.from_url(cfg.redis_url_for(ns)))
        app.state.fs = AppState(
            cfg, catalog, stores, KeyRing(cfg.serving, cfg.namespace, root=cfg.root, env=os.environ)
        )
        mon = MonitoringService(cfg, app.state.fs.metrics.registry)
        app.state.monitoring = mon
        app.state.fs.feature_log = mon.logger
        mon.start(lambda: catalog.registry.views(cfg.namespace))
        warmed = _warm_plans(catalog, cfg.namespace)
        log.info("serving namespace %s, revision %s, %d service plans", cfg.namespace, catalog.revision, warmed)
        gc.collect()
        gc.freeze()  # start-up objects leave the collector's scans: no GC pauses on big answers
        try:
            yield
        finally:
            mon.stop()
            await stores.close()
            if app.state.fs.event_sink is not None:
                app.state.fs.event_sink.close()

    app = ServingApp(title="featurestream", version="0.1.0", lifespan=lifespan)
    for r in (feast.router, features.router, registry.router, monitoring.router, push.router):
        app.include_router(r, responses={**_INVALID, **_BUG})
    app.include_router(ops.router, responses=_BUG)  # no input, so never a 422
    install_handlers(app)
    app.add_middleware(RequestGuard)  # auth and body size before any body is read
    return app


def app_from_env():  # type: ignore[no-untyped-def]
    """uvicorn factory: the app for the repo named by ``FEATURESTREAM_SERVE_ROOT`` (one per worker)."""
    import os

    from featurestream.config import load_config

    return create_app(load_config(os.environ.get("FEATURESTREAM_SERVE_ROOT", ".")))
