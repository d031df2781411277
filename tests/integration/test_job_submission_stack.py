"""On a real Flink cluster (issue 16 item 5): several jobs from ONE ``flink run``, each its own job with
its own name and its own restore path (in its configuration, not the client's ``-s``), one bad spec
failing alone; and a backfill that shows its progress while the Flink job runs."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featurestream import generator
from featurestream.apply import apply
from featurestream.cli import main
from featurestream.jobs.flink import FlinkClient
from tests.support.pipeline import isolated_repo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _counting_spec(name: str, select: str = "SELECT k, COUNT(*) FROM src GROUP BY k") -> dict[str, Any]:
    """A small stateful job without external services: datagen -> keyed count -> blackhole."""
    return {
        "name": name,
        "mode": "streaming",
        "config": {"execution.checkpointing.interval": "2 s"},
        "statements": [
            "CREATE TEMPORARY TABLE src (k INT) WITH ('connector' = 'datagen', 'rows-per-second' = '5', "
            "'fields.k.min' = '1', 'fields.k.max' = '5')",
            "CREATE TEMPORARY TABLE dst (k INT, n BIGINT) WITH ('connector' = 'blackhole')",
        ],
        "inserts": [f"INSERT INTO dst {select}"],
    }


def _restored_from(client: FlinkClient, job_id: str) -> str | None:
    restored = (client.checkpoints(job_id).get("latest") or {}).get("restored")
    return restored.get("external_path") if restored else None


def test_one_client_submits_several_jobs_each_restoring_from_its_own_path(stack) -> None:  # type: ignore[no-untyped-def]
    client = FlinkClient(stack.config)
    tag = uuid.uuid4().hex[:8]
    a, b, bad = f"fs-test-a-{tag}", f"fs-test-b-{tag}", f"fs-test-bad-{tag}"
    started: list[str] = []
    try:
        (first,) = client.submit_many([_counting_spec(a)])
        assert first.job_id is not None, first.error
        started.append(first.job_id)
        client.wait_for_state(first.job_id, ("RUNNING",), timeout=180)
        savepoint = client.savepoint(first.job_id, cancel=True)

        results = client.submit_many(
            [_counting_spec(a), _counting_spec(b), _counting_spec(bad, "SELECT k, COUNT(*) FROM no_such_table")],
            restore={a: savepoint},
        )
        started += [r.job_id for r in results if r.job_id]
        ra, rb, rbad = results
        assert ra.job_id and rb.job_id and ra.job_id != rb.job_id, (ra, rb)
        assert rbad.job_id is None and "no_such_table" in (rbad.error or ""), rbad  # Flink's own message
        for r in (ra, rb):
            assert r.job_id is not None
            client.wait_for_state(r.job_id, ("RUNNING",), timeout=180)
        assert {client.job(ra.job_id)["name"], client.job(rb.job_id)["name"]} == {a, b}  # separate jobs
        assert _restored_from(client, ra.job_id) == savepoint  # a's path, from a's own configuration
        assert _restored_from(client, rb.job_id) is None  # b started empty
    finally:
        for jid in started:
            if client.job(jid)["state"] in ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING"):
                client.cancel(jid)


def test_backfill_shows_progress_while_the_flink_job_runs(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path / "repo", stack.config)
    assert any(v.name == "user_clicks_10m" for v in apply(cfg).new_views)
    events = generator.clicks(3000, datetime(2026, 6, 30, 23, 0, tzinfo=UTC), 3600, n_keys=20, seed=3)
    inputs = tmp_path / "events.jsonl"
    inputs.write_bytes(b"\n".join(events.payloads) + b"\n")
    # the isolated repo's featurestream.yaml names every address; no override of the caller's applies
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FEATURESTREAM")}
    result = CliRunner(env=env).invoke(
        main, ["-r", str(tmp_path / "repo"), "backfill", "user_clicks_10m", "--from", str(inputs)]
    )
    assert result.exit_code == 0, result.output
    progress = [ln for ln in result.output.splitlines() if ln.startswith("backfill user_clicks_10m@1  ")]
    assert progress, result.output
    n = len(events.payloads)
    assert f"{n:,}/{n:,} events (100%)" in progress[-1] and progress[-1].endswith("FINISHED")
    assert all("events/s" in ln and "elapsed" in ln for ln in progress)
