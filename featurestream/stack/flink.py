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

from featurestream import entrypoints
from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.secrets import REDIS_PASSWORD_ENV, split_password
from featurestream.stack.jars import flink_jars, flink_plugins
from featurestream.stack.process import ManagedProcess

__all__ = ["FlinkService", "client_env", "flink_home", "local_checkpoints_dir"]


def flink_home() -> Path:
    try:
        import pyflink
    except ImportError as exc:  # pragma: no cover - apache-flink is a dependency
        raise StackError("apache-flink is not installed", hint="pip install 'featurestream[stream]'") from exc
    return Path(pyflink.__file__).parent


def local_checkpoints_dir(config: Config) -> Path:
    """The local cluster's checkpoint folder (``<state>/flink/checkpoints``; each job's under its id)."""
    return config.state_path / "flink" / "checkpoints"


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
        self.plugins_dir = self.home / "plugins"
        self.jobmanager = ManagedProcess("flink-jobmanager", self.state)
        self.taskmanagers = [
            ManagedProcess("flink-taskmanager" if i == 0 else f"flink-taskmanager-{i + 1}", self.state)
            for i in range(self.cfg.taskmanagers)
        ]
        self.taskmanager = self.taskmanagers[0]
        self.port = self.cfg.rest_port
        self.rest_url = f"http://localhost:{self.port}"

    # ------------------------------------------------------------------ configuration

    def settings(self) -> dict[str, Any]:
        """The generated cluster configuration (flat Flink keys)."""
        c = self.cfg
        ckpt = local_checkpoints_dir(self.config).as_uri()
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
            **self.config.flink.restart_strategy(),
            "heartbeat.timeout": 20000,
            # REST metrics (monitoring, benches) refresh every second instead of every 10 s
            "metrics.fetcher.update-interval": 1000,
            # python.executable / python.client.executable: set by the entrypoint script from
            # FEATURESTREAM_PYTHON (env()), as in the runtime image
            "classloader.check-leaked-classloader": False,
            **self._s3_settings(),
        }

    def _s3_settings(self) -> dict[str, Any]:
        """Flink's S3 filesystem plugin settings for ``s3://`` checkpoints, savepoints and sinks
        (credentials come from the processes' environment, never from this file)."""
        s3 = self.config.s3
        if not s3.endpoint:
            return {}
        return {
            "s3.endpoint": s3.endpoint,
            "s3.path.style.access": s3.path_style_access,
            "s3.endpoint.region": s3.region,
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
        _link_jars(self.config.jars_path, self.lib_dir, self.plugins_dir)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "FLINK_CONF_DIR": str(self.conf_dir),
                "FLINK_LIB_DIR": str(self.lib_dir),
                "FLINK_PLUGINS_DIR": str(self.plugins_dir),
                "FLINK_LOG_DIR": str(self.home / "log"),
                "FLINK_PID_DIR": str(self.home),
                "FLINK_IDENT_STRING": "featurestream",
                # the cluster's own Python runtime; the feature repo is never on its path: jobs carry
                # their SQL in the spec and import only the installed featurestream package
                "FEATURESTREAM_PYTHON": self.python,
                "FLINK_HOME": str(flink_home()),
            }
        )
        env.pop("PYTHONPATH", None)  # nothing of the submitting checkout leaks into the cluster
        for var in ("FLINK_PROPERTIES", "JOB_MANAGER_RPC_ADDRESS"):  # container settings the entrypoint reads
            env.pop(var, None)
        _, password = split_password(self.config.redis.url)
        if password:  # job specs carry no password: the online sink reads it from here (featurestream.secrets)
            env[REDIS_PASSWORD_ENV] = password
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "'java' is not on PATH; Flink needs Java 17", hint="apt-get install openjdk-17-jdk-headless"
            )
        return env

    @property
    def python(self) -> str:
        """The Python the cluster runs jobs' functions with (``stack.flink.python``, else this one)."""
        return self.cfg.python or sys.executable

    # ------------------------------------------------------------------ lifecycle

    def command(self, role: str) -> list[str]:
        """How a JobManager or TaskManager of this cluster starts: the entrypoint script the runtime
        image runs (featurestream/entrypoints/flink.sh), with the wheel as FLINK_HOME."""
        return ["bash", str(entrypoints.script("flink")), role]

    def start_jobmanager(self) -> None:
        self.write_config()
        cmd = self.command("jobmanager")
        self.jobmanager.start(cmd, self.port, marker=str(self.conf_dir), env=self.env(), cwd=self.home)

    def start_taskmanager(self, index: int = 0) -> None:
        """Start TaskManager ``index`` (its own log and pid file; the cluster's folder as cwd)."""
        cmd = self.command("taskmanager")
        env = self.env()
        env["FLINK_IDENT_STRING"] = f"featurestream-tm{index + 1}"
        self.taskmanagers[index].start(cmd, self.cfg.rpc_port, marker=str(self.conf_dir), env=env, cwd=self.home)

    def overview(self) -> dict[str, Any]:
        return dict(rest_get(f"{self.rest_url}/overview"))

    def healthy(self) -> bool:
        return int(self.overview().get("taskmanagers", 0)) >= len(self.taskmanagers)


