"""A restart with empty state never overwrites a stored row (issue 15 item 2; the rule is
:mod:`featurestream.jobs.restore`'s).

The first run of ``user_clicks_10m`` (HOP 10 min / 1 min) writes its windows and checkpoints, so its
consumer group commits offsets past every event; it is then cancelled without a savepoint (its
checkpoints are never used again) and submitted again: it starts without state from those offsets.
The new run first reads stragglers: new events at the last event time of entities the first run
already wrote. For the new job (empty state, no watermark yet) they are on time, so without the
guard it would emit one-event windows at exactly the feature_times already stored -- partial rows
that win the online tie (newer created_at) and are appended offline next to the correct ones. With
the guard (everything at or before the newest stored feature_time is left alone) the stores end
equal to the rows saved before the restart plus the reference rows of the events after it.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.naming import job_name, source_topic
from tests.support import clicks_reference as clicks
from tests.support import window_reference as ref
from tests.support.pipeline import isolated_repo, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _valid(payloads: list[bytes]) -> list[dict[str, Any]]:
    """The events the job counts (``_t``: event time in epoch ms)."""
    return ref.split_events(payloads, ["event_id", "user_id", "event_time"], numeric=["amount"])[0]


def _stragglers(payloads: list[bytes], keys: set[str]) -> list[bytes]:
    """One new event per key of ``keys`` at that key's last counted event time in ``payloads`` (so
    its windows end exactly where the key's stored windows end), in event-time order."""
    last: dict[str, int] = {}
    for ev in _valid(payloads):
        if ev["user_id"] in keys:
            last[ev["user_id"]] = max(last.get(ev["user_id"], 0), ev["_t"])
    out = [
        {"event_id": f"s-{key}", "user_id": key, "item_id": "straggler", "amount": 1000.0, "event_time": t}
        for key, t in sorted(last.items(), key=lambda kv: kv[1])
    ]
    return [json.dumps(ev).encode() for ev in out]


def _users(payloads: list[bytes]) -> set[str]:
    return {str(ev["user_id"]) for ev in _valid(payloads)}


def test_a_restart_without_state_never_overwrites_a_stored_row(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path, stack.config)
    view = next(v for v in apply(cfg).new_views if v.name == "user_clicks_10m")
    name = job_name(view)
    jm = JobManager(cfg)
    bootstrap = cfg.kafka.bootstrap_servers
    topic = source_topic(cfg.kafka, "clicks")

    first = generator.clicks(800, START, 20 * 60, n_keys=40, id_prefix="a-", seed=31)
    flush1_t = _ms(START + timedelta(minutes=35))
    want_a = clicks.expected([*first.payloads, clicks.flush(flush1_t, "flush-1")], flush1_t)
    second = generator.clicks(400, START + timedelta(minutes=40), 10 * 60, n_keys=15, id_prefix="b-", seed=32)
    flush2_t = _ms(START + timedelta(hours=3))
    want_b = clicks.expected([*second.payloads, clicks.flush(flush2_t, "flush-2")], flush2_t)
    # entities with no event after the restart (and not the flush key)
    quiet = _users(first.payloads) - _users(second.payloads) - {clicks.FLUSH_KEY}
    assert len(quiet) >= 5

    job_id, _ = jm.submit(view)
    try:
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        list(generator.produce(bootstrap, topic, [*first.payloads, clicks.flush(flush1_t, "flush-1")]))
        wait_for(lambda: len(clicks.offline(cfg, view)) >= len(want_a), 240, f"{len(want_a)} offline rows")
        # one more checkpoint: the consumer group's committed offsets are past every event produced
        done = jm.flink.checkpoints(job_id)["counts"]["completed"]
        wait_for(lambda: jm.flink.checkpoints(job_id)["counts"]["completed"] > done + 1, 60, "two more checkpoints")
        clicks.assert_offline_equals(cfg, view, want_a)
        clicks.assert_online_equals(cfg.redis.url, view, want_a)
    finally:
        with contextlib.suppress(Exception):
            jm.cancel(view, with_savepoint=False)  # its checkpoints are never restored (cancelled on purpose)
    before = dict(clicks.offline(cfg, view))
    newest = max(ft for _, ft in want_a)
    jm.flink.wait_for_state(job_id, ("CANCELED",), timeout=60)

    job_id, submitted = jm.submit(view)
    try:
        assert submitted and jm.restored_from[name] is None  # no usable state: from the committed offsets
        guard = jm.guards[name]
        assert guard is not None and _ms(guard.after) == newest
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        list(generator.produce(bootstrap, topic, _stragglers(first.payloads, quiet)))
        time.sleep(3)  # the stragglers are read before any later event moves the new job's watermark
        list(generator.produce(bootstrap, topic, [*second.payloads, clicks.flush(flush2_t, "flush-2")]))
        assert all(ft > newest for _, ft in want_b)  # after the restart's events: complete windows
        want = {**before, **want_b}
        wait_for(lambda: len(clicks.offline(cfg, view)) >= len(want), 240, f"{len(want)} offline rows")
        done = jm.flink.checkpoints(job_id)["counts"]["completed"]
        wait_for(lambda: jm.flink.checkpoints(job_id)["counts"]["completed"] > done, 60, "one more checkpoint")
        # the rows stored before the restart are unchanged, offline (no second copy) and online
        clicks.assert_offline_equals(cfg, view, want)
        clicks.assert_online_equals(cfg.redis.url, view, want)
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
