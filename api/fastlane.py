"""The lookup fast lane: ``POST /get-online-features`` and ``POST /v1/features`` as raw ASGI.

A well-formed lookup is answered here without FastAPI's routing, dependency injection or pydantic:
the headers are scanned once, the body is read under the rules of :mod:`featurestream.api.limits`
(API key before the body, size and structure before parsing), parsed with orjson (the stdlib parser
past 64 KiB, which allocates half as much), checked against
the shape of :class:`~featurestream.api.schemas.FeastRequest` / ``NativeRequest`` with plain type
checks, and answered by :mod:`featurestream.api.answer` (the same functions the routes call, so
the bytes are the same). Errors follow :func:`featurestream.api.handlers.exception_answer`.

Anything this lane does not recognise as well-formed (invalid JSON, a wrong type, an unknown field
of the native request, a malformed ``x-deadline-ms``) is handed, body and all, to the FastAPI app,
whose routes answer it exactly as before (pydantic's 422 listing each bad field).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from featurestream.api.admission import arrival_of
from featurestream.api.answer import Headers, feast_answer, native_answer
from featurestream.api.errors import PayloadTooLarge, Unauthorized
from featurestream.api.handlers import exception_answer
from featurestream.api.limits import api_key_of, read_guarded_body, replay_body, send_error

__all__ = ["FAST_PATHS", "FastLane", "LookupHead", "lookup_answer"]

FEAST_PATH = "/get-online-features"
NATIVE_PATH = "/v1/features"
FAST_PATHS = frozenset({FEAST_PATH, NATIVE_PATH})
_NATIVE_FIELDS = frozenset({"features", "feature_service", "entities", "request_data", "namespace", "deadline_ms"})
_JSON = (b"content-type", b"application/json")
_STR = frozenset({str})
_ORJSON_MAX = 64 * 1024  # bodies up to this size are parsed by orjson, larger ones by the stdlib

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _str_list(v: Any) -> bool:
    return type(v) is list and set(map(type, v)) <= _STR  # the types collected in C, not a generator per item


def _lists(v: Any) -> bool:
    return type(v) is dict and all(type(x) is list for x in v.values())


def _entity_lists(v: Any) -> bool:
    return type(v) is dict and all(type(x) is list and all(type(e) in (str, int) for e in x) for x in v.values())


def _feast_ok(doc: Any) -> bool:
    """True when ``doc`` is a FeastRequest pydantic would accept unchanged (no coercion needed)."""
    return (
        type(doc) is dict
        and _lists(doc.get("entities"))
        and (doc.get("features") is None or _str_list(doc["features"]))
        and (doc.get("feature_service") is None or type(doc["feature_service"]) is str)
        and type(doc.get("full_feature_names", False)) is bool
    )


def _native_ok(doc: Any) -> bool:
    """True when ``doc`` is a NativeRequest pydantic would accept unchanged (extra fields are refused)."""
    if type(doc) is not dict or not _NATIVE_FIELDS.issuperset(doc):
        return False
    d = doc.get("deadline_ms")
    return (
        _entity_lists(doc.get("entities"))
        and (doc.get("features") is None or _str_list(doc["features"]))
        and (doc.get("feature_service") is None or type(doc["feature_service"]) is str)
        and _lists(doc.get("request_data", {}))
        and (doc.get("namespace") is None or type(doc["namespace"]) is str)
        and (d is None or (type(d) in (int, float) and 0 < d <= 60_000))
    )


def _deadline_header(raw: str | None) -> tuple[bool, float | None]:
    """``(ok, value)`` of ``x-deadline-ms``: absent, or a number in (0, 60000]."""
    if raw is None:
        return True, None
    try:
        v = float(raw)
    except ValueError:
        return False, None
    return 0 < v <= 60_000, v


class LookupHead:
    """The headers of a lookup request the lane reads, scanned once (``scan``); raw latin-1 strings."""

    __slots__ = ("api_key", "auth", "deadline", "key", "length", "namespace")

    def __init__(self) -> None:
        self.length: str | None = None
        self.api_key: str | None = None
        self.auth: str | None = None
        self.namespace: str | None = None
        self.deadline: str | None = None
        self.key: str | None = None  # the API key the request presents (api_key_of), set by scan

    @classmethod
    def scan(cls, headers: Iterable[tuple[bytes, bytes]]) -> LookupHead:
        """``headers``: lower-case names, as ASGI and uvicorn's parser give them."""
        h = cls()
        for k, v in headers:
            if k == b"content-length":
                h.length = v.decode("latin-1")
            elif k == b"x-api-key":
                h.api_key = v.decode("latin-1")
            elif k == b"authorization":
                h.auth = v.decode("latin-1")
            elif k == b"x-featurestream-namespace":
                h.namespace = v.decode("latin-1")
            elif k == b"x-deadline-ms":
                h.deadline = v.decode("latin-1")
        h.key = api_key_of(h.api_key, h.auth)  # once: the head's rules and the answer both read it
        return h


