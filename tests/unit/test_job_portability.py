"""Jobs carry what they need: nothing of the submitting machine reaches a cluster's or a job's
configuration, and state locations travel in the job itself."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from featurestream.config import load_config
from featurestream.definitions import parse_source
from featurestream.jobs.compiler import compile_streaming_job, job_placement
from featurestream.stack.flink import FlinkService, client_env
from tests.support.registry import REPO_ROOT, demo_views


def _cfg(tmp_path: Path, text: str = ""):  # type: ignore[no-untyped-def]
    (tmp_path / "featurestream.yaml").write_text(text)
    return load_config(tmp_path, env={})


def test_cluster_config_has_its_own_runtime_and_no_repo_path(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        "stack:\n  flink:\n    taskmanagers: 2\n    python: /opt/runtime/bin/python\n"
        "s3:\n  endpoint: http://127.0.0.1:9000\n  path_style_access: true\n",
    )
    svc = FlinkService(cfg)
    svc.write_config()
    conf = yaml.safe_load((svc.conf_dir / "config.yaml").read_text())
    assert svc.env()["FEATURESTREAM_PYTHON"] == "/opt/runtime/bin/python"  # the entrypoint sets python.executable
    assert not any(k.startswith("python") for k in conf), "the cluster's Python has one owner: its entrypoint"
    assert conf["s3.endpoint"] == "http://127.0.0.1:9000" and conf["s3.path.style.access"] is True
    assert not any("secret" in k or "access-key" in k for k in conf), "credentials come from the environment"
    assert [tm.name for tm in svc.taskmanagers] == ["flink-taskmanager", "flink-taskmanager-2"]
    assert "PYTHONPATH" not in svc.env()
    assert svc.env()["FLINK_PLUGINS_DIR"] == str(svc.plugins_dir)


def test_submitting_client_reads_only_the_rest_address(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    env = client_env(cfg, "http://flink.example.internal:8081")
    conf = yaml.safe_load((Path(env["FLINK_CONF_DIR"]) / "config.yaml").read_text())
    assert conf["rest.address"] == "flink.example.internal" and conf["rest.port"] == 8081
    assert not any(k.startswith(("python.", "execution.checkpointing", "state.")) for k in conf)
    assert env["PYFLINK_CLIENT_EXECUTABLE"] == sys.executable
    assert "PYTHONPATH" not in env
    assert Path(env["FLINK_CONF_DIR"]) != FlinkService(cfg).conf_dir


def test_state_locations_and_parallelism_travel_in_the_job(tmp_path: Path) -> None:
    retain = {"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
    local = job_placement(_cfg(tmp_path))  # the local stack shares this machine and its runtime
    assert local == {"python.executable": sys.executable, **retain}
    remote = _cfg(tmp_path, "flink:\n  rest_url: http://flink.internal:8081\n")
    # a remote cluster's job names no path of this machine, and still keeps its checkpoints on cancel
    assert job_placement(remote) == retain
    cfg = _cfg(
        tmp_path,
        "flink:\n  rest_url: http://flink.internal:8081\n  checkpoints_dir: s3://b/ckpt\n"
        "  savepoints_dir: s3://b/sp\n  parallelism: 4\n  python_executable: /opt/fs/bin/python\n",
    )
    view = next(v for v in demo_views("default") if v.name == "user_clicks_10m")
    source = parse_source((REPO_ROOT / "sql" / "sources" / "clicks.sql").read_text(), "clicks.sql")
    spec = compile_streaming_job(view, source, cfg)
    assert spec["config"]["execution.checkpointing.dir"] == "s3://b/ckpt"
    assert spec["config"]["execution.checkpointing.savepoint-dir"] == "s3://b/sp"
    assert spec["config"]["parallelism.default"] == "4"
    assert spec["config"]["python.executable"] == "/opt/fs/bin/python"
    assert str(tmp_path) not in str(spec["config"])
