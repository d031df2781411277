"""The restore rule of ``jobs submit`` (featurestream.jobs.restore): the newest savepoint or complete
retained checkpoint of the same job graph; never another graph's, never an older savepoint once a
newer checkpoint exists, never a cancelled run's checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from featurestream.config import Config, FlinkConfig
from featurestream.errors import RegistryError
from featurestream.jobs.control import JobManager
from featurestream.jobs.restore import RunLog, choose, graph_fingerprint, retained_checkpoints

NAME = "featurestream-t-user_clicks_10m-v1"


def _config(tmp_path: Path) -> Config:
    return Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        flink=FlinkConfig(rest_url="http://127.0.0.1:1", checkpoints_dir=str(tmp_path / "ckpt")),
    )


def _metadata(folder: Path, mtime: float, data: bytes = b"meta") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_metadata").write_bytes(data)
    os.utime(folder / "_metadata", (mtime, mtime))
    return str(folder)


def _manager(cfg: Config, jobs: list[dict[str, str]] | None = None) -> JobManager:
    jm = JobManager(cfg)
    jm.flink.jobs = lambda: list(jobs or [])  # type: ignore[method-assign]
    return jm


def test_a_newer_retained_checkpoint_wins_over_the_recorded_savepoint(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    log = RunLog(cfg)
    sp = _metadata(tmp_path / "sp" / "savepoint-1", 1000)
    log.record_savepoint(NAME, sp, "g1")
    log.record_run(NAME, "job2", "g1")  # resumed from the savepoint, then lost with its JobManager
    _metadata(tmp_path / "ckpt" / "job2" / "chk-7", 2000)
    newest = _metadata(tmp_path / "ckpt" / "job2" / "chk-8", 3000)
    (tmp_path / "ckpt" / "job2" / "chk-9").mkdir()  # in progress when the JobManager died: no _metadata
    _metadata(tmp_path / "ckpt" / "job2" / "chk-10", 4000, data=b"")  # a metadata file never written
    point = _manager(cfg).restore_point(NAME, "g1")
    assert point is not None and point.path == newest and point.kind == "checkpoint"


def test_the_savepoint_wins_when_it_is_newer(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    log = RunLog(cfg)
    log.record_run(NAME, "job1", "g1")
    _metadata(tmp_path / "ckpt" / "job1" / "chk-3", 1000)
    sp = _metadata(tmp_path / "sp" / "savepoint-2", 2000)
    log.record_savepoint(NAME, sp, "g1")
    point = _manager(cfg).restore_point(NAME, "g1")
    assert point is not None and point.path == sp and point.kind == "savepoint"


def test_another_job_graphs_state_is_never_restored(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    log = RunLog(cfg)
    log.record_savepoint(NAME, _metadata(tmp_path / "sp" / "savepoint-1", 5000), "old-graph")
    log.record_run(NAME, "job1", "old-graph")
    _metadata(tmp_path / "ckpt" / "job1" / "chk-1", 6000)
    with pytest.raises(RegistryError, match="another job graph") as err:
        _manager(cfg).restore_point(NAME, "new-graph")
    assert "--fresh" in str(err.value)
    # a state of this graph exists too, though older: it is the one used
    log.record_run(NAME, "job0", "new-graph")
    mine = _metadata(tmp_path / "ckpt" / "job0" / "chk-4", 100)
    point = _manager(cfg).restore_point(NAME, "new-graph")
    assert point is not None and point.path == mine


def test_a_legacy_savepoint_entry_of_unknown_graph_is_not_reused(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    sp = _metadata(tmp_path / "sp" / "savepoint-0", 1000)
    RunLog(cfg).savepoints.parent.mkdir(parents=True, exist_ok=True)
    RunLog(cfg).savepoints.write_text(f'{{"{NAME}": "{sp}"}}')
    with pytest.raises(RegistryError, match="another job graph"):
        _manager(cfg).restore_point(NAME, "g1")


def test_cancelled_runs_leave_no_restore_point(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    log = RunLog(cfg)
    log.record_run(NAME, "job1", "g1")
    log.record_run(NAME, "job2", "g1")
    _metadata(tmp_path / "ckpt" / "job1" / "chk-1", 1000)
    _metadata(tmp_path / "ckpt" / "job2" / "chk-1", 2000)
    log.mark_cancelled(NAME, "job1")  # `jobs cancel --no-savepoint`: its state is dropped
    # job2 was cancelled on the cluster directly (REST, web UI)
    assert _manager(cfg, [{"jid": "job2", "state": "CANCELED"}]).restore_point(NAME, "g1") is None
    assert [c.path for c in log.candidates(NAME)] == [str(tmp_path / "ckpt" / "job2" / "chk-1")]


def test_nothing_recorded_starts_from_the_topic(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    assert _manager(cfg).restore_point(NAME, "g1") is None
    assert retained_checkpoints(cfg, str(tmp_path / "ckpt"), "nojob") == []
    assert choose([], "g1") == (None, [])


def test_the_graph_ignores_connector_options_but_not_the_query() -> None:
    spec = {
        "statements": [
            "CREATE TABLE s (a INT) WITH ('connector' = 'kafka', 'properties.bootstrap.servers' = 'h1:9092')"
        ],
        "inserts": ["INSERT INTO t SELECT a FROM s"],
        "python_functions": [{"name": "f", "module": "m", "attr": "a", "kwargs": {"redis_url": "redis://h1"}}],
    }
    moved = {
        "statements": [
            "CREATE TABLE s (a INT) WITH ('connector' = 'kafka', 'properties.bootstrap.servers' = 'h2:9092')"
        ],
        "inserts": spec["inserts"],
        "python_functions": [{"name": "f", "module": "m", "attr": "a", "kwargs": {"redis_url": "redis://h2"}}],
    }
    changed = {**spec, "inserts": ["INSERT INTO t SELECT a + 1 FROM s"]}
    assert graph_fingerprint(spec) == graph_fingerprint(moved)
    assert graph_fingerprint(spec) != graph_fingerprint(changed)
