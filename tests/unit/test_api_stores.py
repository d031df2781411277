"""One store and one breaker per namespace (featurestream.api.stores; issue 15 item 3): an outage or an
exhausted connection pool in namespace A opens A's breaker only, and namespace B is still read and
served. The stores are stand-in readers (no Redis, no timing); the real-Redis test is
tests/integration/test_namespace_outage.py."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from featurestream.api.main import create_app
from featurestream.api.stores import Stores
from featurestream.config import ApiKey, Config
from featurestream.online.reader import AsyncOnlineReader
from tests.support.registry import demo_registry, demo_row

BODY = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}, "deadline_ms": 60_000}
KEYS = [ApiKey(name="a", key="key-a", namespace="a"), ApiKey(name="b", key="key-b", namespace="b")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


class Exhausted:
    """A namespace whose pool is used up: redis-py's asyncio pool raises this very error."""

    def __init__(self) -> None:
        self.calls = 0

    async def read(self, keys: list[str], timeout_s: float | None = None) -> Any:
        self.calls += 1
        raise RedisConnectionError("Too many connections")


class Fresh:
    """A namespace whose store answers every key with a fresh row."""

    def __init__(self) -> None:
        self.calls = 0

    async def read(self, keys: list[str], timeout_s: float | None = None) -> list[bytes]:
        self.calls += 1
        now = int(time.time() * 1000)
        return [demo_row(k, b"7.5", now) for k in keys]


def _config(tmp_path: Path, **redis: Any) -> Config:
    reg = tmp_path / "state" / "registry.json"
    demo_registry(reg, "a")
    demo_registry(reg, "b")
    return Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace="a",
        redis={"url": _dead_url(), **redis},
        serving={"api_keys": KEYS},
    )


@asynccontextmanager
async def _served(cfg: Config) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(cfg)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app.state.fs


async def _spend(client: httpx.AsyncClient, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    r = await client.post("/v1/features", json=BODY, headers={"x-api-key": key})
    assert r.status_code == 200, r.text
    return r.json()["metadata"], r.json()["results"][0]["features"]["card_spend_1h@1:spend_1h"]


@pytest.mark.anyio
async def test_an_exhausted_pool_in_one_namespace_leaves_the_other_served(tmp_path: Path) -> None:
    async with _served(_config(tmp_path)) as (client, state):
        a, b = Exhausted(), Fresh()
        state.store("a").reader.read = a.read
        state.store("b").reader.read = b.read
        meta, value = await _spend(client, "key-a")
        assert meta["degraded"] == "UNAVAILABLE" and value["status"] == "UNAVAILABLE"
        assert state.store("a").blocked() and not state.store("b").blocked()
        for _ in range(3):  # A's breaker is open; B is read every time and served
            meta, value = await _spend(client, "key-b")
            assert meta["degraded"] is None and value == {**value, "status": "PRESENT", "value": 7.5}
        assert b.calls == 3
        meta, _ = await _spend(client, "key-a")  # still inside A's retry interval: skipped, said so
        assert "marked down" in meta["degraded_reason"] and a.calls == 1
        feast = await client.post("/get-online-features", json=BODY, headers={"x-api-key": "key-b"})
        assert feast.json()["results"][1]["statuses"] == ["PRESENT"]
        assert "x-featurestream-degraded" not in feast.headers


@pytest.mark.anyio
async def test_namespaces_never_share_a_connection_even_on_one_redis(tmp_path: Path) -> None:
    async with _served(_config(tmp_path)) as (_, state):
        ra, rb = state.store("a").reader, state.store("b").reader
        assert ra is not rb and ra.client is not rb.client and ra._pipe is not rb._pipe
        assert state.store("a") is state.store("a")  # opened once


@pytest.mark.anyio
async def test_a_namespace_reads_the_store_the_config_names_for_it(tmp_path: Path) -> None:
    own, other = _dead_url(), "redis://127.0.0.1:1/3"
    opened: dict[str, str] = {}

    def open_reader(ns: str) -> AsyncOnlineReader:
        opened[ns] = cfg.redis_url_for(ns)
        return AsyncOnlineReader.from_url(opened[ns])

    cfg = _config(tmp_path, url=own, namespaces={"b": other})
    stores = Stores(open_reader)
    stores["a"], stores["b"], stores["c"]
    assert opened == {"a": own, "b": other, "c": own}
    await stores.close()


def test_the_repos_own_namespace_cannot_move_off_redis_url(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="own namespace 'a'"):
        _config(tmp_path, namespaces={"a": "redis://elsewhere:6379/0"})
    with pytest.raises(ValidationError, match=r"redis.namespaces.b: expected a URL"):
        _config(tmp_path, namespaces={"b": "http://elsewhere"})
