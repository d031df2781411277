"""The asynchronous reader the HTTP server uses: every key of a request in one round trip.

Built once in the app's lifespan. On a standalone Redis (``redis://``, ``unix://``) a request's
reads are one ``EVALSHA`` of :data:`online.scripts.READ_ROWS_LUA` (a ``GET`` per key, inside Redis)
written on the worker's single pipelined connection (:mod:`online.pipeline`): one command, one
network round trip and one reply parsed in C whatever the number of views and entities, no pool
and no per-command client objects. Over TLS (``rediss://``) it is the same script on a
``redis.asyncio`` pool. On Redis
Cluster a script may not span slots, so a request is one call of the script per slot (every view of
one entity shares a slot) in one cluster pipeline, which redis-py splits per node and sends to all
nodes at once: one round trip per node holding a key of the request, concurrently. The script goes
as ``EVAL`` there (Redis caches it by its hash), so a node that never saw it, a new master after a
failover, needs no ``SCRIPT LOAD``.
A read that misses its deadline leaves the pipelined connection in place (its replies are
swallowed when they come); a lost connection is reopened by the next read, so the reader
reconnects by itself when Redis comes back. ``ping`` and ``close`` use the redis-py client.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError, ResponseError

from featurestream.online.client import redis_client
from featurestream.online.keys import RowReply
from featurestream.online.pipeline import PIPELINE_SCHEMES, PipelinedConnection
from featurestream.online.resp import arg, args, command
from featurestream.online.scripts import READ_ROWS_LUA, rows_per_slot

__all__ = ["AsyncOnlineReader"]

_READ_SHA = hashlib.sha1(READ_ROWS_LUA.encode()).hexdigest().encode()  # what SCRIPT LOAD answers for it


class AsyncOnlineReader:
    """Batched row reads (keys -> their stored rows, :data:`online.keys.RowReply`) and a health probe."""

    def __init__(self, client: aioredis.Redis | AsyncRedisCluster, pipe: PipelinedConnection | None = None) -> None:
        self.client = client
        self._cluster = isinstance(client, AsyncRedisCluster)
        self._sha: str | None = None
        self._pipe = pipe

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout_s: float = 0.5, socket_timeout_s: float = 5.0, max_connections: int = 64
    ) -> AsyncOnlineReader:
        """A reader over :func:`online.client.redis_client` (the URL picks standalone or cluster)."""
        client = redis_client(
            url,
            asynchronous=True,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=socket_timeout_s,
            max_connections=max_connections,
        )
        pipe = None
        if urlsplit(url).scheme in PIPELINE_SCHEMES:
            pipe = PipelinedConnection(url, connect_timeout_s=connect_timeout_s)
        return cls(client, pipe)

    async def read(self, keys: Sequence[str], timeout_s: float | None = None) -> list[RowReply]:
        """The stored row of every key (:data:`online.keys.RowReply`), in order, in one round trip.

        Raises ``TimeoutError`` when the replies are not in within ``timeout_s``. On the pipelined
        connection replies that arrived win over a timer that fires in the same event-loop turn (a
        process descheduled past the deadline still uses the answer it got); the other clients are
        cancelled by ``asyncio.timeout``."""
        if not keys:
            return []
        if self._pipe is not None:
            return await self._pipe_read(keys, timeout_s)
        if timeout_s is None:
            return await self._client_read(keys)
        async with asyncio.timeout(timeout_s):
            return await self._client_read(keys)

    async def _client_read(self, keys: Sequence[str]) -> list[RowReply]:
        if self._cluster:  # a script may not span slots: one call per slot, one pipeline per node
            calls, scatter = rows_per_slot(keys)
            pipe = self.client.pipeline()
            for ks in calls:
                pipe.execute_command("EVAL", READ_ROWS_LUA, len(ks), *ks)  # pipe.eval is not offered on a cluster
            return scatter(await pipe.execute())
        if self._sha is None:
            self._sha = await self.client.script_load(READ_ROWS_LUA)  # type: ignore[misc]
        try:
            reply: Any = await self.client.evalsha(self._sha, len(keys), *keys)  # type: ignore[misc]
        except NoScriptError:  # Redis restarted and lost its script cache
            self._sha = await self.client.script_load(READ_ROWS_LUA)  # type: ignore[misc]
            reply = await self.client.evalsha(self._sha, len(keys), *keys)  # type: ignore[misc]
        return list(reply)

    async def _pipe_read(self, keys: Sequence[str], timeout_s: float | None) -> list[RowReply]:
        """One ``EVALSHA`` of :data:`READ_ROWS_LUA` on the pipelined connection: one command and one
        reply (parsed in C) per request, whatever its number of keys; ``SCRIPT LOAD`` once per Redis."""
        assert self._pipe is not None
        head = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n%s" % (len(keys) + 3, _READ_SHA, arg(b"%d" % len(keys)))
        payload = head + args(keys)
        try:
            reply = (await self._pipe.execute(payload, 1, timeout_s))[0]
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await self._pipe.execute(command("SCRIPT", "LOAD", READ_ROWS_LUA), 1, timeout_s)
            reply = (await self._pipe.execute(payload, 1, timeout_s))[0]
        return reply  # type: ignore[no-any-return]

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        if self._pipe is not None:
            await self._pipe.close()
        await self.client.aclose()
