"""FlinkClient.savepoint: a job that is RUNNING but still deploying its tasks refuses a checkpoint
("Not all required tasks are currently running"); that refusal is retried, any other failure is
reported. Logic around the REST client: the REST answers are stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from featurestream.config import Config
from featurestream.jobs.flink import FlinkClient, FlinkError

NOT_YET = (
    "CheckpointException: Checkpoint triggering task Source: src[1] (1/1) is not being executed at the "
    "moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running."
)


def _client(tmp_path: Path, failures: list[str]) -> tuple[FlinkClient, list[str]]:
    client = FlinkClient(Config(root=tmp_path, state_dir=str(tmp_path / "state")))
    calls: list[str] = []

    def request(method: str, path: str, body: Any = None) -> dict[str, Any]:
        calls.append(method)
        if method == "POST":
            return {"request-id": f"t{len(calls)}"}
        if failures:
            return {"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {"stack-trace": failures.pop(0)}}}
        return {"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/1"}}

    client._request = request  # type: ignore[method-assign,assignment]
    return client, calls


def test_a_job_still_deploying_its_tasks_is_asked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("featurestream.jobs.flink.time.sleep", lambda s: None)
    client, calls = _client(tmp_path, [NOT_YET, NOT_YET])
    assert client.savepoint("j1", cancel=True) == "file:/sp/1"
    assert calls.count("POST") == 3  # triggered again after each refusal


def test_any_other_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("featurestream.jobs.flink.time.sleep", lambda s: None)
    client, calls = _client(tmp_path, ["java.io.IOException: disk full"])
    with pytest.raises(FlinkError, match=r"savepoint failed: java\.io\.IOException: disk full"):
        client.savepoint("j1")
    assert calls.count("POST") == 1
