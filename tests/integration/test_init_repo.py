"""`featurestream init` end to end on the shared stack: the scaffold applies, both of its views run
as streaming jobs, events pushed over POST /push (no Kafka client) reach Redis, and the scaffold's
feature service (with its on-demand function) serves them."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.apply import apply
from featurestream.config import load_config
from featurestream.jobs.control import JobManager
from featurestream.scaffold import init_repo
from tests.support.pipeline import isolated_repo, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_scaffold_applies_runs_takes_pushes_and_serves(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    iso = isolated_repo(REPO, tmp_path / "iso", stack.config, partitions=1)  # the isolation settings only
    root = tmp_path / "shop"
    init_repo(root)
    settings = yaml.safe_load((iso.root / "featurestream.yaml").read_text())
    settings["registry_path"] = str(root / "registry.json")
    settings["offline"] = {"path": str(root / "offline")}
    (root / "featurestream.yaml").write_text(yaml.safe_dump(settings))
    cfg = load_config(root, env={})

    views = {v.name: v for v in apply(cfg).new_views}
    assert set(views) == {"customer_orders_1h", "customer_last_order"}
    jm = JobManager(cfg)
    jobs = [jm.submit(v)[0] for v in views.values()]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    t0 = int(hour.timestamp() * 1000)
    rows: list[dict[str, Any]] = [
        {"order_id": "o1", "customer_id": "c1", "amount": 10.0, "items": 1, "event_time": t0 + 60_000},
        {"order_id": "o2", "customer_id": "c1", "amount": 20.0, "items": 2, "event_time": t0 + 120_000},
        {"order_id": "o2", "customer_id": "c1", "amount": 20.0, "items": 2, "event_time": t0 + 120_000},  # again
        {"order_id": "o3", "customer_id": "c1", "amount": 30.0, "items": None, "event_time": t0 + 180_000},
        # moves the watermark past the end of the hour window
        {"order_id": "flush", "customer_id": "__flush__", "amount": 0.0, "items": 0, "event_time": t0 + 3_660_000},
    ]
    try:
        for jid in jobs:
            jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)
        with TestClient(create_app(cfg)) as client:
            r = client.post(
                "/push", json={"push_source_name": "orders", "df": {k: [x[k] for x in rows] for k in rows[0]}}
            )
            assert r.status_code == 200, r.text
            assert r.json()["rows"] == 5

            hourly, last = views["customer_orders_1h"], views["customer_last_order"]
            wait_for(lambda: "c1" in online_rows(cfg.redis.url, hourly), 180, "the c1 hourly row online")
            wait_for(lambda: "c1" in online_rows(cfg.redis.url, last), 60, "the c1 latest-order row online")
            assert online_rows(cfg.redis.url, hourly)["c1"]["orders_1h"] == 3  # o2 de-duplicated

            # The scaffold's on-demand function has a 5 ms budget per request, wall clock: on a loaded
            # machine one call can overrun it and be served its default with status INVALID (a
            # TIMEOUT). That is the budget working, not what this test is about: ask again then.
            for _ in range(10):
                r = client.post(
                    "/get-online-features",
                    json={"feature_service": "churn_model", "entities": {"customer_id": ["c1"], "amount": [15.0]}},
                )
                assert r.status_code == 200, r.text
                body = r.json()
                names = body["metadata"]["feature_names"]
                values = {n: res["values"][0] for n, res in zip(names, body["results"], strict=True)}
                statuses = {n: res["statuses"][0] for n, res in zip(names, body["results"], strict=True)}
                if statuses["amount_over_hourly_spend"] == "PRESENT":
                    break
            assert statuses["amount_over_hourly_spend"] == "PRESENT", statuses
            assert values["orders_1h"] == 3 and values["spend_1h"] == 60.0
            assert values["last_amount"] == 30.0
            assert values["amount_over_hourly_spend"] == pytest.approx(0.25)
    finally:
        for jid in jobs:
            with contextlib.suppress(Exception):
                jm.flink.cancel(jid)
