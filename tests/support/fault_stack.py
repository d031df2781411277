"""A private stack the fault tests may kill: Kafka, Redis, Flink and ``featurestream serve`` (two
workers), started by the same stack code as ``featurestream up`` on ports of their own, under
their own state folder, and stopped by pid. Never the shared stack's processes.

Also the two background loads of a fault test: a producer that keeps appending events through a
broker outage (idempotent, in order, every event acknowledged), and a prober that keeps asking
the API for features and records every answer, error and hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from featurestream.client import Client
from featurestream.config import Config, load_config
from featurestream.stack import Stack
from featurestream.stack.process import ManagedProcess, wait_until

__all__ = ["FaultStack", "Feeder", "Prober", "children"]

# FEATURESTREAM_TEST_FAULT_PORTS="kafka,controller,redis,flink_rest,flink_rpc,api" pins the ports
# (e.g. a port block of one's own on a shared machine); unset, free ports are picked.
PORTS_ENV = "FEATURESTREAM_TEST_FAULT_PORTS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """The live direct children of ``pid``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid and stat[0] != "Z":
                    out.append(int(p.name))
    return out


class FaultStack:
    """The fault tests' own Kafka, Redis, Flink and API, under ``work``."""

    def __init__(self, work: Path, src_repo: Path, namespace: str) -> None:
        names = ("kafka", "controller", "redis", "flink_rest", "flink_rpc", "api")
        pinned = os.environ.get(PORTS_ENV, "")
        values = [int(p) for p in pinned.split(",")] if pinned else [_free_port() for _ in names]
        self.ports = dict(zip(names, values, strict=True))
        self.work = work
        shutil.copytree(src_repo / "sql", work / "sql")
        p = self.ports
        cfg: dict[str, Any] = {
            "project": namespace,
            "namespace": namespace,
            "state_dir": str(work / "state"),
            "kafka": {
                "bootstrap_servers": f"localhost:{p['kafka']}",
                "topic_prefix": f"{namespace}.",
                "topics": {"source": {"partitions": 1}},
            },
            "redis": {"url": f"redis://127.0.0.1:{p['redis']}/0"},
            "flink": {
                "rest_url": f"http://localhost:{p['flink_rest']}",
                "checkpoint_interval": "2 s",
                # restarts back off exponentially, capped low so a test waits seconds, not minutes
                "restart_max_backoff": "8 s",
            },
            "offline": {"path": str(work / "offline")},
            "serving": {"port": p["api"], "workers": 2, "deadline_ms": 100},
            "stack": {
                "kafka": {"port": p["kafka"], "controller_port": p["controller"], "partitions": 1, "heap": "384m"},
                "redis": {"port": p["redis"]},
                "redis_cluster": {"enabled": False},
                "flink": {
                    "rest_port": p["flink_rest"],
                    "rpc_port": p["flink_rpc"],
                    "task_slots": 2,
                    "taskmanager_memory": "2048m",
                    "jobmanager_memory": "1024m",
                    "checkpoint_interval": "2s",
                },
            },
        }
        (work / "featurestream.yaml").write_text(yaml.safe_dump(cfg))
        self.config: Config = load_config(work, env={})
        self.stack = Stack(self.config, log=lambda m: print(f"[fault-stack] {m}", flush=True))
        self.api = ManagedProcess("fault-api", self.config.state_path)
        self.api_url = f"http://127.0.0.1:{p['api']}"

    def up(self, beside: Callable[[], Any] | None = None) -> Any:
        """Start Redis, then Kafka and Flink side by side in threads while ``beside`` (e.g.
        ``apply``: PyFlink's planner wants the main thread) runs here; returns what ``beside``
        returned. A failure of any of them is raised here."""
        from concurrent.futures import ThreadPoolExecutor

        self.stack.up(("redis",))
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(self.stack.up, (name,)) for name in ("kafka", "flink")]
            extra = beside() if beside is not None else None
            for f in started:
                f.result()
        return extra

    def start_api(self) -> None:
        exe = str(Path(sys.executable).parent / "featurestream")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTREAM")}
        self.api.start([exe, "-r", str(self.work), "serve"], self.ports["api"], marker=str(self.work), env=env)
        wait_until(self._api_ready, 120, "the fault stack's API", self.api.logfile, alive=self.api.running)

    def _api_ready(self) -> bool:
        import urllib.request

        with urllib.request.urlopen(f"{self.api_url}/healthz", timeout=2) as r:
            return r.status == 200 and len(self.api_workers()) >= self.config.serving.workers

    def api_workers(self) -> list[int]:
        """The uvicorn worker processes (children of the server that run ``multiprocessing``)."""
        pid = self.api.pid() or (self.api._popen.pid if self.api._popen else None)
        if pid is None:
            return []
        out = []
        for c in children(pid):
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ")
                if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                    out.append(c)
        return out

    def down(self) -> None:
        self.api.stop(timeout=10)
        self.stack.down()


