"""Exception handlers: every error becomes a JSON 4xx naming the problem; never a 500 page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from featurestream.api.errors import ApiError
from featurestream.api.responses import OrjsonResponse

__all__ = ["install_handlers"]

log = logging.getLogger(__name__)


def _error(
    request: Request, status: int, code: str, message: str, hint: str | None = None, **extra: Any
) -> OrjsonResponse:
    state = getattr(request.app.state, "fs", None)
    if state is not None:
        state.metrics.http_errors.labels(code).inc()
    body: dict[str, Any] = {"error": {"code": code, "message": message, **extra}}
    if hint:
        body["error"]["hint"] = hint
    return OrjsonResponse(body, status_code=status)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> OrjsonResponse:
        return _error(request, exc.status_code, exc.code, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problems.append({"field": loc, "problem": err.get("msg", "invalid")})
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return _error(request, 422, "invalid_request", f"invalid request: {summary}", problems=problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> OrjsonResponse:
        return _error(request, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> OrjsonResponse:
        # Last resort: a bug. Log it with the traceback, answer 503 without internals.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(request, 503, "internal_error", "the server could not answer this request; it was logged")
