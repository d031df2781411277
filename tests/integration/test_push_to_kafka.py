"""Push against a real Kafka broker: POST /push and `featurestream push` append to the source's topic
exactly the rows sent, and a rejected batch adds nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.cli import main
from featurestream.config import load_config
from featurestream.definitions import parse_source
from featurestream.registry import Registry
from tests.support.registry import REPO_ROOT, demo_views

pytestmark = pytest.mark.integration


def _read_topic(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10_000
    )
    try:
        out = []
        for msg in consumer:
            out.append(json.loads(msg.value))
            if len(out) >= expected:
                break
        return out
    finally:
        consumer.close()


def test_push_over_http_and_cli_lands_on_the_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"push{uuid.uuid4().hex[:8]}."
    (tmp_path / "featurestream.yaml").write_text(
        f"namespace: default\nstate_dir: state\nkafka:\n  bootstrap_servers: {kafka_bootstrap}\n"
        f"  topic_prefix: {prefix}\nredis:\n  url: redis://127.0.0.1:1/0\n"
    )
    cfg = load_config(tmp_path, env={})
    sources = [parse_source(p.read_text(), str(p), "default") for p in (REPO_ROOT / "sql" / "sources").glob("*.sql")]
    Registry.open(cfg).save(sources=sources, views=demo_views(), services=[])
    rows = [
        {
            "event_id": f"e{i}",
            "user_id": f"u{i % 3}",
            "item_id": "i",
            "amount": i * 1.5,
            "event_time": 1706788800000 + i,
        }
        for i in range(5)
    ]
    with TestClient(create_app(cfg)) as client:
        bad = client.post("/push", json={"push_source_name": "clicks", "df": {"event_id": ["x"], "amount": ["y"]}})
        assert bad.status_code == 422
        r = client.post("/push", json={"push_source_name": "clicks", "df": {k: [r[k] for r in rows] for k in rows[0]}})
        assert r.status_code == 200, r.text
        assert r.json()["topic"] == f"{prefix}clicks"
    lines = tmp_path / "more.jsonl"
    more = [dict(r, event_id=f"cli{i}") for i, r in enumerate(rows[:2])]
    lines.write_text("\n".join(json.dumps(r) for r in more))
    res = CliRunner().invoke(main, ["-r", str(tmp_path), "push", "clicks", str(lines), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == 2
    got = _read_topic(kafka_bootstrap, f"{prefix}clicks", 7)
    # the rejected batch added nothing (the topic may have several partitions: compare as sets)
    assert sorted(got, key=lambda r: str(r["event_id"])) == sorted(rows + more, key=lambda r: str(r["event_id"]))
