"""The embedded Flink standalone cluster, started from the apache-flink wheel's own ``bin/``.

We never modify the wheel: the cluster gets its own ``conf/`` (generated config) and ``lib/``
(links to the wheel's jars, ``flink-python`` from ``opt/``, and the Maven-resolved connector
jars) under ``<state>/flink`` via FLINK_CONF_DIR / FLINK_LIB_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.jars import flink_jars
from featurestream.stack.process import ManagedProcess

__all__ = ["FlinkService", "flink_home"]


def flink_home() -> Path:
    try:
        import pyflink
    except ImportError as exc:  # pragma: no cover - apache-flink is a dependency
        raise StackError("apache-flink is not installed", hint="pip install 'apache-flink==2.2.1'") from exc
    return Path(pyflink.__file__).parent


def rest_get(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


class FlinkService:
    name = "flink"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cfg = config.stack.flink
        self.state = config.state_path
        self.home = self.state / "flink"
        self.conf_dir = self.home / "conf"
        self.lib_dir = self.home / "lib"
        self.jobmanager = ManagedProcess("flink-jobmanager", self.state)
        self.taskmanager = ManagedProcess("flink-taskmanager", self.state)
        self.port = self.cfg.rest_port
        self.rest_url = f"http://localhost:{self.port}"

    # ------------------------------------------------------------------ configuration

    def settings(self) -> dict[str, Any]:
        """The generated cluster configuration (flat Flink keys)."""
        c = self.cfg
        python = sys.executable
        ckpt = (self.home / "checkpoints").as_uri()
        savepoints = (self.home / "savepoints").as_uri()
        base = yaml.safe_load((flink_home() / "conf" / "config.yaml").read_text()) or {}
        java_opts = base.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
        return {
            "env.java.opts.all": java_opts,
            "jobmanager.rpc.address": "localhost",
            "jobmanager.rpc.port": c.rpc_port,
            "jobmanager.bind-host": "localhost",
            "jobmanager.memory.process.size": c.jobmanager_memory,
            "jobmanager.execution.failover-strategy": "region",
            "taskmanager.bind-host": "localhost",
            "taskmanager.host": "localhost",
            "taskmanager.numberOfTaskSlots": c.task_slots,
            "taskmanager.memory.process.size": c.taskmanager_memory,
            "taskmanager.memory.managed.fraction": 0.4,
            "parallelism.default": c.parallelism,
            "rest.address": "localhost",
            "rest.bind-address": "localhost",
            "rest.port": c.rest_port,
            "state.backend.type": "rocksdb",
            "execution.checkpointing.incremental": True,
            "execution.checkpointing.dir": ckpt,
            "execution.checkpointing.savepoint-dir": savepoints,
            "execution.checkpointing.num-retained": c.checkpoints_retained,
            "execution.checkpointing.interval": c.checkpoint_interval,
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": 1000,
            "restart-strategy.fixed-delay.delay": "2 s",
            "heartbeat.timeout": 20000,
            # REST metrics (monitoring, benches) refresh every second instead of every 10 s
            "metrics.fetcher.update-interval": 1000,
            "python.executable": python,
            "python.client.executable": python,
            "python.pythonpath": str(self.config.root),
            "classloader.check-leaked-classloader": False,
        }

    def write_config(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "log").mkdir(parents=True, exist_ok=True)
        wheel_conf = flink_home() / "conf"
        for name in (
            "log4j-console.properties",
            "log4j.properties",
            "log4j-cli.properties",
            "logback-console.xml",
            "logback.xml",
        ):
            if (wheel_conf / name).exists():
                shutil.copyfile(wheel_conf / name, self.conf_dir / name)
        with open(self.conf_dir / "config.yaml", "w") as fh:
            yaml.safe_dump(self.settings(), fh, sort_keys=True, width=100_000)
        (self.conf_dir / "masters").write_text(f"localhost:{self.cfg.rest_port}\n")
        (self.conf_dir / "workers").write_text("localhost\n")
        self._link_lib()

    def _link_lib(self) -> None:
        home = flink_home()
        wanted: dict[str, Path] = {p.name: p for p in (home / "lib").glob("*.jar")}
        for p in (home / "opt").glob("flink-python-*.jar"):
            wanted[p.name] = p
        for p in flink_jars(self.config.jars_path):
            wanted[p.name] = p
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        for existing in self.lib_dir.iterdir():
            if existing.name not in wanted or existing.resolve() != wanted[existing.name].resolve():
                existing.unlink()
        for name, target in wanted.items():
            link = self.lib_dir / name
            if not link.exists():
                link.symlink_to(target)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "FLINK_CONF_DIR": str(self.conf_dir),
                "FLINK_LIB_DIR": str(self.lib_dir),
                "FLINK_LOG_DIR": str(self.home / "log"),
                "FLINK_PID_DIR": str(self.home),
                "FLINK_IDENT_STRING": "featurestream",
            }
        )
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "'java' is not on PATH; Flink needs Java 17", hint="apt-get install openjdk-17-jdk-headless"
            )
        return env

    # ------------------------------------------------------------------ lifecycle

    def start_jobmanager(self) -> None:
        self.write_config()
        cmd = ["bash", str(flink_home() / "bin" / "jobmanager.sh"), "start-foreground"]
        self.jobmanager.start(cmd, self.port, marker=str(self.conf_dir), env=self.env())

    def start_taskmanager(self) -> None:
        cmd = ["bash", str(flink_home() / "bin" / "taskmanager.sh"), "start-foreground"]
        self.taskmanager.start(cmd, self.cfg.rpc_port, marker=str(self.conf_dir), env=self.env())

    def overview(self) -> dict[str, Any]:
        return dict(rest_get(f"{self.rest_url}/overview"))

    def healthy(self) -> bool:
        return int(self.overview().get("taskmanagers", 0)) >= 1
