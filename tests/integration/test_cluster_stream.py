"""A streaming job whose online sink writes to the 3-master Redis Cluster (``redis.url`` is a
``redis+cluster://`` URL: the only change): online rows equal the brute-force reference."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.naming import source_topic
from tests.support import window_reference as ref
from tests.support.pipeline import isolated_repo, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
MIN = 60_000
SPEC = ref.WindowSpec("HOP", 10 * MIN, 1 * MIN)
AGGS: dict[str, ref.Agg] = {
    "clicks_10m": ref.count,
    "amount_10m": ref.sum_of("amount"),
    "distinct_items_10m": ref.count_distinct("item_id"),
}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return bool(a == b)


def test_stream_job_writes_online_rows_into_the_cluster(stack, redis_cluster_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path, stack.config, extra={"redis": {"url": redis_cluster_url}})
    assert cfg.redis.url == redis_cluster_url
    view = next(v for v in apply(cfg).new_views if v.name == "user_clicks_10m")
    jm = JobManager(cfg)
    job_id, _ = jm.submit(view)
    try:
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        events = generator.clicks(2000, START, 2 * 3600, n_keys=120, id_prefix="rc-", seed=31)
        flush_t = int(START.timestamp() * 1000) + 2 * 86_400_000
        flush = json.dumps({"event_id": "flush", "user_id": "__flush__", "amount": 0.0, "event_time": flush_t})
        payloads = [*events.payloads, flush.encode()]
        list(generator.produce(cfg.kafka.bootstrap_servers, source_topic(cfg.kafka, "clicks"), payloads))
        valid, _ = ref.split_events(payloads, ["event_id", "user_id", "event_time"], numeric=["amount"])
        expected = {
            k: v
            for k, v in ref.reference_rows(valid, "user_id", SPEC, AGGS, flush_t - 5000).items()
            if k[0] != "__flush__"
        }
        latest = ref.latest_per_key(expected)

        def online() -> dict[str, dict[str, Any]]:
            rows = online_rows(cfg.redis.url, view)  # scans every master of the cluster
            rows.pop("__flush__", None)
            return rows

        wait_for(
            lambda: {e: r["_ft"] for e, r in online().items()} == {e: end for e, (end, _) in latest.items()},
            300,
            f"the latest row of {len(latest)} entities in the Redis Cluster",
        )
        rows = online()
        for entity, (_, row) in latest.items():
            for f in AGGS:
                assert _close(rows[entity][f], row[f]), f"online {entity} {f}: {rows[entity][f]!r} != {row[f]!r}"
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
