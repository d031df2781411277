"""Parity: the same events streamed through the jobs and backfilled in Flink batch mode give
identical offline rows (everything but created_at), and the backfill replaces only its partitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.jobs.backfill import backfill
from featurestream.jobs.control import JobManager
from featurestream.naming import offline_dir, source_topic
from featurestream.offline.swap import PartitionInUseError
from tests.support.pipeline import isolated_repo, offline_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)  # crosses a date partition boundary
VIEWS = ("user_clicks_10m", "user_sessions")


def _rows(cfg, view) -> dict[tuple[Any, ...], tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    out = {}
    names = [f.name for f in view.features]
    for r in offline_rows(cfg, view).to_pylist():
        if r["user_id"] == "__flush__":
            continue
        key = (r["user_id"], r["feature_time"])
        assert key not in out, f"duplicate row {key}"
        out[key] = tuple(round(r[n], 9) if isinstance(r[n], float) else r[n] for n in names)
    return out


def test_stream_and_backfill_produce_identical_offline_rows(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path / "stream", stack.config)
    views = {v.name: v for v in apply(cfg).new_views if v.name in VIEWS}
    jm = JobManager(cfg)
    jobs = [jm.submit(views[n])[0] for n in VIEWS]
    events = generator.clicks(2000, START, 2 * 3600, n_keys=40, id_prefix="p-", seed=5)
    flush_t = int((START + timedelta(days=2)).timestamp() * 1000)
    flush = json.dumps({"event_id": "flush", "user_id": "__flush__", "amount": 0.0, "event_time": flush_t}).encode()
    try:
        for jid in jobs:
            jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)
        list(
            generator.produce(cfg.kafka.bootstrap_servers, source_topic(cfg.kafka, "clicks"), [*events.payloads, flush])
        )
        # Wait until both outputs are stable across two checkpoints.
        last: dict[str, int] = {}

        def settled() -> bool:
            counts = {n: offline_rows(cfg, views[n]).num_rows for n in VIEWS}
            done = all(counts[n] > 0 and counts[n] == last.get(n) for n in VIEWS)
            last.update(counts)
            return done

        wait_for(settled, 300, "streamed offline rows to settle", interval=12)
        streamed = {n: _rows(cfg, views[n]) for n in VIEWS}
        # The running stream's watermark is on the flush's day (or not reported yet: then every day
        # is open): a backfill reaching that day is refused before any batch job runs, and the
        # streamed partitions stay as they are.
        flush_day = (START + timedelta(days=2)).date()
        view = views["user_clicks_10m"]
        with pytest.raises(PartitionInUseError, match=f"partition of {flush_day}.*live streaming job"):
            backfill(cfg, view, jm.source_of(view), tmp_path, start=START.date(), end=flush_day + timedelta(days=1))
        assert _rows(cfg, view) == streamed["user_clicks_10m"]
    finally:
        for jid in jobs:
            jm.flink.cancel(jid)

    # The same payloads (without the flush) as a file, backfilled into a separate offline store.
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(events.payloads) + b"\n")
    batch_cfg = cfg.model_copy(update={"offline": cfg.offline.model_copy(update={"path": str(tmp_path / "bf")})})
    source = jm.source_of(views[VIEWS[0]])
    for n in VIEWS:
        result = backfill(batch_cfg, views[n], source, events_file)
        assert result.dead_letters == events.malformed
        assert result.partitions == ["2026-06-30", "2026-07-01"]
        assert _rows(batch_cfg, views[n]) == streamed[n], f"{n}: batch and streaming rows differ"

    # Re-running one day replaces that partition only, with the same rows.
    view = views["user_clicks_10m"]
    before = _rows(batch_cfg, view)
    other_day = sorted((Path(offline_dir(batch_cfg.offline_location, view)) / "date=2026-06-30").iterdir())
    day_file = tmp_path / "day.jsonl"
    day_file.write_bytes(events_file.read_bytes())
    backfill(batch_cfg, view, source, day_file, start=datetime(2026, 7, 1).date(), end=datetime(2026, 7, 2).date())
    assert _rows(batch_cfg, view) == before
    assert sorted((Path(offline_dir(batch_cfg.offline_location, view)) / "date=2026-06-30").iterdir()) == other_day
