"""Faults on real processes, one at a time, mid-stream: kill -9 the TaskManager, the JobManager,
the Kafka broker, Redis and one API worker while a producer appends events and a prober asks the
API for features.

The processes are the tests' own (``tests/support/fault_stack.py``: the same stack code as
``featurestream up``, other ports, another state folder), shared by every test of this module and
stopped by pid at its end; the shared stack is never touched. The tests run in order on ONE
streaming job (``user_clicks_10m``); each is a phase with its own event-time hour, closed by a
flush event, so after each recovery the whole offline store and Redis must equal the brute-force
reference computed from everything produced so far: 0 rows lost, 0 doubled. The prober's every
request must have been answered (degraded statuses while Redis is away are fine; errors and
hangs are not). Each phase prints what it measured (``[fault] {...}``; run with ``-s``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.definitions import FeatureView
from featurestream.jobs.control import JobManager
from featurestream.naming import job_name, source_topic
from featurestream.online.keys import GENERATION_KEY
from featurestream.stack.process import ManagedProcess
from tests.support import clicks_reference as clicks
from tests.support.fault_stack import FaultStack, Feeder, Prober, dumps, summary
from tests.support.pipeline import wait_for

# Each test includes a kill and a full recovery (the first also starts the private stack): on a
# loaded 2-core machine that takes minutes, not the default 10.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
PHASE = timedelta(hours=3)  # each phase's events live in their own 3 hours of event time
EVENTS = 900
USERS = [f"u{i}" for i in range(60)]


@dataclass
class Scenario:
    fs: FaultStack
    view: FeatureView
    jm: JobManager
    job_id: str
    prober: Prober
    produced: list[bytes] = field(default_factory=list)
    phases: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return source_topic(self.fs.config.kafka, "clicks")

    def completed(self) -> int:
        try:
            return int(self.jm.flink.checkpoints(self.job_id)["counts"]["completed"])
        except Exception:
            return -1

    def wait_checkpoints(self, n: int, timeout: float) -> None:
        start = self.completed()
        wait_for(lambda: self.completed() >= max(start, 0) + n, timeout, f"{n} more checkpoint(s)", interval=0.5)

    def phase(self, fault: str, kill: Callable[[], object], recover: Callable[[], object]) -> dict[str, Any]:
        """Produce one phase of events, kill mid-stream, recover, flush, and compare both stores
        with the reference of everything produced; returns what was measured."""
        k = self.phases
        self.phases += 1
        begin = START + k * PHASE
        batch = generator.clicks(
            EVENTS, begin, 40 * 60, n_keys=len(USERS), id_prefix=f"p{k}-", seed=400 + k, disorder_ms=2000
        )
        flush_t = int((begin + timedelta(hours=1)).timestamp() * 1000)
        payloads = [*batch.payloads, clicks.flush(flush_t, event_id=f"flush-{k}")]
        t_phase = time.time()
        feeder = Feeder(self.fs.config.kafka.bootstrap_servers, self.topic, payloads, rate=40).start()
        wait_for(lambda: feeder.sent >= len(payloads) // 3, 120, "a third of the phase produced", interval=0.1)
        # a checkpoint holding part of this phase: the restore after the kill is from real state
        self.wait_checkpoints(1, 240)
        producing = feeder.sent < len(payloads)
        t_kill = time.monotonic()
        kill()
        recover()
        t_back = time.monotonic() - t_kill
        self.wait_checkpoints(1, 240)  # the job runs again and has committed a checkpoint
        t_recovered = time.monotonic() - t_kill
        feeder.join()
        self.produced += payloads
        want = clicks.expected(self.produced, flush_t)
        wait_for(lambda: len(clicks.offline(self.fs.config, self.view)) >= len(want), 240, f"{len(want)} offline rows")
        self.wait_checkpoints(2, 120)  # duplicates, if any, would be committed by now
        got = clicks.offline(self.fs.config, self.view)
        keys = [key for key, _ in got]
        online = clicks.online(self.fs.config.redis.url, self.view)
        latest = clicks.ref.latest_per_key(want)
        answers = self.prober.since(t_phase)
        result: dict[str, Any] = {
            "fault": fault,
            "restarted_s": round(t_back, 1),
            "recovered_s": round(t_recovered, 1),
            "produced": len(self.produced),
            "producer_resends": feeder.resends,
            "producing_at_kill": producing,
            "offline_rows": len(keys),
            "expected_rows": len(want),
            "lost": len(set(want) - set(keys)),
            "doubled": len(keys) - len(set(keys)),
            "unexpected": len(set(keys) - set(want)),
            "online_lost": len(set(latest) - set(online)),
            "online_stale": sum(1 for e, (end, _) in latest.items() if e in online and online[e]["_ft"] != end),
            "api": summary(answers),
        }
        print(f"[fault] {dumps(result)}", flush=True)
        self.results.append(result)
        clicks.assert_offline_equals(self.fs.config, self.view, want)
        clicks.assert_online_equals(self.fs.config.redis.url, self.view, want)
        assert result["api"]["failed"] == 0, f"the API failed requests during the {fault} fault: {result['api']}"
        return result


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    fs = FaultStack(tmp_path_factory.mktemp("faults"), REPO, namespace=f"fault{os.getpid()}")
    prober: Prober | None = None
    jm: JobManager | None = None
    try:
        applied = fs.up(beside=lambda: apply(fs.config))  # Flink's planner validates while the stack starts
        view = next(v for v in applied.new_views if v.name == "user_clicks_10m")
        jm = JobManager(fs.config)
        job_id, _ = jm.submit(view)
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=240)
        fs.start_api()
        features = [f"user_clicks_10m:{f}" for f in clicks.AGGS]
        prober = Prober(fs.api_url, features, "user_id", USERS).start()
        sc = Scenario(fs, view, jm, job_id, prober)
        yield sc
        print(f"[fault] all phases: {dumps({'phases': sc.results, 'api': summary(prober.answers)})}", flush=True)
    finally:
        if prober is not None:
            prober.stop()
        fs.down()


def _kill(proc: ManagedProcess) -> None:
    pid = proc.pid()
    assert pid is not None, f"{proc.name} is not running"
    os.killpg(pid, signal.SIGKILL)  # the process group: a TaskManager's Python workers die with it
    wait_for(lambda: not proc.running(), 30, f"{proc.name} to die", interval=0.1)
    proc._popen = None  # a handle from our own start: forget it, the pid file decides from here


def test_taskmanager_killed(scenario: Scenario) -> None:
    flink = scenario.fs.stack.flink
    scenario.phase("taskmanager", lambda: _kill(flink.taskmanager), lambda: scenario.fs.stack.up(("flink",)))
    assert scenario.jm.flink.checkpoints(scenario.job_id)["counts"]["restored"] >= 1


def test_jobmanager_killed_resumes_from_the_retained_checkpoint(scenario: Scenario) -> None:
    flink = scenario.fs.stack.flink
    old = scenario.job_id
    name = job_name(scenario.view)

    def recover() -> None:
        scenario.fs.stack.up(("flink",))  # a new JobManager: it knows no job
        assert name not in scenario.jm.running()
        scenario.job_id, submitted = scenario.jm.submit(scenario.view)
        assert submitted and scenario.job_id != old
        scenario.jm.flink.wait_for_state(scenario.job_id, ("RUNNING",), timeout=240)

    scenario.phase("jobmanager", lambda: _kill(flink.jobmanager), recover)
    point = scenario.jm.restored_from[name]
    assert point is not None and point.kind == "checkpoint", "the job started from empty state"
    assert f"/{old}/chk-" in point.path, point.path
    restored = scenario.jm.flink.checkpoints(scenario.job_id)["latest"]["restored"]
    assert restored is not None and restored["external_path"].rstrip("/").endswith(point.path.rstrip("/"))


def test_kafka_broker_killed(scenario: Scenario) -> None:
    kafka = scenario.fs.stack.kafka

    def recover() -> None:
        time.sleep(3)  # the broker stays away while the producer and the job try to reach it
        scenario.fs.stack.up(("kafka",))

    scenario.phase("kafka", lambda: _kill(kafka.proc), recover)


def test_redis_killed(scenario: Scenario) -> None:
    redis_svc = scenario.fs.stack.redis
    t0 = time.time()

    def recover() -> None:
        time.sleep(3)  # Redis stays away while the job writes and the API reads
        scenario.fs.stack.up(("redis",))

    result = scenario.phase("redis", lambda: _kill(redis_svc.proc), recover)
    # Feast's status of a value served as its default because Redis was away (UNAVAILABLE natively)
    away = [a for a in scenario.prober.since(t0) if "INVALID" in a.statuses]
    assert away, f"no degraded answer while Redis was away: {result['api']}"
    import httpx
    import redis

    client = redis.Redis.from_url(scenario.fs.config.redis.url)
    try:
        assert client.exists(GENERATION_KEY), "the online store's generation marker did not survive the restart"
    finally:
        client.close()
    ready = httpx.get(f"{scenario.fs.api_url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["online_store"] == "ok", ready.text


def test_api_worker_killed(scenario: Scenario) -> None:
    fs = scenario.fs
    before: list[int] = []

    def kill() -> None:
        before[:] = fs.api_workers()
        assert len(before) == 2, f"expected 2 API workers, found {before}"
        os.kill(before[0], signal.SIGKILL)

    def recover() -> None:
        wait_for(lambda: len(fs.api_workers()) == 2 and before[0] not in fs.api_workers(), 60, "a new API worker", 0.2)

    scenario.phase("api worker", kill, recover)
