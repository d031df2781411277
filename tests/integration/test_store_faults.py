"""Issue 15 item 3 on real processes: a hanging (SIGSTOP) or dead Redis behind one namespace leaves
the other namespace served; a Redis out of memory refuses writes with a clear error while reads go
on; and the CLI answers a hanging Redis, an unreachable or silent Kafka and a silent Flink with one
clear line and exit code 1, never a traceback.

Every server here is a private ``redis-server`` process started, frozen, thawed and killed by its
pid (tests/support/own_redis.py). No timing assertions: a hang is shown by the answer's status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.config import ApiKey, Config
from featurestream.online.errors import OnlineStoreFull
from featurestream.online.generation import ensure_generation
from featurestream.online.store import RedisOnlineStore
from featurestream.registry import Registry
from tests.support.own_redis import OwnRedis, free_port
from tests.support.registry import demo_registry, demo_views
from tests.support.views import txn_source

pytestmark = pytest.mark.integration

VIEW = "card_spend_1h@1"
BODY = {"features": [f"{VIEW}:spend_1h"], "entities": {"card_id": ["c1"]}}
KEYS = [ApiKey(name="a", key="key-a", namespace="a"), ApiKey(name="b", key="key-b", namespace="b")]


@pytest.fixture
def two_redis() -> Iterator[tuple[OwnRedis, OwnRedis]]:
    with OwnRedis() as a, OwnRedis() as b:
        yield a, b


def _write(url: str, ns: str, spend: float) -> RedisOnlineStore:
    store = RedisOnlineStore.from_url(url, ns)
    ensure_generation(store.client)
    view = next(v for v in demo_views(ns) if v.ref == VIEW)
    row = {"card_id": "c1", "spend_1h": spend, "txn_count_1h": 1, "max_amount_1h": spend}
    store.write_rows(view, [{**row, "feature_time": int(time.time() * 1000)}])
    return store


def _spend(c: TestClient, key: str) -> tuple[str | None, dict[str, object]]:
    r = c.post("/v1/features", json=BODY, headers={"x-api-key": key})
    assert r.status_code == 200, r.text
    return r.json()["metadata"]["degraded"], r.json()["results"][0]["features"][f"{VIEW}:spend_1h"]


def test_a_hanging_then_dead_redis_of_one_namespace_leaves_the_other_served(
    two_redis: tuple[OwnRedis, OwnRedis], tmp_path: Path
) -> None:
    ra, rb = two_redis
    reg = tmp_path / "state" / "registry.json"
    demo_registry(reg, "a")
    demo_registry(reg, "b")
    cfg = Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace="b",  # the repo's own namespace: redis.url
        redis={"url": rb.url, "namespaces": {"a": ra.url}},
        serving={"api_keys": KEYS, "deadline_ms": 200},
    )
    _write(ra.url, "a", 1.0).close()
    _write(rb.url, "b", 2.0).close()
    with TestClient(create_app(cfg)) as c:
        assert _spend(c, "key-a")[1]["value"] == 1.0 and _spend(c, "key-b")[1]["value"] == 2.0
        ra.freeze()  # a's Redis hangs: a's reads miss their deadline, b's are answered
        degraded, value = _spend(c, "key-a")
        assert degraded == "DEADLINE_EXCEEDED" and value["default_applied"] is True
        for _ in range(3):
            degraded, value = _spend(c, "key-b")
            assert degraded is None and value == {**value, "status": "PRESENT", "value": 2.0}
        ra.thaw()
        ra.kill()  # a's Redis is gone: a's breaker opens, b's stays closed
        assert _spend(c, "key-a")[0] == "UNAVAILABLE"
        assert (
            "marked down"
            in c.post("/v1/features", json=BODY, headers={"x-api-key": "key-a"}).json()["metadata"]["degraded_reason"]
        )
        for _ in range(3):
            degraded, value = _spend(c, "key-b")
            assert degraded is None and value["status"] == "PRESENT"
        assert c.get("/readyz").status_code == 200  # readiness follows the repo's own store (b's)


def test_redis_out_of_memory_refuses_writes_clearly_and_still_serves_reads(tmp_path: Path) -> None:
    with OwnRedis() as r:
        reg = tmp_path / "state" / "registry.json"
        demo_registry(reg, "t")
        store = _write(r.url, "t", 3.0)
        admin = redis.Redis(port=r.port)
        admin.config_set("maxmemory-policy", "noeviction")
        used: Any = admin.info("memory")
        admin.config_set("maxmemory", str(max(int(used["used_memory"]) // 2, 1)))  # full: every write is refused
        view = next(v for v in demo_views("t") if v.ref == VIEW)
        row = {"card_id": "c2", "spend_1h": 1.0, "txn_count_1h": 1, "max_amount_1h": 1.0}
        with pytest.raises(OnlineStoreFull) as exc:
            store.write_rows(view, [{**row, "feature_time": int(time.time() * 1000)}])
        assert "out of memory" in exc.value.message and "maxmemory" in (exc.value.hint or "")
        for probe in ("set-nx", "script"):  # the bulk load's probes (SET NX; SET NX GET in the script)
            bulk = RedisOnlineStore.from_url(r.url, "t", fill_probe=probe)
            for card in ("c2", "new-card"):  # are refused the same way, for a held key and a new one
                columns = {k: [v] for k, v in {**row, "card_id": card, "feature_time": int(time.time() * 1000)}.items()}
                with pytest.raises(OnlineStoreFull):
                    bulk.write_columns(view, columns, fill=True)
            bulk.close()
        store.close()
        cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"), namespace="t", redis={"url": r.url})
        with TestClient(create_app(cfg)) as c:
            resp = c.post("/v1/features", json=BODY)
            assert resp.status_code == 200 and resp.json()["metadata"]["degraded"] is None
            assert resp.json()["results"][0]["features"][f"{VIEW}:spend_1h"]["value"] == 3.0
            assert c.get("/readyz").status_code == 200


# ---------------------------------------------------------------- the CLI: one line, never a traceback


def _repo(tmp_path: Path, *, redis_url: str, kafka: str, flink: str) -> Path:
    (tmp_path / "featurestream.yaml").write_text(
        f"namespace: t\nredis: {{url: '{redis_url}'}}\nkafka: {{bootstrap_servers: '{kafka}'}}\n"
        f"flink: {{rest_url: '{flink}'}}\n"
    )
    demo_registry(tmp_path / ".featurestream" / "registry.json", "t")
    Registry.open(Config(root=tmp_path)).save(sources=[replace(txn_source(), namespace="t")])
    (tmp_path / "rows.json").write_text('{"card_id": "c1", "amount": 2.5, "ts": "2024-01-01T00:00:00Z"}\n')
    return tmp_path


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTREAM_")}  # the repo's file decides
    cmd = [sys.executable, "-c", "from featurestream.cli.main import main; main()", "--repo", str(repo), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _one_line(result: subprocess.CompletedProcess[str], starts: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # the house format of every error (FeatureStreamError): one line, and the fix indented below it
    assert lines and lines[0].startswith(starts), lines
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  fix: ")), lines
    return lines[0]


def test_the_cli_answers_a_hanging_redis_with_one_line(tmp_path: Path) -> None:
    with OwnRedis() as r:
        repo = _repo(tmp_path, redis_url=r.url, kafka=f"127.0.0.1:{free_port()}", flink="http://127.0.0.1:1")
        r.freeze()
        line = _one_line(_cli(repo, "audit", "card_spend_1h"), "error: cannot reach Redis")
        assert "Timeout" in line


def test_the_cli_answers_an_unreachable_or_silent_kafka_with_one_line(tmp_path: Path) -> None:
    closed = free_port()
    repo = _repo(tmp_path, redis_url="redis://127.0.0.1:1/0", kafka=f"127.0.0.1:{closed}", flink="http://127.0.0.1:1")
    line = _one_line(_cli(repo, "push", "txns", str(repo / "rows.json")), "error: ")
    assert "Kafka" in line and str(closed) in line
    with OwnRedis() as silent:  # a frozen server takes TCP connections and never answers: a hung broker
        silent.freeze()
        (repo / "featurestream.yaml").write_text(
            (repo / "featurestream.yaml").read_text().replace(f"127.0.0.1:{closed}", f"127.0.0.1:{silent.port}")
        )
        line = _one_line(_cli(repo, "push", "txns", str(repo / "rows.json")), "error: ")
        assert "Kafka" in line


def test_jobs_list_answers_a_silent_flink_with_one_line(tmp_path: Path) -> None:
    with OwnRedis() as silent:
        silent.freeze()
        repo = _repo(
            tmp_path,
            redis_url="redis://127.0.0.1:1/0",
            kafka=f"127.0.0.1:{free_port()}",
            flink=f"http://127.0.0.1:{silent.port}",
        )
        line = _one_line(_cli(repo, "jobs", "list"), "error: cannot reach Flink")
        assert "timed out" in line


def test_status_answers_hanging_services_with_its_table(tmp_path: Path) -> None:
    with OwnRedis() as silent:
        repo = _repo(tmp_path, redis_url=silent.url, kafka=f"127.0.0.1:{silent.port}", flink="http://127.0.0.1:1")
        port = silent.port
        (repo / "featurestream.yaml").write_text(
            (repo / "featurestream.yaml").read_text()
            + f"stack: {{redis: {{port: {port}}}, kafka: {{port: {port}}}, flink: {{rest_port: {port}}}}}\n"
        )
        silent.freeze()
        result = _cli(repo, "status")
        assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
        rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line.strip()}
        assert rows["redis"][3] == "down" and rows["kafka"][3] == "down", result.stdout
