"""Monitoring against a real Redis and offline Parquet (no Kafka, no Flink): freshness SLA breach on a
stalled view, the audit catching an injected online mismatch, feature logging, CLI and API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from click.testing import CliRunner

from featurestream.cli.main import main
from featurestream.monitoring.audit import audit_view
from featurestream.monitoring.freshness import view_freshness
from featurestream.monitoring.monitor import collect
from featurestream.online.keys import entity_key, key_pattern
from featurestream.online.store import RedisOnlineStore
from tests.support.demo_repo import DemoRepo, build_demo_repo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    ns = f"mon{uuid.uuid4().hex[:8]}"
    repo = build_demo_repo(tmp_path_factory.mktemp("monitoring") / "repo", redis_url, namespace=ns)
    yield repo
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=key_pattern(ns, "*", "*"), count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def store(demo: DemoRepo) -> Iterator[RedisOnlineStore]:
    s = RedisOnlineStore.from_url(demo.config.redis.url, demo.config.namespace)
    yield s
    s.close()


def test_freshness_flags_the_stalled_view_only(demo: DemoRepo, store: RedisOnlineStore) -> None:
    stalled = view_freshness(store, demo.view("card_spend_1h", 1))
    fresh = view_freshness(store, demo.view("user_clicks_10m"))
    assert stalled.breached and stalled.newest_age_s is not None and stalled.newest_age_s > 3 * 3600 - 60
    assert "SLA 5m" in stalled.reasons[0]
    assert not fresh.breached and fresh.keys == 300 and fresh.exhaustive
    assert fresh.lag_p50_s is not None and 0.5 <= fresh.lag_p50_s <= 3.0
    assert view_freshness(store, demo.view("card_spend_today")).reasons == ("no online rows",)


def test_sampled_scan_is_bounded(demo: DemoRepo, store: RedisOnlineStore) -> None:
    part = view_freshness(store, demo.view("user_clicks_10m"), sample=50)
    assert part.keys == 50 and not part.exhaustive


def test_audit_is_clean_then_catches_an_injected_mismatch(demo: DemoRepo, store: RedisOnlineStore) -> None:
    view = demo.view("user_sessions")
    clean = audit_view(demo.config, view, store, sample=1000, now=demo.now)
    assert clean.ok and clean.entities > 100 and all(f.checked == clean.entities for f in clean.features)

    victim = store.read(view, [("u7",)])[0] or store.read(view, [("u8",)])[0]
    assert victim is not None
    ent = "u7" if store.read(view, [("u7",)])[0] is not None else "u8"
    wrong = dict(victim.values, session_clicks=victim.values["session_clicks"] + 7)  # a writer counting twice
    store.write_rows(view, [{"user_id": ent, "feature_time": victim.feature_time_ms, **wrong}])
    report = audit_view(demo.config, view, store, sample=1000, now=demo.now)
    by = {f.feature: f for f in report.features}
    assert (by["session_clicks"].value, report.mismatches) == (1, 1)
    ex = by["session_clicks"].examples[0]
    assert ex["kind"] == "value" and ex["entity"] == {"user_id": ent}
    assert ex["online"] == ex["offline"] + 7
    # an online row the offline store never had ("extra") and a deleted live row ("missing")
    newer = victim.feature_time_ms + 60_000
    store.write_rows(view, [{"user_id": "ghost", "feature_time": newer, **wrong}])
    store.client.delete(entity_key(demo.config.namespace, view.name, view.version, "u3"))
    report = audit_view(demo.config, view, store, sample=1000, now=demo.now)
    kinds = {(ex["kind"], ex["entity"]["user_id"]) for f in report.features for ex in f.examples}
    assert ("extra", "ghost") in kinds
    assert report.features[0].extra == 1 and report.features[0].value == 1
    # restore the victim so other tests see consistent data
    store.write_rows(view, [{"user_id": ent, "feature_time": victim.feature_time_ms, **victim.values}])


def test_collect_reports_drift_quality_and_stall(demo: DemoRepo, store: RedisOnlineStore) -> None:
    views = [demo.view("user_clicks_10m"), demo.view("card_spend_1h", 1)]
    report = collect(demo.config, views, store, flink=False, kafka=False)
    clicks, spend = report.views
    drift = {d.feature: d for d in clicks.drift}
    assert drift["amount_10m"].psi_breached and drift["amount_10m"].ks_breached
    assert not drift["clicks_10m"].breached
    quality = {q.feature: q for q in clicks.quality}
    assert 0.05 < quality["distinct_items_10m"].null_rate < 0.16 and quality["distinct_items_10m"].breached
    assert quality["clicks_10m"].null_rate == 0 and quality["clicks_10m"].rows == 2400
    assert spend.freshness is not None and spend.freshness.breached
    assert report.breached


def test_monitor_cli_exits_nonzero_on_breach(demo: DemoRepo) -> None:
    runner = CliRunner()
    root = str(demo.config.root)
    res = runner.invoke(main, ["--repo", root, "monitor", "--view", "card_spend_1h@1", "--no-flink", "--no-kafka"])
    assert res.exit_code == 2, res.output
    assert "! card_spend_1h@1" in res.output and "BREACH" in res.output and "newest row is 3" in res.output
    ok = runner.invoke(
        main, ["--repo", root, "monitor", "--view", "user_sessions", "--no-flink", "--no-kafka", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["breached"] is False
    audit = runner.invoke(main, ["--repo", root, "audit", "user_clicks_10m", "--sample", "50"])
    assert audit.exit_code == 0 and "consistent" in audit.output, audit.output


def test_monitor_cli_with_unreachable_flink_and_kafka(demo: DemoRepo) -> None:
    res = CliRunner().invoke(main, ["--repo", str(demo.config.root), "monitor", "--view", "user_sessions", "--json"])
    doc = json.loads(res.output)
    view = doc["views"][0]
    assert view["job"]["state"] == "UNKNOWN" and "cannot reach Flink" in view["job"]["error"]
    assert any("Kafka" in e for e in view["errors"])
    assert res.exit_code == 0  # unreachable services are reported, not breaches


def test_feature_logging_writes_served_vectors_off_the_request_path(demo: DemoRepo) -> None:
    from fastapi.testclient import TestClient

    from featurestream.api.main import create_app
    from featurestream.monitoring.served_log import served_dir

    mon = demo.config.monitoring.model_copy(
        update={"log_served": True, "log_sample_rate": 1.0, "log_flush_interval_s": 0.2}
    )
    cfg = demo.config.model_copy(update={"monitoring": mon})
    with TestClient(create_app(cfg)) as client:
        for i in range(40):
            r = client.post(
                "/v1/features",
                json={
                    "features": ["user_clicks_10m:clicks_10m", "user_clicks_10m:amount_10m"],
                    "entities": {"user_id": [f"u{i}", "nobody"]},
                },
            )
            assert r.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and client.get("/v1/monitoring/feature-log").json()["rows_written"] < 160:
            time.sleep(0.1)
        stats = client.get("/v1/monitoring/feature-log").json()
        assert stats["rows_written"] == 160 and stats["dropped"] == 0
        q = client.get(
            "/v1/monitoring/views/user_clicks_10m/quality",
            params={"source": "served", "end": (demo.now + timedelta(hours=1)).isoformat()},
        ).json()
        by = {f["feature"]: f for f in q["features"]}
        assert by["clicks_10m"]["rows"] == 80 and by["clicks_10m"]["default_rate"] >= 0.5
        metrics = client.get("/metrics").text
        assert "featurestream_feature_log_rows_written 160.0" in metrics
    files = list(served_dir(cfg).glob("date=*/part-*.parquet"))
    assert files


def test_monitoring_api_and_prometheus(demo: DemoRepo) -> None:
    from fastapi.testclient import TestClient

    from featurestream.api.main import create_app

    with TestClient(create_app(demo.config)) as client:
        fr = {f["view"]: f for f in client.get("/v1/monitoring/freshness").json()}
        assert fr["card_spend_1h@1"]["breached"] and not fr["user_clicks_10m@1"]["breached"]
        drift = client.get("/v1/monitoring/views/user_clicks_10m/drift").json()
        assert {d["feature"] for d in drift["features"] if d["breached"]} == {"amount_10m"}
        ts = client.get("/v1/monitoring/views/user_clicks_10m/timeseries", params={"buckets": 12}).json()
        assert len(ts["points"]) == 12 and sum(p["rows"] for p in ts["points"]) == 2400
        assert client.get("/v1/monitoring/views/user_clicks_10m/audit", params={"sample": 30}).json()["ok"]
        cat = client.get("/v1/monitoring/catalog").json()
        assert {v["name"] for v in cat["views"]} >= {"user_clicks_10m", "card_spend_1h"}
        assert client.get("/v1/monitoring/views/nope/drift").status_code == 404
        html = client.get("/ui")
        assert html.status_code == 200 and "<svg" not in html.text[:200] and "lineChart" in html.text
        assert "http://" not in html.text.replace("http://www.w3.org/2000/svg", "")  # self-contained
        metrics = client.get("/metrics").text
        assert (
            f'featurestream_view_sla_breached{{namespace="{demo.config.namespace}",view="card_spend_1h@1"}} 1.0'
            in metrics
        )
        assert "featurestream_feature_psi{" in metrics
