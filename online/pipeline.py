"""One pipelined RESP connection to a standalone Redis: the serving hot path's transport.

Every lookup of a worker shares ONE connection. A request writes its commands in one ``write`` and
waits for its replies; Redis answers in order, so concurrent requests are
pipelined on the socket without a pool, a lock or a round trip each, and replies are parsed in C
(``hiredis``). The invariants:

* replies are matched to requests by order only: the queue of waiting requests is appended to in the
  same step that writes their commands;
* a request that gives up (its deadline) stays in the queue as a placeholder that swallows its
  replies, so the connection is never torn down by a timeout and later replies still match;
* a lost connection fails every waiting request with ``redis.exceptions.ConnectionError`` (an
  outage: :data:`featurestream.api.errors.STORE_OUTAGES`), and the next request reconnects;
* an error reply saying the server cannot answer yet (``LOADING`` its AOF/RDB after a restart,
  ``BUSY`` with a script, ``MASTERDOWN``, ``TRYAGAIN``, ``CLUSTERDOWN``) raises
  ``redis.exceptions.BusyLoadingError`` (a ``ConnectionError``): an outage, served degraded;
* any other error reply (``WRONGTYPE``, ...) raises ``redis.exceptions.ResponseError``: a bug or
  corrupt data, never an outage.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from featurestream.online.resp import command

__all__ = ["PIPELINE_SCHEMES", "PipelinedConnection"]

PIPELINE_SCHEMES = ("redis", "unix")  # TLS (rediss://) and cluster URLs keep redis-py's clients
# Error replies of a server that is up but cannot answer yet: outages, not bugs.
_NOT_YET = ("LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN ")


class _Waiter:
    __slots__ = ("future", "left", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.left = count
        self.replies: list[Any] = []


def _expire(fut: asyncio.Future[list[Any]]) -> None:
    if not fut.done():  # its replies will still come: the waiter stays queued and swallows them
        fut.set_exception(TimeoutError())


class _Protocol(asyncio.Protocol):
    def __init__(self, conn: PipelinedConnection) -> None:
        self.conn = conn
        self.reader = hiredis.Reader(replyError=ResponseError)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.conn.waiting
        gets = self.reader.gets
        while True:
            reply = gets()
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream is out of step, start over
                self.conn.drop(RedisConnectionError("Redis sent an unexpected reply; reconnecting"))
                return
            w = waiting[0]
            w.replies.append(reply)
            w.left -= 1
            if w.left == 0:
                waiting.popleft()
                if not w.future.done():
                    w.future.set_result(w.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.drop(RedisConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}"))


class PipelinedConnection:
    """A lazily opened, self-reconnecting, pipelined connection to the Redis of ``url``."""

    def __init__(self, url: str, *, connect_timeout_s: float = 0.5) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in PIPELINE_SCHEMES:
            raise ValueError(f"expected a {' or '.join(PIPELINE_SCHEMES)}:// URL, found {scheme}://")
        opts = parse_url(url)
        self._path: str | None = opts.get("path")
        self._host = str(opts.get("host") or "localhost")
        self._port = int(opts.get("port") or 6379)
        self._hello: list[bytes] = []
        if opts.get("password"):
            user = opts.get("username")
            auth = ("AUTH", user, opts["password"]) if user else ("AUTH", opts["password"])
            self._hello.append(command(*auth))
        if int(opts.get("db") or 0):
            self._hello.append(command("SELECT", int(opts["db"])))
        self.connect_timeout_s = connect_timeout_s
        self.waiting: deque[_Waiter] = deque()
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Task[asyncio.Transport] | None = None

    async def _connect(self) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout_s):
            if self._path:
                transport, _ = await loop.create_unix_connection(lambda: _Protocol(self), self._path)
            else:
                transport, _ = await loop.create_connection(lambda: _Protocol(self), self._host, self._port)
        sock = transport.get_extra_info("socket")
        if sock is not None and not self._path:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport  # type: ignore[assignment]
        if self._hello:  # AUTH / SELECT before anything else; their replies are checked like any other
            fut = loop.create_future()
            self.waiting.append(_Waiter(fut, len(self._hello)))
            transport.write(b"".join(self._hello))  # type: ignore[attr-defined]
            for reply in await fut:
                if isinstance(reply, ResponseError):
                    transport.close()  # type: ignore[attr-defined]
                    raise RedisConnectionError(f"Redis refused the connection setup: {reply}")
        return self._transport  # type: ignore[return-value]

    async def _transport_ready(self) -> asyncio.Transport:
        if self._transport is not None and not self._transport.is_closing():
            return self._transport
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        except OSError as exc:  # refused, unreachable: an outage like any lost connection
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc

    async def execute(self, payload: bytes, replies: int, timeout_s: float | None = None) -> list[Any]:
        """Write ``payload`` (``replies`` commands, already RESP-encoded) and return their replies in order.

        ``TimeoutError`` when they are not all in within ``timeout_s`` (connecting included). The timer
        only fails a request still waiting: replies parsed in the same event-loop turn win."""
        if replies == 0:
            return []
        loop = asyncio.get_running_loop()
        start = loop.time()
        transport = self._transport
        if transport is None or transport.is_closing():
            if timeout_s is None:
                transport = await self._transport_ready()
            else:
                async with asyncio.timeout(timeout_s):
                    transport = await self._transport_ready()
        fut: asyncio.Future[list[Any]] = loop.create_future()
        self.waiting.append(_Waiter(fut, replies))
        transport.write(payload)
        timer = None if timeout_s is None else loop.call_at(start + timeout_s, _expire, fut)
        try:
            out = await fut
        finally:
            if timer is not None:
                timer.cancel()
        for r in out:
            if type(r) is ResponseError:
                if str(r).startswith(_NOT_YET):
                    raise BusyLoadingError(f"Redis cannot answer yet: {r}")
                raise r
        return out

    def drop(self, exc: Exception) -> None:
        """Forget the connection and fail every waiting request with ``exc`` (the next call reconnects)."""
        transport, self._transport = self._transport, None
        waiting, self.waiting = self.waiting, deque()
        for w in waiting:
            if not w.future.done():
                w.future.set_exception(exc)
        if transport is not None and not transport.is_closing():
            transport.close()

    async def close(self) -> None:
        self.drop(RedisConnectionError("connection closed"))