def _link_jars(jars_dir: Path, lib: Path, plugins: Path) -> None:
    """Fill a ``lib/`` (the wheel's jars, ``flink-python`` from ``opt/``, the Maven-resolved
    connectors) and a ``plugins/`` folder (the S3 filesystem) with links; the wheel is untouched."""
    home = flink_home()
    wanted: dict[str, Path] = {p.name: p for p in (home / "lib").glob("*.jar")}
    for p in (home / "opt").glob("flink-python-*.jar"):
        wanted[p.name] = p
    for p in flink_jars(jars_dir):
        wanted[p.name] = p
    _sync_links(lib, wanted)
    found = flink_plugins(jars_dir)
    _sync_links(plugins, {p.name: p for p in found.iterdir()} if found.is_dir() else {})


def _sync_links(folder: Path, wanted: dict[str, Path]) -> None:
    """Make ``folder`` hold exactly one symlink per ``wanted`` entry (stale links removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for existing in folder.iterdir():
        if existing.name not in wanted or existing.resolve() != wanted[existing.name].resolve():
            existing.unlink()
    for name, target in wanted.items():
        link = folder / name
        if not link.exists():
            link.symlink_to(target)


def client_env(config: Config, rest_url: str) -> dict[str, str]:
    """The environment of the ``flink run`` client that submits a job to ``rest_url``: its own
    configuration folder (only the REST address), Flink's jars plus the connectors for planning,
    and the submitting Python for the driver. Nothing of the local cluster's configuration (its
    Python, paths or state folders) is read, so none of it can end up in the job's configuration;
    the job carries its SQL in its spec and runs with the cluster's own runtime."""
    from urllib.parse import urlparse

    home = config.state_path / "flink-client"
    conf, lib, plugins, log = home / "conf", home / "lib", home / "plugins", home / "log"
    for d in (conf, log):
        d.mkdir(parents=True, exist_ok=True)
    wheel_conf = flink_home() / "conf"
    for name in ("log4j-cli.properties", "logback.xml"):
        if (wheel_conf / name).exists():
            shutil.copyfile(wheel_conf / name, conf / name)
    url = urlparse(rest_url)
    settings = {"rest.address": url.hostname or "localhost", "rest.port": url.port or 8081}
    base = yaml.safe_load((wheel_conf / "config.yaml").read_text()) or {}
    java_opts = base.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
    if java_opts:
        settings["env.java.opts.all"] = java_opts
    with open(conf / "config.yaml", "w") as fh:
        yaml.safe_dump(settings, fh, sort_keys=True, width=100_000)
    _link_jars(config.jars_path, lib, plugins)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLINK_") and k != "PYTHONPATH"}
    env.update(
        {
            "FLINK_CONF_DIR": str(conf),
            "FLINK_LIB_DIR": str(lib),
            "FLINK_PLUGINS_DIR": str(plugins),
            "FLINK_LOG_DIR": str(log),
            "PYFLINK_CLIENT_EXECUTABLE": sys.executable,
        }
    )
    return env
