"""The one factory of Redis clients: every writer, reader, scan and bulk load connects here.

The rule it owns: **the URL alone chooses standalone Redis or Redis Cluster.**

* ``redis://``, ``rediss://``, ``unix://`` -> a standalone client (``redis.Redis``).
* ``redis+cluster://host:port`` and ``rediss+cluster://host:port`` -> a cluster client
  (``redis.cluster.RedisCluster``) seeded from that node; it discovers the other masters itself.
  A cluster has one database, so the URL carries no ``/db`` other than ``/0``.

The URL travels unchanged from ``redis.url`` in ``featurestream.yaml`` to the streaming job's
sink, the HTTP server, ``materialize`` and monitoring, so one setting switches all of them. The
synchronous and ``asyncio`` flavours come from the same function (``asynchronous=True``). The
streaming job's sink runs on the JVM (``featurestream-redis``, ``jobs/java``) and applies the same
rule to the same URL; it takes every scheme but ``unix://``, which it refuses when the job is planned.
"""

from __future__ import annotations

from typing import Any, Literal, overload
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from featurestream.online.errors import OnlineStoreError

__all__ = ["CLUSTER_SCHEMES", "SCHEMES", "is_cluster_url", "redis_client"]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)

SyncClient = redis.Redis | RedisCluster
AsyncClient = aioredis.Redis | AsyncRedisCluster


def is_cluster_url(url: str) -> bool:
    """True when ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def _plain_url(url: str) -> str:
    """The cluster URL with the scheme redis-py understands; rejects a database other than 0."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if db not in ("", "0"):
        raise OnlineStoreError(
            f"a Redis Cluster has only database 0, found /{db} in the cluster URL",
            hint="drop the /<db> suffix from redis.url (namespaces already separate repos)",
        )
    return parts.scheme.removesuffix("+cluster") + url[len(parts.scheme) :]


@overload
def redis_client(url: str, *, asynchronous: Literal[False] = ..., **options: Any) -> SyncClient: ...
@overload
def redis_client(url: str, *, asynchronous: Literal[True], **options: Any) -> AsyncClient: ...


def redis_client(url: str, *, asynchronous: bool = False, **options: Any) -> SyncClient | AsyncClient:
    """A client for ``url`` (see the module rule). ``options`` are redis-py connection options
    (``socket_timeout``, ``socket_connect_timeout``, ``max_connections``, ...), the same for both kinds.
    Every client has connect and socket timeouts (defaults 2 s and 30 s), so a Redis that hangs
    raises a timeout instead of blocking its caller forever.
    """
    connect = options.pop("socket_connect_timeout", 2.0)
    sock = options.pop("socket_timeout", 30.0)
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise OnlineStoreError(
            f"expected a Redis URL with scheme {', '.join(s + '://' for s in SCHEMES)}, found {scheme or 'none'}://",
            hint="set redis.url to e.g. redis://host:6379/0 or redis+cluster://host:7000",
        )
    if scheme in CLUSTER_SCHEMES:
        plain = _plain_url(url)
        if asynchronous:
            return AsyncRedisCluster.from_url(plain, socket_connect_timeout=connect, socket_timeout=sock, **options)
        return RedisCluster.from_url(plain, socket_connect_timeout=connect, socket_timeout=sock, **options)
    if asynchronous:
        return aioredis.Redis.from_url(url, socket_connect_timeout=connect, socket_timeout=sock, **options)
    return redis.Redis.from_url(url, socket_connect_timeout=connect, socket_timeout=sock, **options)
