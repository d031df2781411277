"""A streaming job whose online sink writes to the 3-master Redis Cluster (``redis.url`` is a
``redis+cluster://`` URL: the only change): online rows equal the brute-force reference."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.naming import source_topic
from tests.support import clicks_reference as clicks
from tests.support import window_reference as ref
from tests.support.pipeline import isolated_repo, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)


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
        payloads = [*events.payloads, clicks.flush(flush_t)]
        list(generator.produce(cfg.kafka.bootstrap_servers, source_topic(cfg.kafka, "clicks"), payloads))
        latest = ref.latest_per_key(clicks.expected(payloads, flush_t))
        wait_for(  # online_rows scans every master of the cluster
            lambda: (
                {e: r["_ft"] for e, r in clicks.online(cfg.redis.url, view).items()}
                == {e: end for e, (end, _) in latest.items()}
            ),
            300,
            f"the latest row of {len(latest)} entities in the Redis Cluster",
        )
        clicks.assert_online_equals(cfg.redis.url, view, clicks.expected(payloads, flush_t))
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
