"""Exactly-once effect: kill the TaskManager (SIGKILL, with its Python workers) mid-stream.

After recovery from the last checkpoint, Parquet holds exactly the rows of a run without the
crash (no loss, no duplicates) and Redis holds the latest row per entity, equal to the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.naming import source_topic
from tests.support import window_reference as ref
from tests.support.pipeline import isolated_repo, offline_rows, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
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


def test_taskmanager_killed_mid_stream_converges_exactly(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path, stack.config)
    view = next(v for v in apply(cfg).new_views if v.name == "user_clicks_10m")
    jm = JobManager(cfg)
    job_id, _ = jm.submit(view)
    bootstrap = cfg.kafka.bootstrap_servers
    topic = source_topic(cfg.kafka, "clicks")
    try:
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        first = generator.clicks(3000, START, 2 * 3600, n_keys=80, id_prefix="a-", seed=21)
        list(generator.produce(bootstrap, topic, first.payloads))
        wait_for(lambda: len(online_rows(cfg.redis.url, view)) > 10, 180, "rows before the crash")
        completed = jm.flink.checkpoints(job_id)["counts"]["completed"]
        wait_for(lambda: jm.flink.checkpoints(job_id)["counts"]["completed"] > completed, 60, "a checkpoint")

        # More events right before the kill, so some output is in flight, not yet checkpointed.
        second = generator.clicks(1500, START + timedelta(hours=2), 3600, n_keys=80, id_prefix="b-", seed=22)
        list(generator.produce(bootstrap, topic, second.payloads[: len(second.payloads) // 2]))
        time.sleep(1.5)
        tm = stack.stack.flink.taskmanager
        pid = tm.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not tm.running(), 30, "the TaskManager to die", interval=0.2)
        stack.stack.up(("flink",))  # a fresh TaskManager; the job restores from its checkpoint

        rest = second.payloads[len(second.payloads) // 2 :]
        flush_t = int((START + timedelta(days=2)).timestamp() * 1000)
        rest.append(
            json.dumps({"event_id": "flush", "user_id": "__flush__", "amount": 0.0, "event_time": flush_t}).encode()
        )
        list(generator.produce(bootstrap, topic, rest))

        payloads = first.payloads + second.payloads + [rest[-1]]
        valid, _ = ref.split_events(payloads, ["event_id", "user_id", "event_time"], numeric=["amount"])
        expected = {
            k: v
            for k, v in ref.reference_rows(valid, "user_id", SPEC, AGGS, flush_t - 5000).items()
            if k[0] != "__flush__"
        }

        def offline() -> list[tuple[tuple[str, int], dict[str, Any]]]:
            out = []
            for r in offline_rows(cfg, view).to_pylist():
                ft = int(r["feature_time"].replace(tzinfo=UTC).timestamp() * 1000)
                out.append(((r["user_id"], ft), r))
            return out

        wait_for(lambda: len(offline()) >= len(expected), 300, f"{len(expected)} offline rows after recovery")
        time.sleep(6)  # one more checkpoint: duplicates, if any, would show up now
        rows = offline()
        keys = [k for k, _ in rows]
        assert len(keys) == len(set(keys)), "duplicate offline rows after recovery"
        assert set(keys) == set(expected)
        for k, r in rows:
            for f in AGGS:
                assert _close(r[f], expected[k][f]), f"{k} {f}: {r[f]!r} != {expected[k][f]!r}"
        assert jm.flink.checkpoints(job_id)["counts"]["restored"] >= 1

        latest = ref.latest_per_key(expected)
        online = online_rows(cfg.redis.url, view)
        online.pop("__flush__", None)
        assert set(online) == set(latest)
        for entity, (end, row) in latest.items():
            assert online[entity]["_ft"] == end
            for f in AGGS:
                assert _close(online[entity][f], row[f]), f"online {entity} {f}"
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
