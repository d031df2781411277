"""What a request may cost, checked before the server spends anything on it.

The rules this module owns:

* **Authentication before the body.** When API keys are configured, a request that carries a body
  is answered 401 (missing or wrong key) before one byte of that body is read or parsed.
* **Body size before parsing.** A body larger than ``serving.max_body_bytes`` is answered 413: at
  once when its ``content-length`` says so, else as soon as the bytes counted while they arrive
  (a chunked body has no length) pass the limit; the rest is never read.
* **Structure before parsing.** A body with more than ``serving.max_json_containers`` ``[`` and
  ``{`` bytes (arrays and objects, counted over-generously: brackets inside strings count too) is
  answered 413 unparsed. An empty array costs a parser ~60 bytes from one byte of input, so without
  this bound half a megabyte of ``[[],[],...]`` costs ~10 MB; with it, what parsing allocates is a
  small multiple of the body's size.
* **Fan-out before planning.** Entities x features of one request (:func:`check_cost`) is at most
  ``serving.max_cost``, checked on the parsed request before any lookup plan is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from featurestream.api.errors import ApiError, BodyTooLarge, PayloadTooLarge, TooCostly, Unauthorized
from featurestream.api.handlers import error_response

__all__ = [
    "RequestGuard",
    "api_key_of",
    "check_before_body",
    "check_body",
    "check_cost",
    "read_guarded_body",
    "replay_body",
    "send_error",
]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def api_key_of(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a request carries: ``x-api-key``, else ``Authorization: Bearer <key>``. Never a URL query."""
    if x_api_key:
        return x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def check_cost(n_features: int, entities: Mapping[str, Sequence[Any]], max_cost: int) -> None:
    """413 when ``n_features`` x the number of entity rows passes ``max_cost`` (the per-request cap)."""
    rows = max((len(v) for v in entities.values()), default=0)
    cost = n_features * max(rows, 1)
    if cost > max_cost:
        raise TooCostly(
            f"{n_features} features x {rows} entities = {cost} values in one request, the limit is {max_cost}",
            hint="split the request into smaller batches of entities or features, or raise serving.max_cost",
        )


class RequestGuard:
    """ASGI middleware applying the first two rules of this module to every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope.get("app"), "state", None)
        fs = getattr(state, "fs", None) if state is not None else None
        if scope["type"] != "http" or fs is None or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            key = api_key_of(headers.get("x-api-key"), headers.get("authorization"))
            body = await read_guarded_body(fs, key, headers.get("content-length"), receive)
        except (Unauthorized, PayloadTooLarge) as exc:
            await send_error(scope, receive, send, exc)
            return
        if body is None:  # the client went away
            return
        await self.app(scope, replay_body(body, receive), send)


async def read_guarded_body(fs: Any, api_key: str | None, content_length: str | None, receive: Receive) -> bytes | None:
    """The body of a request, read under the first three rules of this module (``fs``: the app's
    ``AppState``); ``None`` when the client went away. Raises :class:`Unauthorized` /
    :class:`PayloadTooLarge` (answer it with :func:`send_error`)."""
    check_before_body(fs, api_key, content_length)
    body = await _read_bounded(receive, fs.config.serving.max_body_bytes)
    if body is not None:
        check_body(fs, body)
    return body


def check_before_body(fs: Any, api_key: str | None, content_length: str | None) -> None:
    """The rules checked on a request's head alone: its API key, and the size its ``content-length``
    announces. Raises :class:`Unauthorized` / :class:`PayloadTooLarge`."""
    if fs.keys.enabled:
        fs.keys.namespace_for(api_key)
    limit = fs.config.serving.max_body_bytes
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(int(content_length), limit)


def check_body(fs: Any, body: bytes) -> None:
    """The rules checked on a whole body before it is parsed (its size, its JSON containers); raises
    :class:`PayloadTooLarge`."""
    limit = fs.config.serving.max_body_bytes
    if len(body) > limit:
        raise _too_large(len(body), limit)
    _check_structure(body, fs.config.serving.max_json_containers)


def _too_large(size: int, limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"request body of {size} bytes or more, the limit is {limit} bytes",
        hint="split the request into smaller batches, or raise serving.max_body_bytes",
    )


def _check_structure(body: bytes, max_containers: int) -> None:
    if len(body) <= max_containers:  # every container takes a byte: a body this short cannot hold too many
        return
    containers = body.count(b"[") + body.count(b"{")
    if containers > max_containers:
        raise BodyTooLarge(
            f"request body holds {containers} JSON arrays/objects ('[' or '{{'), the limit is {max_containers}",
            hint="send flat lists of entity values, split the request, or raise serving.max_json_containers",
        )


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    """The whole body, counting bytes as they arrive; PayloadTooLarge once past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read ``body`` to the app, then defers to ``receive``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_error(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
    """Answer ``exc`` with the one error body (``scope["app"]`` is the app, whose metrics count it)."""
    response = error_response(
        Request(scope), exc.status_code, exc.code, exc.name, exc.message, exc.hint, **exc.details()
    )
    if isinstance(exc, PayloadTooLarge):
        response.headers["connection"] = "close"  # the unread rest of the body must not become a request
    await response(scope, receive, send)
