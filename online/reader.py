"""The asynchronous reader the HTTP server uses: every key of a request in one round trip.

Built once in the app's lifespan over a ``redis.asyncio`` connection pool. A request's reads are one
``EVALSHA`` of :data:`online.scripts.READ_LUA` (standalone Redis), so latency is one network round
trip whatever the number of views and entities. On Redis Cluster a script may not span slots, so a
request is one cluster pipeline of HMGETs, which redis-py splits per node and sends to all nodes at
once: one round trip per node holding a key of the request, concurrently.
Cancelling a read (a deadline) drops that connection; the pool opens a new one on the next call, so
the reader reconnects by itself when Redis comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError

from featurestream.online.client import redis_client
from featurestream.online.scripts import READ_LUA, read_args

__all__ = ["AsyncOnlineReader"]


class AsyncOnlineReader:
    """Batched raw reads (``(keys, fields)`` groups -> field values per key) and a health probe."""

    def __init__(self, client: aioredis.Redis | AsyncRedisCluster) -> None:
        self.client = client
        self._cluster = isinstance(client, AsyncRedisCluster)
        self._sha: str | None = None

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
        return cls(client)

    async def read(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[bytes | None]]:
        """One list of raw field values per key, in group then key order (``None`` when missing)."""
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

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
