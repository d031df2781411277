from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from featurestream.config import load_config
from featurestream.errors import StackError
from featurestream.stack import Stack
from featurestream.stack.flink import FlinkService
from featurestream.stack.kafka import KafkaService
from featurestream.stack.process import ManagedProcess
from featurestream.stack.redis import RedisService


def _cfg(tmp_path: Path, text: str = ""):  # type: ignore[no-untyped-def]
    (tmp_path / "featurestream.yaml").write_text(text)
    return load_config(tmp_path, env={})


def test_flink_config_generation(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "stack:\n  flink:\n    rest_port: 18081\n    task_slots: 2\n")
    svc = FlinkService(cfg)
    svc.write_config()
    conf = yaml.safe_load((svc.conf_dir / "config.yaml").read_text())
    assert conf["rest.port"] == 18081
    assert conf["taskmanager.numberOfTaskSlots"] == 2
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.incremental"] is True
    assert conf["execution.checkpointing.num-retained"] >= 1
    assert conf["execution.checkpointing.dir"].startswith("file:")
    # the cluster's Python is the entrypoint script's (FEATURESTREAM_PYTHON), as in the runtime image
    assert "python.executable" not in conf and svc.env()["FEATURESTREAM_PYTHON"]
    # lib/ holds the wheel's jars, flink-python from opt/, and nothing stale
    names = {p.name for p in svc.lib_dir.iterdir()}
    assert any(n.startswith("flink-dist") for n in names)
    assert any(n.startswith("flink-python") for n in names)


def test_kafka_properties(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "stack:\n  kafka:\n    port: 19092\n    controller_port: 19093\n")
    svc = KafkaService(cfg)
    svc.write_config()
    props = svc.properties.read_text()
    assert "process.roles=broker,controller" in props
    assert "listeners=PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093" in props
    assert str(tmp_path.resolve()) in props


def test_redis_command(tmp_path: Path) -> None:
    cmd = RedisService(_cfg(tmp_path, "stack:\n  redis:\n    port: 16399\n")).command()
    assert "--port" in cmd and "16399" in cmd and "--save" in cmd


def test_unknown_service_rejected(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown service"):
        Stack(_cfg(tmp_path)).up(("zookeeper",))


def test_port_taken_by_stranger_gives_clear_error(tmp_path: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        cfg = _cfg(tmp_path, f"stack:\n  redis:\n    port: {port}\n")
        with pytest.raises(StackError, match=f"port {port}.*already taken"):
            Stack(cfg).up(("redis",))
    finally:
        sock.close()


def test_stop_never_kills_a_foreign_pid(tmp_path: Path) -> None:
    import json
    import os

    proc = ManagedProcess("x", tmp_path)
    proc.pidfile.parent.mkdir(parents=True)
    # our own pid, but with a command line that is not what we recorded: must not be signalled
    proc.pidfile.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "port": 1,
                "cmd": ["nope"],
                "started_at": 0,
                "log": "",
                "marker": "definitely-not-in-cmdline",
            }
        )
    )
    assert proc.pid() is None
    assert proc.stop() is False