def lookup_answer(
    fs: Any, path: str, head: LookupHead, body: bytes, arrival: tuple[float, float]
) -> Awaitable[tuple[bytes, Headers]] | None:
    """The answer (awaitable) to the lookup ``body`` of ``path``, or None when the request is not
    well-formed (the FastAPI route must answer it). ``body`` passed :func:`~featurestream.api.limits.check_body`."""
    try:
        # orjson is ~4x faster, but builds a document tape first: on a large body it allocates twice
        # what the stdlib parser does, and api.limits promises parsing costs a small multiple of the body
        doc = orjson.loads(body) if len(body) <= _ORJSON_MAX else json.loads(body)
    except ValueError:  # invalid JSON or UTF-8: the route answers it
        return None
    if path == FEAST_PATH:
        ok_deadline, deadline_ms = _deadline_header(head.deadline)
        if not (ok_deadline and _feast_ok(doc)):
            return None
        return feast_answer(
            fs,
            entities=doc["entities"],
            features=doc.get("features"),
            feature_service=doc.get("feature_service"),
            full_feature_names=doc.get("full_feature_names", False),
            api_key=head.key,
            namespace=head.namespace,
            deadline_ms=deadline_ms,
            arrival=arrival,
        )
    if path == NATIVE_PATH and _native_ok(doc):
        return native_answer(
            fs,
            entities=doc["entities"],
            features=doc.get("features"),
            feature_service=doc.get("feature_service"),
            request_data=doc.get("request_data", {}),
            namespace=doc.get("namespace"),
            deadline_ms=doc.get("deadline_ms"),
            api_key=head.key,
            arrival=arrival,
        )
    return None


class FastLane:
    """Answers well-formed lookups of ``scope["app"]`` (whose ``state.fs`` is the ``AppState``);
    ``fallback`` (the FastAPI app's own handling) answers everything else."""

    def __init__(self, fallback: App) -> None:
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send, fs: Any) -> None:
        arrival = arrival_of(scope)
        path = scope["path"]
        head = LookupHead.scan(scope["headers"])
        try:
            body = await read_guarded_body(fs, head.key, head.length, receive)
        except (Unauthorized, PayloadTooLarge) as exc:
            await send_error(scope, receive, send, exc)
            return
        if body is None:  # the client went away
            return
        answer = lookup_answer(fs, path, head, body, arrival)
        if answer is None:  # not well-formed: the route answers it (pydantic's 422 with every bad field)
            await self.fallback(scope, replay_body(body, receive), send)
            return
        try:
            content, headers = await answer
        except Exception as exc:  # the module's error rule: exception_answer sorts it
            response = exception_answer(fs, "POST", path, exc)
            await response(scope, receive, send)
            return
        await _send_json(send, content, headers)


async def _send_json(send: Send, content: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_JSON, (b"content-length", b"%d" % len(content)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": content})
