"""The asynchronous reader the HTTP server uses: every key of a request in one round trip.

Built once in the app's lifespan. On a standalone Redis (``redis://``, ``unix://``) a request's
reads are one ``HMGET`` per key, written at once on the worker's single pipelined connection
(:mod:`online.pipeline`): one network round trip whatever the number of views and entities, no
pool and no per-command client objects, replies parsed in C. Over TLS (``rediss://``) a request
is one ``EVALSHA`` of :data:`online.scripts.READ_LUA` on a ``redis.asyncio`` pool. On Redis
Cluster a script may not span slots, so a request is one cluster pipeline of HMGETs, which
redis-py splits per node and sends to all nodes at once: one round trip per node holding a key of
the request, concurrently.
A read that misses its deadline leaves the pipelined connection in place (its replies are
swallowed when they come); a lost connection is reopened by the next read, so the reader
reconnects by itself when Redis comes back. ``ping`` and ``close`` use the redis-py client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError

from featurestream.online.client import redis_client
from featurestream.online.pipeline import PIPELINE_SCHEMES, PipelinedConnection, hmget_tail
from featurestream.online.scripts import READ_LUA, read_args

__all__ = ["AsyncOnlineReader"]


class AsyncOnlineReader:
    """Batched raw reads (``(keys, fields)`` groups -> field values per key) and a health probe."""

    def __init__(self, client: aioredis.Redis | AsyncRedisCluster, pipe: PipelinedConnection | None = None) -> None:
        self.client = client
        self._cluster = isinstance(client, AsyncRedisCluster)
        self._sha: str | None = None
        self._pipe = pipe
        self._tails: dict[tuple[str, ...], tuple[bytes, bytes]] = {}

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

    async def read(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[bytes | None]]:
        """One list of raw field values per key, in group then key order (``None`` when missing)."""
        if self._pipe is not None:
            return await self._pipe_read(groups)
        if self._cluster:
            pipe = self.client.pipeline()
            for gkeys, fields in groups:
                for k in gkeys:
                    pipe.hmget(k, list(fields))
            return list(await pipe.execute())
        keys, argv = read_args(groups)
        if not keys:
            return []
        if self._sha is None:
            self._sha = await self.client.script_load(READ_LUA)  # type: ignore[misc]
        try:
            reply: Any = await self.client.evalsha(self._sha, len(keys), *keys, *argv)  # type: ignore[arg-type,misc]
        except NoScriptError:  # Redis restarted and lost its script cache
            self._sha = await self.client.script_load(READ_LUA)  # type: ignore[misc]
            reply = await self.client.evalsha(self._sha, len(keys), *keys, *argv)  # type: ignore[arg-type,misc]
        return list(reply)

    async def _pipe_read(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[bytes | None]]:
        assert self._pipe is not None
        parts: list[bytes] = []
        count = 0
        for gkeys, fields in groups:
            ftuple = fields if type(fields) is tuple else tuple(fields)
            ht = self._tails.get(ftuple)
            if ht is None:
                if len(self._tails) > 4096:  # field lists come from cached plans: bounded, but never trusted
                    self._tails.clear()
                ht = self._tails[ftuple] = hmget_tail(ftuple)
            head, tail = ht
            for k in gkeys:
                kb = k.encode()
                parts.append(b"%s$%d\r\n%s\r\n%s" % (head, len(kb), kb, tail))
            count += len(gkeys)
        return await self._pipe.execute(b"".join(parts), count)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        if self._pipe is not None:
            await self._pipe.close()
        await self.client.aclose()
