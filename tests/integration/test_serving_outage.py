"""Redis killed mid-test then restarted, and Redis too slow for the deadline: answers stay 200."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.config import Config
from featurestream.online.generation import ensure_generation
from featurestream.online.store import RedisOnlineStore
from tests.support.own_redis import OwnRedis
from tests.support.registry import demo_registry, demo_views

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    with OwnRedis() as r:
        yield r


def _setup(tmp_path: Path, url: str) -> tuple[Config, RedisOnlineStore, dict[str, object]]:
    ns = "t" + uuid.uuid4().hex[:8]
    demo_registry(tmp_path / "state" / "registry.json", ns)
    cfg = Config(
        root=tmp_path, state_dir=str(tmp_path / "state"), namespace=ns, redis={"url": url}, serving={"deadline_ms": 100}
    )
    return cfg, RedisOnlineStore.from_url(url, ns), {v.ref: v for v in demo_views(ns)}


ROW = {"card_id": "c1", "spend_1h": 9.0, "txn_count_1h": 3, "max_amount_1h": 4.0}
BODY = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}}


def _value(c: TestClient) -> dict[str, object]:
    t0 = time.perf_counter()
    r = c.post("/v1/features", json=BODY)
    assert r.status_code == 200, r.text
    assert time.perf_counter() - t0 < 2.0
    return r.json()["results"][0]["features"]["card_spend_1h@1:spend_1h"]  # type: ignore[no-any-return]


def test_redis_killed_then_restarted(own_redis: OwnRedis, tmp_path: Path) -> None:
    cfg, store, views = _setup(tmp_path, own_redis.url)
    ensure_generation(store.client)  # what a job from the topic's start or materialize writes first
    store.write_rows(views["card_spend_1h@1"], [{**ROW, "feature_time": int(time.time() * 1000)}])  # type: ignore[arg-type]
    with TestClient(create_app(cfg)) as c:
        assert _value(c)["status"] == "PRESENT"
        assert c.get("/readyz").json() == {**c.get("/readyz").json(), "status": "ready", "online_store": "ok"}
        own_redis.kill()
        down = _value(c)
        assert down == {**down, "status": "UNAVAILABLE", "value": 0.0, "default_applied": True}
        feast = c.post("/get-online-features", json=BODY)
        assert feast.status_code == 200 and feast.json()["results"][1]["statuses"] == ["INVALID"]
        assert feast.headers["x-featurestream-degraded"] == "UNAVAILABLE"
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"].startswith("down")
        assert c.get("/healthz").status_code == 200
        own_redis.start()  # same port, empty (no persistence): the running job rewrites one row
        store.write_rows(views["card_spend_1h@1"], [{**ROW, "feature_time": int(time.time() * 1000)}])  # type: ignore[arg-type]
        deadline = time.time() + 5
        while _value(c)["status"] != "PRESENT":
            assert time.time() < deadline, "did not reconnect within 5 s"
            time.sleep(0.1)
        # Redis answers, but every other row it held is gone: not ready until the store is refilled
        lost = c.get("/readyz")
        assert lost.status_code == 503 and lost.json()["redis"] == "ok", lost.text
        assert lost.json()["online_store"].startswith("lost data") and "materialize" in lost.json()["online_store"]
        ensure_generation(store.client)  # materialize refilled it
        assert c.get("/readyz").status_code == 200
        failed = f'featurestream_redis_errors_total{{kind="unavailable",namespace="{cfg.namespace}"}}'
        assert failed in c.get("/metrics").text


def test_slow_redis_hits_deadline(own_redis: OwnRedis, tmp_path: Path) -> None:
    cfg, store, views = _setup(tmp_path, own_redis.url)
    store.write_rows(views["card_spend_1h@1"], [{**ROW, "feature_time": int(time.time() * 1000)}])  # type: ignore[arg-type]
    with TestClient(create_app(cfg)) as c:
        assert _value(c)["status"] == "PRESENT"
        assert own_redis.proc is not None
        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # frozen: accepts nothing, answers nothing
        try:
            t0 = time.perf_counter()
            r = c.post("/v1/features", json={**BODY, "deadline_ms": 50})
            elapsed = time.perf_counter() - t0
            f = r.json()["results"][0]["features"]["card_spend_1h@1:spend_1h"]
            assert f["status"] == "DEADLINE_EXCEEDED" and f["value"] == 0.0
            assert r.json()["metadata"]["degraded"] == "DEADLINE_EXCEEDED"
            assert elapsed < 0.5
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        deadline = time.time() + 5
        while _value(c)["status"] != "PRESENT":
            assert time.time() < deadline
            time.sleep(0.1)
        late = f'featurestream_redis_errors_total{{kind="deadline",namespace="{cfg.namespace}"}} 1.0'
        assert late in c.get("/metrics").text
