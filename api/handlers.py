"""Exception handlers: the rule of :mod:`featurestream.api.errors`, applied to every route.

* :class:`ApiError` -> its own status, code and name (4xx, or 503 for :class:`StoreUnavailable` and
  :class:`Overloaded`, whose ``reason`` joins the body);
* a request that fails validation -> 422 ``RequestValidationError`` listing each bad field;
* Starlette's own ``HTTPException`` (unknown path 404, wrong method 405) -> its status;
* an exception in :data:`STORE_OUTAGES` (the store unreachable, a deadline) -> 503
  ``StoreUnavailable``; every 503 carries ``Retry-After``;
* anything else is a bug -> logged with its traceback (``logging.exception``) and answered
  500 ``InternalError`` with an incident id that is in the log line; no internals in the body.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from featurestream.api.errors import RETRY_AFTER_S, STORE_OUTAGES, ApiError, store_unavailable
from featurestream.api.responses import OrjsonResponse

__all__ = ["error_answer", "error_response", "exception_answer", "install_handlers"]

log = logging.getLogger(__name__)


def error_response(
    request: Request, status: int, code: str, name: str, message: str, hint: str | None = None, **extra: Any
) -> OrjsonResponse:
    """The one error body: ``{"error": {"code", "name", "message", "hint"?, ...extra}}``; counted by code."""
    return error_answer(getattr(request.app.state, "fs", None), status, code, name, message, hint, **extra)


def error_answer(
    state: Any, status: int, code: str, name: str, message: str, hint: str | None = None, **extra: Any
) -> OrjsonResponse:
    """:func:`error_response` for callers without a Request (the lookup fast lane): ``state`` is the
    app's ``AppState`` (or None), whose metrics count the error."""
    if state is not None:
        state.metrics.http_errors.labels(code).inc()
    body: dict[str, Any] = {"error": {"code": code, "name": name, "message": message, **extra}}
    if hint:
        body["error"]["hint"] = hint
    headers = {"retry-after": str(RETRY_AFTER_S)} if status == 503 else None
    return OrjsonResponse(body, status_code=status, headers=headers)


def _api_error(request: Request, exc: ApiError) -> OrjsonResponse:
    return error_response(request, exc.status_code, exc.code, exc.name, exc.message, exc.hint, **exc.details())


def install_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app`` (see the module docstring for the rule)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> OrjsonResponse:
        return _api_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problems.append({"field": loc, "problem": err.get("msg", "invalid")})
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return error_response(
            request,
            422,
            "invalid_request",
            "RequestValidationError",
            f"invalid request: {summary}",
            problems=problems,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> OrjsonResponse:
        return error_response(request, exc.status_code, "http_error", "HTTPException", str(exc.detail))

    async def outage(request: Request, exc: Exception) -> OrjsonResponse:
        return exception_answer(getattr(request.app.state, "fs", None), request.method, request.url.path, exc)

    for kind in STORE_OUTAGES:
        if not issubclass(kind, ApiError):
            app.add_exception_handler(kind, outage)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> OrjsonResponse:
        return exception_answer(getattr(request.app.state, "fs", None), request.method, request.url.path, exc)


def exception_answer(state: Any, method: str, path: str, exc: Exception) -> OrjsonResponse:
    """The answer to ``exc`` raised while serving ``method path`` (the module's rule, for any caller):
    an :class:`ApiError` is itself, a store outage a 503, anything else a logged bug (500)."""
    if isinstance(exc, ApiError):
        return error_answer(state, exc.status_code, exc.code, exc.name, exc.message, exc.hint, **exc.details())
    if isinstance(exc, STORE_OUTAGES):
        log.warning("%s %s: online store unavailable: %s", method, path, exc)
        err = store_unavailable(exc)
        return error_answer(state, err.status_code, err.code, err.name, err.message, err.hint)
    # A bug: the traceback goes to the log under an incident id; the client gets the id only.
    incident = uuid.uuid4().hex[:12]
    log.exception("unexpected error on %s %s (incident %s)", method, path, incident, exc_info=exc)
    return error_answer(
        state,
        500,
        "internal_error",
        "InternalError",
        "the server failed on this request; the error was logged",
        hint=f"report incident {incident} to the operators of this server",
        incident=incident,
    )
