"""The local Redis keeps every acknowledged write through a kill -9 (append-only file, fsync every
second): the online store and its generation marker survive a crash of the server process."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
import redis

from featurestream.config import Config, RedisStackConfig, StackConfig
from featurestream.online.generation import GENERATION_KEY, ensure_generation
from featurestream.stack import Stack
from featurestream.stack.process import port_open
from featurestream.stack.redis import server_flags
from tests.support.pipeline import wait_for

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_server_runs_with_an_append_only_file_fsynced_every_second(tmp_path: Path) -> None:
    flags = server_flags("64mb", tmp_path)
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "everysec"


def test_acknowledged_writes_survive_a_kill_9(tmp_path: Path) -> None:
    cfg = Config(
        root=tmp_path, state_dir=str(tmp_path / "state"), stack=StackConfig(redis=RedisStackConfig(port=_free_port()))
    )
    stack = Stack(cfg)
    stack.up(("redis",))
    try:
        client = redis.Redis.from_url(stack.redis.url)
        generation = ensure_generation(client)
        with client.pipeline(transaction=False) as pipe:
            for i in range(2000):
                pipe.hset(f"{{t:u{i}}}:v:1", mapping={"clicks": i, "_ft": 1000 + i})
            pipe.execute()
        client.close()
        pid = stack.redis.proc.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        # The leader turns zombie before its other threads have exited and closed the listening
        # socket; the restart must not meet a port still held by the dying server.
        wait_for(
            lambda: stack.redis.proc.pid() is None and not port_open(stack.redis.port),
            30,
            "Redis to die and free its port",
            interval=0.1,
        )
        stack.redis.proc._popen = None
        stack.up(("redis",))
        client = redis.Redis.from_url(stack.redis.url)
        assert client.get(GENERATION_KEY) == generation.encode()
        assert client.dbsize() == 2001
        assert client.hgetall("{t:u1999}:v:1") == {b"clicks": b"1999", b"_ft": b"2999"}
        client.close()
    finally:
        stack.down(("redis",))
