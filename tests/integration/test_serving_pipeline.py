"""The serving reader's pipelined connection (online.pipeline) against a real Redis: concurrent
requests share one connection and each gets its own rows; a request that gives up leaves the
connection in step; an error reply is a ResponseError for that request only; the script cache being
flushed is recovered; a dead server is a ConnectionError."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from featurestream.online.reader import AsyncOnlineReader

pytestmark = pytest.mark.integration


def _keys(redis_url: str, n: int) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    prefix = "tpipe" + uuid.uuid4().hex[:8]
    keys = [f"{prefix}:{i}" for i in range(n)]
    for i, k in enumerate(keys):
        client.hset(k, mapping={"_ft": i, "v": f"{i}.5"})
    client.set(f"{prefix}:string", "not a hash")
    client.close()
    return keys


def test_concurrent_reads_share_one_connection_in_order(redis_url: str) -> None:
    keys = _keys(redis_url, 200)

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            groups = [[([k], ("_ft", "v", "missing"))] for k in keys]
            answers = await asyncio.gather(*(reader.read(g, 30.0) for g in groups))
            assert answers == [[[str(i).encode(), f"{i}.5".encode(), None]] for i in range(200)]
            many = await reader.read([(keys[:50], ("v",)), ([*keys[50:52], "nope"], ("_ft", "v"))], 30.0)
            assert many[:50] == [[f"{i}.5".encode()] for i in range(50)]
            assert many[50:] == [[b"50", b"50.5"], [b"51", b"51.5"], [None, None]]
        finally:
            await reader.close()

    asyncio.run(main())


def test_a_request_that_gives_up_leaves_the_connection_in_step(redis_url: str) -> None:
    keys = _keys(redis_url, 3)

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            await reader.read([([keys[0]], ("v",))], 30.0)  # connected, script loaded
            slow = asyncio.create_task(reader.read([([keys[1]], ("v",))], 30.0))
            await asyncio.sleep(0)  # its command is written
            slow.cancel()  # the caller gave up; its reply still comes and must be swallowed
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert await reader.read([([keys[2]], ("v",))], 30.0) == [[b"2.5"]]
        finally:
            await reader.close()

    asyncio.run(main())


def test_error_replies_and_a_flushed_script_cache(redis_url: str) -> None:
    keys = _keys(redis_url, 2)
    string_key = keys[0].rsplit(":", 1)[0] + ":string"

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await reader.read([([string_key], ("v",))], 30.0)
            assert await reader.read([([keys[1]], ("v",))], 30.0) == [[b"1.5"]]  # still in step
            client = redis.Redis.from_url(redis_url)
            client.script_flush()
            client.close()
            assert await reader.read([([keys[1]], ("v",))], 30.0) == [[b"1.5"]]  # reloaded on NOSCRIPT
        finally:
            await reader.close()

    asyncio.run(main())


def test_a_dead_server_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{s.getsockname()[1]}/0"

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(url)
        try:
            with pytest.raises(RedisConnectionError, match="cannot connect"):
                await reader.read([(["k"], ("v",))], 30.0)
        finally:
            await reader.close()

    asyncio.run(main())
