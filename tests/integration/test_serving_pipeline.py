"""The serving reader's pipelined connection (online.pipeline) against a real Redis: concurrent
requests share one connection and each gets its own rows (compact rows and hashes still in the
per-feature layout alike); a request that gives up leaves the
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

from featurestream.online.keys import RowReply, row_text
from featurestream.online.reader import AsyncOnlineReader

pytestmark = pytest.mark.integration


def _keys(redis_url: str, n: int) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    prefix = "tpipe" + uuid.uuid4().hex[:8]
    keys = [f"{prefix}:{i}" for i in range(n)]
    for i, k in enumerate(keys):
        if i % 2:  # the per-feature layout: one field per feature
            client.hset(k, mapping={"_ft": i, "_ct": 1, "v": f"{i}.5"})
        else:  # the compact row
            client.set(k, f"[{i},1,{i}.5]")
    client.rpush(f"{prefix}:list", "neither a row nor a hash")
    client.close()
    return keys


def _rows(replies: list[RowReply]) -> list[bytes | None]:
    return [row_text(r, [b"v"]) for r in replies]


def _row(i: int) -> bytes:
    return f"[{i},1,{i}.5]".encode()


def test_concurrent_reads_share_one_connection_in_order(redis_url: str) -> None:
    keys = _keys(redis_url, 200)

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            answers = await asyncio.gather(*(reader.read([k], 30.0) for k in keys))
            assert [_rows(a) for a in answers] == [[_row(i)] for i in range(200)]
            assert answers[0] == [_row(0)]  # a compact row comes as it is stored
            many = await reader.read([*keys[:52], "nope"], 30.0)
            assert _rows(many) == [*(_row(i) for i in range(52)), None]
        finally:
            await reader.close()

    asyncio.run(main())


def test_a_request_that_gives_up_leaves_the_connection_in_step(redis_url: str) -> None:
    keys = _keys(redis_url, 3)

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            await reader.read([keys[0]], 30.0)  # connected, script loaded
            slow = asyncio.create_task(reader.read([keys[1]], 30.0))
            await asyncio.sleep(0)  # its command is written
            slow.cancel()  # the caller gave up; its reply still comes and must be swallowed
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert await reader.read([keys[2]], 30.0) == [_row(2)]
        finally:
            await reader.close()

    asyncio.run(main())


def test_error_replies_and_a_flushed_script_cache(redis_url: str) -> None:
    keys = _keys(redis_url, 2)
    list_key = keys[0].rsplit(":", 1)[0] + ":list"

    async def main() -> None:
        reader = AsyncOnlineReader.from_url(redis_url)
        try:
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await reader.read([list_key], 30.0)
            assert _rows(await reader.read([keys[1]], 30.0)) == [_row(1)]  # still in step
            client = redis.Redis.from_url(redis_url)
            client.script_flush()
            client.close()
            assert _rows(await reader.read([keys[1]], 30.0)) == [_row(1)]  # reloaded on NOSCRIPT
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
                await reader.read(["k"], 30.0)
        finally:
            await reader.close()

    asyncio.run(main())
