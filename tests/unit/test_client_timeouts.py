"""Every sync client factory gives its clients connect and socket (read) timeouts (issue 15 item 3):
one test per factory, on the client it builds. The AST guard in test_fault_handling.py checks that
no client is built around these factories. Cluster clients connect when built: they are checked in
test_online_client.py with a stand-in ``from_url``."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from featurestream.client import Client
from featurestream.config import Config, S3Config
from featurestream.jobs.flink import FlinkClient
from featurestream.kafka_props import client_options, kafka_admin
from featurestream.online.client import redis_client
from featurestream.online.reader import AsyncOnlineReader
from featurestream.online.store import RedisOnlineStore
from featurestream.stack.flink import rest_get
from featurestream.storage import S3_CONNECT_TIMEOUT_S, S3_REQUEST_TIMEOUT_S, _s3

DEAD = "redis://127.0.0.1:1/0"


def test_redis_client_sync_and_async_have_both_timeouts() -> None:
    for asynchronous in (False, True):
        client: Any = redis_client(DEAD, asynchronous=asynchronous)
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_connect_timeout"] == 2.0 and kwargs["socket_timeout"] == 30.0, asynchronous


def test_the_online_store_has_both_timeouts() -> None:
    store = RedisOnlineStore.from_url(DEAD, "t", connect_timeout_s=1.0, socket_timeout_s=3.0)
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (1.0, 3.0)
    store.close()


def test_the_serving_reader_has_both_timeouts() -> None:
    reader = AsyncOnlineReader.from_url(DEAD)
    kwargs = reader.client.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.5, 5.0)
    assert reader._pipe is not None and reader._pipe.connect_timeout_s == 0.5  # reads: the request's deadline


def test_kafka_client_options_always_carry_both_timeouts() -> None:
    assert client_options({}, request_timeout_ms=7000, bootstrap_timeout_ms=3000) == {
        "request_timeout_ms": 7000,
        "bootstrap_timeout_ms": 3000,
    }
    # the team's request.timeout.ms wins, and never collides with ours (it used to raise a TypeError)
    opts = client_options({"request.timeout.ms": "90000"}, request_timeout_ms=7000, bootstrap_timeout_ms=3000)
    assert opts == {"request_timeout_ms": 90000, "bootstrap_timeout_ms": 3000}


def test_the_kafka_admin_factory_has_both_timeouts() -> None:
    seen: dict[str, Any] = {}

    class Admin:
        def __init__(self, **kw: Any) -> None:
            seen.update(kw)

        def list_topics(self) -> list[str]:
            return []

    kafka_admin("127.0.0.1:1", {"request.timeout.ms": "90000"}, timeout_s=2.5, admin_factory=Admin)
    assert seen["request_timeout_ms"] == 2500 and seen["bootstrap_timeout_ms"] == 2500  # the preflight's bound wins


def test_flink_rest_calls_have_a_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    timeouts: list[float | None] = []

    def urlopen(req: Any, timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return io.BytesIO(json.dumps({"jobs": []}).encode())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert FlinkClient(Config(root=tmp_path)).jobs() == []
    assert rest_get("http://127.0.0.1:1/overview") == {"jobs": []}
    assert len(timeouts) == 2 and all(t is not None and 0 < t <= 10 for t in timeouts), timeouts


def test_the_s3_filesystem_has_both_timeouts() -> None:
    s3 = S3Config(endpoint="http://127.0.0.1:1", path_style_access=True)
    fs = _s3(s3.endpoint, s3.path_style_access, s3.region, None, None)
    kwargs = fs.__reduce__()[1][0]  # type: ignore[index]
    assert kwargs["connect_timeout"] == S3_CONNECT_TIMEOUT_S and kwargs["request_timeout"] == S3_REQUEST_TIMEOUT_S


def test_the_http_client_has_connect_and_read_timeouts() -> None:
    client = Client("http://127.0.0.1:1", timeout=4.0)
    t = client._http.timeout
    assert (t.connect, t.read) == (4.0, 4.0)
    client.close()
