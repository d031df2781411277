"""Exactly-once effect: kill the TaskManager (SIGKILL, with its Python workers) mid-stream.

After recovery from the last checkpoint, Parquet holds exactly the rows of a run without the
crash (no loss, no duplicates) and Redis holds the latest row per entity, equal to the reference.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.naming import source_topic
from tests.support import clicks_reference as clicks
from tests.support.pipeline import isolated_repo, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


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
        rest.append(clicks.flush(flush_t))
        list(generator.produce(bootstrap, topic, rest))
        want = clicks.expected(first.payloads + second.payloads + [rest[-1]], flush_t)

        wait_for(lambda: len(clicks.offline(cfg, view)) >= len(want), 300, f"{len(want)} offline rows after recovery")
        time.sleep(6)  # one more checkpoint: duplicates, if any, would show up now
        clicks.assert_offline_equals(cfg, view, want)
        assert jm.flink.checkpoints(job_id)["counts"]["restored"] >= 1
        clicks.assert_online_equals(cfg.redis.url, view, want)
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
