"""The local Redis Cluster: ``masters`` processes of the same redis/valkey binary, joined in one cluster.

Started on demand (``featurestream up --only redis-cluster``), never by a plain ``up``. Each start
is a fresh cluster: the data directories are emptied, every master gets an equal range of the
16384 slots (``CLUSTER ADDSLOTSRANGE``) and meets the first one (``CLUSTER MEET``), so no
``redis-cli`` is needed. Each master is one :class:`ManagedProcess` (pid file, log, stopped by pid).
"""

from __future__ import annotations

import shutil

import redis

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.process import ManagedProcess, wait_until
from featurestream.stack.redis import redis_binary, server_flags

__all__ = ["SLOTS", "RedisClusterService", "slot_ranges"]

SLOTS = 16384


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` slot ranges, one per master, covering all 16384 slots."""
    edges = [SLOTS * i // masters for i in range(masters + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(masters)]


class RedisClusterService:
    name = "redis-cluster"

    def __init__(self, config: Config) -> None:
        self.cfg = config.stack.redis_cluster
        self.state = config.state_path
        self.ports = [self.cfg.base_port + i for i in range(self.cfg.masters)]
        self.procs = [ManagedProcess(f"{self.name}-{p}", self.state) for p in self.ports]
        self.port = self.ports[0]
        self.url = f"redis+cluster://127.0.0.1:{self.port}"
        self.timeout = config.stack.startup_timeout_s

    def command(self, port: int) -> list[str]:
        data = self.state / "redis-cluster" / str(port)
        return [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            "5000",
            *server_flags(self.cfg.maxmemory, data),
        ]

    def running(self) -> bool:
        return all(p.running() for p in self.procs)

    def pid(self) -> int | None:
        return self.procs[0].pid()

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=1)

    def start(self) -> None:
        """Start every master on an empty data directory and join them into one cluster."""
        self.stop()  # a partial cluster left over is never reused: start clean
        for port, proc in zip(self.ports, self.procs, strict=True):
            data = self.state / "redis-cluster" / str(port)
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            proc.start(self.command(port), port, marker=str(port))
        for port, proc in zip(self.ports, self.procs, strict=True):
            probe = lambda port=port: self._ping(port)  # noqa: E731
            wait_until(probe, self.timeout, f"Redis Cluster node {port}", proc.logfile, alive=proc.running)
        self._create()

    def _ping(self, port: int) -> bool:
        client = self._node(port)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _create(self) -> None:
        for port, (first, last) in zip(self.ports, slot_ranges(len(self.ports)), strict=True):
            client = self._node(port)
            try:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
                if port != self.port:
                    client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.port)
            except redis.ResponseError as exc:
                raise StackError(
                    f"cannot assign slots {first}-{last} to the cluster node on port {port}: {exc}",
                    hint=f"the server {redis_binary()} must support CLUSTER ADDSLOTSRANGE (Redis/Valkey >= 7)",
                ) from exc
            finally:
                client.close()

    def _node_ok(self, port: int) -> bool:
        client = self._node(port)
        try:
            info = client.execute_command("CLUSTER", "INFO")
        finally:
            client.close()
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        return fields.get("cluster_state") == "ok" and fields.get("cluster_known_nodes") == str(len(self.ports))

    def healthy(self) -> bool:
        """Every master answers, knows every other master, and reports ``cluster_state:ok``."""
        return all(self._node_ok(p) for p in self.ports)

    def stop(self) -> bool:
        """Stop every master we started (by pid). True when one was running."""
        stopped = [p.stop() for p in self.procs]
        return any(stopped)
