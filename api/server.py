"""The HTTP protocols ``featurestream serve`` runs: uvicorn's httptools protocol, stamping arrival, and
the same protocol answering well-formed lookups itself (``serving.http_fast_path``, on by default).

:class:`ArrivalStampingProtocol`: each request's ASGI scope gets
:data:`~featurestream.api.admission.ARRIVAL_KEY` (``time.perf_counter()``) when its first bytes are
parsed, in the event loop's I/O callback, before its task is created. Time the request then spends
waiting for a saturated event loop counts against its deadline (:mod:`featurestream.api.admission`),
which is what lets a worker shed a request that can no longer be answered in time instead of
answering it late.

:class:`FastLookupProtocol`: a lookup (``POST /get-online-features`` or ``/v1/features``) whose head
is plain -- HTTP/1.1, a ``content-length`` within ``serving.max_body_bytes``, no
``transfer-encoding``, no ``expect``, no upgrade, its API key accepted -- is collected by the parser
callbacks and answered straight from the protocol: no ASGI scope dispatch, no ``receive``/``send``
coroutines, no middleware, and head and body leave in ONE ``transport.write`` (uvicorn writes them
separately: two system calls, two loopback segments). It is answered by the same functions as the
raw-ASGI lane (:func:`featurestream.api.fastlane.lookup_answer`, built by
:mod:`featurestream.api.answer`, admission by :mod:`featurestream.api.admission`, the head and body
rules by :mod:`featurestream.api.limits`), so the bytes are the same; errors raised by an answer are
rendered by :func:`featurestream.api.handlers.exception_answer`. Every other request -- other
routes, another head, a refused key, an oversized or malformed body -- is handed, unchanged, to
uvicorn's own request/response cycle and the full ASGI app, which answers exactly as before (a body
already read is handed over with it).

Why a subclass of uvicorn's protocol rather than a small ``asyncio.Protocol`` of our own: the
fallback must stay uvicorn's in every detail (its keep-alive timer, flow control, pipelining queue,
``100 Continue``, graceful shutdown, ``--limit-max-requests``, its 400 for a bad request line), and a
connection can carry both kinds of requests, pipelined. Owning the protocol would mean
re-implementing all of that, or handing a live connection over with its unparsed bytes mid-stream.
The subclass instead joins uvicorn's own bookkeeping: a fast request is a ``cycle`` (it has the
attributes uvicorn reads: ``response_complete``, ``keep_alive``, ``disconnected``,
``message_event``), queued in uvicorn's ``pipeline`` behind an unanswered request and started by
uvicorn's ``on_response_complete`` like any other. The price is coupling to uvicorn's internals
(``on_headers_complete``, ``on_body``, ``on_message_complete``, ``_start_asgi_task``, ``pipeline``,
``flow``, ``cycle``): tests/integration/test_fast_http.py drives a real server over raw sockets for
each HTTP rule, so an incompatible uvicorn fails there, and ``serving.http_fast_path: false`` runs
plain :class:`ArrivalStampingProtocol`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from featurestream.api.admission import ARRIVAL_KEY, arrival_of
from featurestream.api.errors import PayloadTooLarge, Unauthorized
from featurestream.api.fastlane import FAST_PATHS, LookupHead, lookup_answer
from featurestream.api.handlers import exception_answer
from featurestream.api.limits import check_before_body, check_body
from featurestream.api.main import ServingApp

__all__ = ["ASGI_HTTP_PROTOCOL", "FAST_HTTP_PROTOCOL", "ArrivalStampingProtocol", "FastLookupProtocol", "http_protocol"]

ASGI_HTTP_PROTOCOL = "featurestream.api.server:ArrivalStampingProtocol"  # uvicorn's ``http=`` import string
FAST_HTTP_PROTOCOL = "featurestream.api.server:FastLookupProtocol"

log = logging.getLogger(__name__)
_CLOSE = b"connection: close\r\n"
_JSON_HEAD = b"content-type: application/json\r\ncontent-length: "


def http_protocol(fast_path: bool) -> str:
    """uvicorn's ``http=`` for ``serving.http_fast_path``."""
    return FAST_HTTP_PROTOCOL if fast_path else ASGI_HTTP_PROTOCOL


class ArrivalStampingProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVAL_KEY] = time.perf_counter()  # type: ignore[literal-required]


class _NoEvent:
    """What uvicorn's ``connection_lost`` sets on the current cycle: a fast request waits on nothing."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class _FastRequest:
    """One lookup answered by :class:`FastLookupProtocol`; a ``cycle`` in uvicorn's bookkeeping."""

    __slots__ = ("body", "disconnected", "head", "keep_alive", "more_body", "response_complete", "scope", "started")

    message_event = _NO_EVENT

    def __init__(self, scope: Any, head: LookupHead, keep_alive: bool) -> None:
        self.scope = scope
        self.head = head
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.more_body = True  # until the parser has the whole body
        self.started = False  # its turn on the connection (every earlier request answered)
        self.response_complete = False
        self.disconnected = False


_DEFAULT_HEAD: list[tuple[object, bytes]] = [(None, b"")]  # (uvicorn's list, its rendering), swapped whole


