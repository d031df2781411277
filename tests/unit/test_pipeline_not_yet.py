"""The pipelined serving connection (featurestream.online.pipeline) against a stand-in server that
answers like a Redis still loading its AOF after a restart: that is an outage (served degraded, a
503 at worst), never a bug (a 500). Logic around a client: the server here is a few lines of asyncio."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import BusyLoadingError, ResponseError

from featurestream.api.errors import STORE_OUTAGES
from featurestream.online.pipeline import PipelinedConnection
from featurestream.online.resp import command


async def _serve(reply: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    "reply",
    [b"-LOADING Redis is loading the dataset in memory\r\n", b"-BUSY Redis is busy running a script\r\n"],
)
def test_a_server_that_cannot_answer_yet_is_an_outage(reply: bytes) -> None:
    async def main() -> None:
        server, port = await _serve(reply)
        conn = PipelinedConnection(f"redis://127.0.0.1:{port}/0")
        try:
            with pytest.raises(BusyLoadingError, match="cannot answer yet") as err:
                await conn.execute(command("PING"), 1, 5.0)
            assert isinstance(err.value, STORE_OUTAGES)
        finally:
            conn.drop(ConnectionError("test over"))
            server.close()

    asyncio.run(main())


def test_any_other_error_reply_is_not_an_outage() -> None:
    async def main() -> None:
        server, port = await _serve(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        conn = PipelinedConnection(f"redis://127.0.0.1:{port}/0")
        try:
            with pytest.raises(ResponseError, match="WRONGTYPE") as err:
                await conn.execute(command("HGET", "k", "f"), 1, 5.0)
            assert not isinstance(err.value, STORE_OUTAGES)
        finally:
            conn.drop(ConnectionError("test over"))
            server.close()

    asyncio.run(main())
