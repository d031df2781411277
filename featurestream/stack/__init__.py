"""The embedded local stack: Kafka (KRaft), Redis/Valkey and a Flink standalone cluster.

``Stack(config).up()`` is idempotent: running services are reused, missing ones started, and
each is waited on until it really answers (broker metadata, PING, REST /overview with a
TaskManager). ``down()`` stops only the processes recorded in our pid files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.flink import FlinkService
from featurestream.stack.jars import ensure_format_jar, ensure_jars
from featurestream.stack.kafka import KafkaService
from featurestream.stack.process import ManagedProcess, port_open, wait_until
from featurestream.stack.redis import RedisService
from featurestream.stack.redis_cluster import RedisClusterService

__all__ = ["ON_DEMAND", "SERVICES", "ServiceStatus", "Stack"]

SERVICES = ("kafka", "redis", "flink")
# Started only when named (``up --only redis-cluster``); a plain ``down`` stops them too.
ON_DEMAND = ("redis-cluster",)


@dataclass
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    healthy: bool
    address: str
    started: bool = False  # started by this call (False: was already running or is stopped)
    seconds: float = 0.0  # start-up time when started by this call
    rss_mb: float = 0.0


def _rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Stack:
    def __init__(self, config: Config, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.log = log or (lambda msg: None)
        self.kafka = KafkaService(config)
        self.redis = RedisService(config)
        self.redis_cluster = RedisClusterService(config)
        self.flink = FlinkService(config)

    def enabled(self, services: tuple[str, ...] | None) -> tuple[str, ...]:
        wanted = services or SERVICES
        known = SERVICES + ON_DEMAND
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise StackError(f"unknown service(s) {unknown}", hint=f"choose from {', '.join(known)}")
        on = {
            "kafka": self.config.stack.kafka.enabled,
            "redis": self.config.stack.redis.enabled,
            "redis-cluster": self.config.stack.redis_cluster.enabled,
            "flink": self.config.stack.flink.enabled,
        }
        return tuple(s for s in known if s in wanted and on[s])

    # ------------------------------------------------------------------ up

    def setup(self, on_download: Callable[[int, int], None] | None = None) -> bool:
        """Resolve the jars and build featurestream's own (no-ops when present). True when it did work.
        ``on_download(files, bytes)`` follows Maven's downloads (running totals)."""
        resolved = ensure_jars(self.config.jars_path, quiet=False, on_download=on_download)
        built = ensure_format_jar(self.config.jars_path, quiet=False)
        return resolved or built

    def _claim_port(self, proc: ManagedProcess, port: int, what: str, setting: str) -> None:
        if not proc.running() and port_open(port):
            raise StackError(
                f"port {port} for {what} is already taken by a process featurestream did not start",
                hint=f"stop that process, or choose another port with {setting} in featurestream.yaml",
            )

    def up(self, services: tuple[str, ...] | None = None) -> list[ServiceStatus]:
        wanted = self.enabled(services)
        timeout = self.config.stack.startup_timeout_s
        if "kafka" in wanted or "flink" in wanted:
            self.setup()
        out: list[ServiceStatus] = []
        if "redis" in wanted:
            out.append(
                self._up_one(
                    self.redis.proc,
                    self.redis.port,
                    "Redis",
                    "stack.redis.port",
                    self.redis.start,
                    self.redis.healthy,
                    self.redis.url,
                    timeout,
                )
            )
        if "redis-cluster" in wanted:
            out.append(self._up_redis_cluster(timeout))
        if "kafka" in wanted:
            if self.config.stack.kafka.sasl_port:
                self._claim_port(
                    self.kafka.proc,
                    self.config.stack.kafka.sasl_port,
                    "the Kafka SASL listener",
                    "stack.kafka.sasl_port",
                )
            out.append(
                self._up_one(
                    self.kafka.proc,
                    self.kafka.port,
                    "Kafka",
                    "stack.kafka.port",
                    self.kafka.start,
                    self.kafka.healthy,
                    self.kafka.bootstrap,
                    timeout,
                )
            )
            self.kafka.check_sasl()  # the SASL listener is up and its SCRAM users are current
            if self.config.stack.kafka.sasl_port:
                users = len(self.config.stack.kafka.sasl_users)
                self.log(
                    f"{'kafka (SASL)':<18} SASL_PLAINTEXT at localhost:{self.config.stack.kafka.sasl_port} "
                    f"(PLAIN, SCRAM-SHA-256; {users} user{'s' if users != 1 else ''})"
                )
        if "flink" in wanted:
            out.append(self._up_flink(timeout))
        return out

    def _up_one(
        self,
        proc: ManagedProcess,
        port: int,
        what: str,
        setting: str,
        start: Callable[[], None],
        healthy: Callable[[], bool],
        address: str,
        timeout: float,
    ) -> ServiceStatus:
        name = proc.name
        if proc.running():
            wait_until(healthy, timeout, what, proc.logfile, alive=proc.running)
            self.log(f"{name:<18} already running (pid {proc.pid()}) at {address}")
            return ServiceStatus(name, proc.pid(), port, True, address, rss_mb=_rss_mb(proc.pid()))
        self._claim_port(proc, port, what, setting)
        t0 = time.monotonic()
        self.log(f"{name:<18} starting ...")
        start()
        wait_until(healthy, timeout, what, proc.logfile, alive=proc.running)
        secs = time.monotonic() - t0
        pid = proc.pid()
        self.log(f"{name:<18} healthy in {secs:.1f}s (pid {pid}) at {address}")
        return ServiceStatus(name, pid, port, True, address, started=True, seconds=secs, rss_mb=_rss_mb(pid))

    def _up_redis_cluster(self, timeout: float) -> ServiceStatus:
        rc = self.redis_cluster
        if rc.running():
            wait_until(rc.healthy, timeout, "the Redis Cluster", rc.procs[0].logfile, alive=rc.running)
            self.log(f"{rc.name:<18} already running (pid {rc.pid()}) at {rc.url}")
            return ServiceStatus(rc.name, rc.pid(), rc.port, True, rc.url, rss_mb=_rss_mb(rc.pid()))
        for proc, port in zip(rc.procs, rc.ports, strict=True):
            if not proc.running():
                self._claim_port(proc, port, "a Redis Cluster node", "stack.redis_cluster.base_port")
                self._claim_port(proc, port + 10000, "a Redis Cluster bus", "stack.redis_cluster.base_port")
        t0 = time.monotonic()
        self.log(f"{rc.name:<18} starting {len(rc.ports)} masters on ports {rc.ports} ...")
        rc.start()
        wait_until(rc.healthy, timeout, "the Redis Cluster", rc.procs[0].logfile, alive=rc.running)
        secs = time.monotonic() - t0
        rss = sum(_rss_mb(p.pid()) for p in rc.procs)
        self.log(f"{rc.name:<18} healthy in {secs:.1f}s (pids {[p.pid() for p in rc.procs]}) at {rc.url}")
        return ServiceStatus(rc.name, rc.pid(), rc.port, True, rc.url, started=True, seconds=secs, rss_mb=rss)

    def _up_flink(self, timeout: float) -> ServiceStatus:
        f = self.flink
        t0 = time.monotonic()
        started = False
        if not f.jobmanager.running():
            self._claim_port(f.jobmanager, f.port, "the Flink REST API", "stack.flink.rest_port")
            self._claim_port(f.jobmanager, f.cfg.rpc_port, "Flink RPC", "stack.flink.rpc_port")
            self.log("flink-jobmanager   starting ...")
            f.start_jobmanager()
            started = True
        wait_until(
            lambda: "taskmanagers" in f.overview(),
            timeout,
            "the Flink JobManager",
            f.jobmanager.logfile,
            alive=f.jobmanager.running,
        )
        for i, tm in enumerate(f.taskmanagers):
            if not tm.running():
                self.log(f"{tm.name:<18} starting ...")
                f.start_taskmanager(i)
                started = True
        wait_until(
            f.healthy,
            timeout,
            f"the Flink TaskManagers ({len(f.taskmanagers)})",
            f.taskmanager.logfile,
            alive=lambda: all(tm.running() for tm in f.taskmanagers),
        )
        secs = time.monotonic() - t0
        pid = f.jobmanager.pid()
        tm_pids = [tm.pid() for tm in f.taskmanagers]
        rss = _rss_mb(pid) + sum(_rss_mb(p) for p in tm_pids)
        msg = f"healthy in {secs:.1f}s" if started else "already running"
        self.log(f"{'flink':<18} {msg} (pids {pid}, {', '.join(str(p) for p in tm_pids)}) at {f.rest_url}")
        return ServiceStatus(
            "flink", pid, f.port, True, f.rest_url, started=started, seconds=secs if started else 0.0, rss_mb=rss
        )

    # ------------------------------------------------------------------ down / status

    def down(self, services: tuple[str, ...] | None = None) -> list[str]:
        """Stop our processes (Flink first, then Kafka, then Redis). Returns what was stopped."""
        wanted = services or SERVICES + ON_DEMAND
        stopped: list[str] = []
        order: list[ManagedProcess] = []
        if "flink" in wanted:
            order += [*self.flink.taskmanagers, self.flink.jobmanager]
        if "kafka" in wanted:
            order.append(self.kafka.proc)
        if "redis" in wanted:
            order.append(self.redis.proc)
        if "redis-cluster" in wanted:
            order += self.redis_cluster.procs
        for proc in order:
            pid = proc.pid()
            if proc.stop():
                stopped.append(proc.name)
                self.log(f"{proc.name:<18} stopped (pid {pid})")
        return stopped

    def status(self) -> list[ServiceStatus]:
        out = []
        for proc, port, address, probe in (
            (self.kafka.proc, self.kafka.port, self.kafka.bootstrap, self.kafka.healthy),
            (self.redis.proc, self.redis.port, self.redis.url, self.redis.healthy),
            (self.flink.jobmanager, self.flink.port, self.flink.rest_url, self.flink.healthy),
            *(
                (tm, self.flink.cfg.rpc_port, "(registers with the JobManager)", self.flink.healthy)
                for tm in self.flink.taskmanagers
            ),
        ):
            pid = proc.pid()
            ok = False
            if pid is not None:
                try:
                    ok = bool(probe())
                except Exception:
                    ok = False
            out.append(ServiceStatus(proc.name, pid, port, ok, address, rss_mb=_rss_mb(pid)))
        rc = self.redis_cluster
        for proc, port in zip(rc.procs, rc.ports, strict=True):  # on demand: listed only when running
            pid = proc.pid()
            if pid is not None:
                ok = False
                try:
                    ok = rc.healthy()
                except Exception:
                    ok = False
                out.append(ServiceStatus(proc.name, pid, port, ok, rc.url, rss_mb=_rss_mb(pid)))
        return out