@dataclass
class Feeder:
    """Appends ``payloads`` to ``topic`` in order at about ``rate`` events/s in a thread; an
    unreachable broker makes it wait and retry (idempotent producer), never skip an event."""

    bootstrap: str
    topic: str
    payloads: list[bytes]
    rate: float = 100.0
    sent: int = 0
    resends: int = 0
    error: str = ""
    _thread: threading.Thread | None = None

    def start(self) -> Feeder:
        self._thread = threading.Thread(target=self._run, name="fault-feeder", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        from featurestream.generator import _entity_key

        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            retries=1_000_000,
            delivery_timeout_ms=240_000,
            request_timeout_ms=5_000,
            max_block_ms=240_000,
            reconnect_backoff_max_ms=1_000,
            linger_ms=5,
        )
        chunk = 10
        try:
            for i in range(0, len(self.payloads), chunk):
                part = self.payloads[i : i + chunk]
                while True:
                    try:
                        futures = [producer.send(self.topic, p, key=_entity_key(p)) for p in part]
                        producer.flush(timeout=240)
                        for f in futures:
                            f.get(timeout=1)
                        break
                    except KafkaError:  # the chunk again: a copy that did land is a duplicate event id
                        self.resends += 1
                        time.sleep(0.5)
                self.sent = i + len(part)
                time.sleep(chunk / self.rate)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            producer.close(timeout=10)

    def join(self, timeout: float = 300) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the producer is still sending after {timeout:.0f}s ({self.sent} sent)"
        assert not self.error, f"the producer failed: {self.error}"


@dataclass
class Answer:
    at: float
    seconds: float
    ok: bool
    statuses: tuple[str, ...] = ()
    error: str = ""


@dataclass
class Prober:
    """Asks the API for ``features`` of random ``entities`` about ``rate`` times a second (a client
    with a per-attempt timeout and retries on connection errors, as a real caller would); every
    answer is recorded: its status values, or the error / hang that ended it."""

    url: str
    features: list[str]
    entity: str
    entities: list[str]
    rate: float = 10.0
    timeout_s: float = 3.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Prober:
        self._thread = threading.Thread(target=self._run, name="fault-prober", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        rng = random.Random(5)
        client = Client(self.url, timeout=self.timeout_s, retries=2, backoff_s=0.05)
        try:
            while not self._stop.is_set():
                body = {"features": self.features, "entities": {self.entity: rng.sample(self.entities, 3)}}
                t0 = time.monotonic()
                try:
                    out = client.request("POST", "/get-online-features", json=body)
                    statuses = tuple(sorted({s for r in out["results"] for s in r["statuses"]}))
                    self.answers.append(Answer(time.time(), time.monotonic() - t0, True, statuses))
                except Exception as exc:
                    self.answers.append(Answer(time.time(), time.monotonic() - t0, False, error=f"{exc}"[:300]))
                self._stop.wait(1.0 / self.rate)
        finally:
            client.close()

    def since(self, t: float) -> list[Answer]:
        return [a for a in self.answers if a.at >= t]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


def summary(answers: list[Answer]) -> dict[str, Any]:
    """Counts of a prober's answers: total, failed, statuses seen, slowest answer."""
    statuses: dict[str, int] = {}
    for a in answers:
        for s in a.statuses:
            statuses[s] = statuses.get(s, 0) + 1
    return {
        "answers": len(answers),
        "failed": sum(not a.ok for a in answers),
        "statuses": statuses,
        "slowest_s": round(max((a.seconds for a in answers), default=0.0), 3),
        "errors": sorted({a.error for a in answers if not a.ok})[:3],
    }


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, sort_keys=True)