def _default_head(headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default headers (``date``, ``server``) rendered; uvicorn replaces the list when the date
    changes, so the rendering is cached by the list's identity (one tuple, read and replaced at once)."""
    cached, rendered = _DEFAULT_HEAD[0]
    if cached is not headers:
        rendered = b"".join(b"%s: %s\r\n" % (k.lower(), v) for k, v in headers)
        _DEFAULT_HEAD[0] = (headers, rendered)
    return rendered


class FastLookupProtocol(ArrivalStampingProtocol):
    """See the module docstring: plain lookups answered by the protocol, the rest by uvicorn's ASGI cycle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_of = _state_getter(self.app)

    # -- parser callbacks ---------------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        fs = self._state_of()
        req = None if fs is None else self._fast_request(fs)
        if req is None:
            super().on_headers_complete()
            return
        existing = self.cycle
        self.cycle = req  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            req.started = True
        else:  # pipelined behind an unanswered request: uvicorn's queue starts it (``_start_asgi_task``)
            self.flow.pause_reading()
            self.pipeline.appendleft((req, self.app))  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        req = self.cycle
        if type(req) is _FastRequest:
            req.body += body  # bounded: its content-length passed serving.max_body_bytes
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        req = self.cycle
        if type(req) is _FastRequest:
            req.more_body = False
            if req.started:
                self._dispatch(req)
        else:
            super().on_message_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(cycle) is _FastRequest:  # its turn came (uvicorn's on_response_complete popped it)
            cycle.started = True
            if not cycle.more_body:
                self._dispatch(cycle)
            return
        super()._start_asgi_task(cycle, app)

    # -- the fast path ------------------------------------------------------------------------------
    def _fast_request(self, fs: Any) -> _FastRequest | None:
        """A :class:`_FastRequest` for the request whose head was just parsed, or None (uvicorn's cycle
        takes it). Fills the scope as uvicorn would, so a later fallback is the same request."""
        parser = self.parser
        if (
            parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
            or self.expect_100_continue
            or self.limit_concurrency is not None  # uvicorn's own 503 rule applies there
        ):
            return None
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        full_path = self.root_path + path
        if full_path not in FAST_PATHS:
            return None
        for k, _ in self.headers:
            if k == b"transfer-encoding":  # a chunked body: uvicorn's cycle and the ASGI lane read it
                return None
        head = LookupHead.scan(self.headers)
        if head.length is None:
            return None
        try:  # the rules of the head (api.limits): a refused request is the ASGI app's to answer
            check_before_body(fs, head.key, head.length)
        except (Unauthorized, PayloadTooLarge):
            return None
        scope = self.scope
        scope["method"] = "POST"
        scope["path"] = full_path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = url.query or b""
        return _FastRequest(scope, head, parser.should_keep_alive())

    def _dispatch(self, req: _FastRequest) -> None:
        """The whole request is in and it is its turn: start its answer, or hand it to the ASGI app."""
        fs = self._state_of()
        body = bytes(req.body)
        answer = None
        if fs is not None:
            try:
                check_body(fs, body)
                answer = lookup_answer(fs, req.scope["path"], req.head, body, arrival_of(req.scope))
            except PayloadTooLarge:
                pass
            except Exception:  # a bug: never a parser error (uvicorn's 400); the app's rule answers it (500)
                log.exception("the HTTP fast path failed on a lookup; handed to the ASGI app")
        if answer is None:
            self._to_asgi(req)
            return
        task = self.loop.create_task(self._answer(req, fs, answer))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _to_asgi(self, req: _FastRequest) -> None:
        """Hand ``req`` (head and whole body) to uvicorn's request/response cycle and the full app."""
        cycle = RequestResponseCycle(
            scope=req.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=req.keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.body = req.body
        cycle.more_body = False
        cycle.disconnected = req.disconnected
        cycle.message_event.set()
        if self.cycle is req:  # type: ignore[comparison-overlap]
            self.cycle = cycle
        super()._start_asgi_task(cycle, self.app)

    async def _answer(self, req: _FastRequest, fs: Any, answer: Any) -> None:
        try:
            try:
                content, extra = await answer
                status = 200
                head = b"%s%d\r\n" % (_JSON_HEAD, len(content))
                if extra:
                    head += _render(extra)
            except Exception as exc:  # the lane's error rule: exception_answer sorts it
                response = exception_answer(fs, "POST", req.scope["path"], exc)
                status, content = response.status_code, bytes(response.body)
                head = _render(response.raw_headers)
                if any(k == b"connection" and b"close" in v.lower() for k, v in response.raw_headers):
                    req.keep_alive = False
            if self.flow.write_paused and not req.disconnected:
                await self.flow.drain()  # a client not reading its answers: wait, as uvicorn's send does
            self._respond(req, status, head, content)
        except BaseException:
            if not req.response_complete:  # no answer can follow: the requests behind it must not wait forever
                self.transport.close()
            raise

    def _respond(self, req: _FastRequest, status: int, head: bytes, content: bytes) -> None:
        """Write status line, headers and body in one ``write``, then let uvicorn start the next request."""
        req.response_complete = True
        if req.disconnected or self.transport.is_closing():
            return
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(req.scope),
                "POST",
                get_path_with_query_string(req.scope),  # type: ignore[arg-type]
                "1.1",
                status,
            )
        close = b"" if req.keep_alive or b"connection: close\r\n" in head else _CLOSE
        defaults = _default_head(self.server_state.default_headers)
        self.transport.write(b"".join((STATUS_LINE[status], defaults, head, close, b"\r\n", content)))
        if not req.keep_alive:
            self.transport.close()
        self.on_response_complete()


def _render(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Header lines as uvicorn writes them (names lower-cased; a value with a control byte is refused)."""
    out = []
    for k, v in headers:
        if HEADER_VALUE_RE.search(v):
            raise RuntimeError("Invalid HTTP header value.")
        out.append(b"%s: %s\r\n" % (k.lower(), v))
    return b"".join(out)


def _state_getter(app: Any) -> Any:
    """A function returning the serving app's ``AppState`` (None before its lifespan ran, or when the
    app under uvicorn's wrappers is not a :class:`~featurestream.api.main.ServingApp`)."""
    while app is not None and not isinstance(app, ServingApp):
        app = getattr(app, "app", None)
    if app is None:
        return lambda: None
    state = app.state
    return lambda: getattr(state, "fs", None)
