"""A job runs on a Flink cluster it does not own, and survives the loss of a TaskManager there.

The second cluster (a JobManager and TWO TaskManagers) runs from its own folder outside the
checkout, with its own copy of the featurestream runtime (a wheel in a fresh virtualenv), and has
no feature repo on any path. Checkpoints, savepoints and the offline store go to an S3-compatible
store (moto): the job's Flink filesystem sink writes ``s3://<bucket>/offline`` through the S3
plugin, and the offline rows and a training set are read back from there through pyarrow. The
source topic has 4 partitions and the job runs with parallelism 2. The job is submitted through
the cluster's REST endpoint (``flink.rest_url``) only, and its configuration names no path of the
submitting machine. Kafka is reached only through the broker's SASL listener (the password from
the environment, never in the job's configuration) and online rows go to the 3-master Redis
Cluster. After a TaskManager is killed mid-stream, the job restores from its S3 checkpoint and
the offline and online rows equal the brute-force reference: nothing lost, nothing doubled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.config import Config, FlinkStackConfig, S3Config, StackConfig
from featurestream.jobs.control import JobManager
from featurestream.kafka_props import client_kwargs
from featurestream.naming import source_topic
from featurestream.offline import build_training_set
from featurestream.stack import Stack
from tests.support import clicks_reference as clicks
from tests.support import window_reference as ref
from tests.support.pipeline import isolated_repo, wait_for
from tests.support.remote_cluster import CHECKOUT, MotoS3, runtime_python

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
BUCKET = "featurestream-it"
PARTITIONS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_paths(pid: int) -> tuple[str, str]:
    """(cwd, PYTHONPATH) of a live process."""
    cwd = os.readlink(f"/proc/{pid}/cwd")
    env = dict(kv.split("=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in kv)
    return cwd, env.get("PYTHONPATH", "")


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out += [int(p.name), *_descendants(int(p.name))]
    return out


@pytest.fixture
def s3(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "featurestream-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "featurestream-test-secret")
    store = MotoS3(tmp_path_factory.mktemp("moto"), _free_port())
    store.start()
    store.client().create_bucket(Bucket=BUCKET)
    yield store
    store.stop()


JAAS = (
    'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="${{KAFKA_PASSWORD}}";'
)


def test_job_carries_its_code_to_a_cluster_it_does_not_own_and_recovers_from_s3(  # type: ignore[no-untyped-def]
    stack,
    s3: MotoS3,
    redis_cluster_url: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path_factory.mktemp("remote-cluster")
    python = runtime_python(work)
    cluster_state = work / "state"
    cluster_state.mkdir()
    rest_port = _free_port()
    ccfg = Config(
        root=work,
        state_dir=str(cluster_state),
        stack=StackConfig(
            flink=FlinkStackConfig(
                rest_port=rest_port,
                rpc_port=_free_port(),
                taskmanagers=2,
                task_slots=1,  # one slot each: the parallel-2 job runs on both TaskManagers
                jobmanager_memory="1024m",
                taskmanager_memory="1536m",
                python=str(python),
            )
        ),
        s3=S3Config(endpoint=s3.endpoint, path_style_access=True),
    )
    cluster = Stack(ccfg, log=lambda m: print(f"[cluster2] {m}", flush=True))
    cluster.up(("flink",))
    repo = tmp_path / "repo"
    # Kafka only through the broker's SASL listener, the password from the environment
    sasl = stack.config.stack.kafka
    user, password = next(iter(sasl.sasl_users.items()))
    monkeypatch.setenv("KAFKA_PASSWORD", password.get_secret_value())
    tag = f"rc{os.getpid()}"
    cfg = isolated_repo(
        CHECKOUT,
        repo,
        stack.config,
        name=tag,
        partitions=PARTITIONS,
        env={"KAFKA_PASSWORD": password.get_secret_value()},
        extra={
            "kafka": {
                "bootstrap_servers": f"localhost:{sasl.sasl_port}",
                "topic_prefix": f"{tag}.",
                "topics": {"source": {"partitions": PARTITIONS}},
                "properties": {
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "PLAIN",
                    "sasl.jaas.config": JAAS.format(user=user),
                },
            },
            "redis": {"url": redis_cluster_url},
            "flink": {
                "rest_url": f"http://localhost:{rest_port}",
                "parallelism": 2,
                "python_executable": str(python),  # the cluster's runtime (a path in its image)
                "checkpoint_interval": "2 s",
                "checkpoints_dir": f"s3://{BUCKET}/checkpoints",
                "savepoints_dir": f"s3://{BUCKET}/savepoints",
            },
            "offline": {"path": f"s3://{BUCKET}/offline"},
            "s3": {"endpoint": s3.endpoint, "path_style_access": True},
        },
    )
    jm = JobManager(cfg)
    job_id = ""
    try:
        # the cluster's processes: their own folder, nothing of the checkout or the repo on a path
        for tm in cluster.flink.taskmanagers:
            pid = tm.pid()
            assert pid is not None
            cwd, pythonpath = _proc_paths(pid)
            assert cwd == str(cluster.flink.home)
            assert str(CHECKOUT) not in pythonpath and str(repo) not in pythonpath

        view = next(v for v in apply(cfg).new_views if v.name == "user_clicks_10m")
        job_id, _ = jm.submit(view)
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        job = jm.flink._request("GET", f"/jobs/{job_id}")
        assert max(v["parallelism"] for v in job["vertices"]) == 2

        # the submitted job's configuration names no path of the submitting machine
        job_conf = jm.flink._request("GET", f"/jobs/{job_id}/jobmanager/config")
        user_conf = jm.flink._request("GET", f"/jobs/{job_id}/config")
        text = json.dumps([job_conf, user_conf])
        assert "file:" not in json.dumps(user_conf), "the job's own configuration names a local file"
        for local in {str(CHECKOUT), str(repo), sys.prefix, sys.executable, str(stack.config.state_path)}:
            assert local not in text, f"the job's configuration names {local}"

        assert password.get_secret_value() not in text, "the job's configuration holds the Kafka password"

        bootstrap = cfg.kafka.bootstrap_servers
        props = dict(cfg.kafka.properties)
        topic = source_topic(cfg.kafka, "clicks")
        first = generator.clicks(3000, START, 2 * 3600, n_keys=80, id_prefix="a-", seed=31)
        list(generator.produce(bootstrap, topic, first.payloads, properties=props))
        wait_for(lambda: len(clicks.online(cfg.redis.url, view)) > 10, 240, "rows before the crash")
        completed = jm.flink.checkpoints(job_id)["counts"]["completed"]
        wait_for(lambda: jm.flink.checkpoints(job_id)["counts"]["completed"] > completed, 90, "a checkpoint")
        latest_ckpt = jm.flink.checkpoints(job_id)["latest"]["completed"]["external_path"]
        assert latest_ckpt.startswith(f"s3://{BUCKET}/checkpoints/"), latest_ckpt
        assert s3.keys(BUCKET, "checkpoints/"), "no checkpoint object in S3"

        second = generator.clicks(1500, START + timedelta(hours=2), 3600, n_keys=80, id_prefix="b-", seed=32)
        list(generator.produce(bootstrap, topic, second.payloads[: len(second.payloads) // 2], properties=props))
        time.sleep(1.5)
        victim = cluster.flink.taskmanagers[1]
        pid = victim.pid()
        assert pid is not None
        workers = _descendants(pid)
        for w in workers:  # the Python workers run the cluster's runtime, not the checkout
            with contextlib.suppress(OSError):
                cwd, pythonpath = _proc_paths(w)
                assert str(CHECKOUT) not in pythonpath and str(repo) not in pythonpath
        t_kill = time.monotonic()
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not victim.running(), 30, "the TaskManager to die", interval=0.2)
        cluster.up(("flink",))  # a fresh TaskManager; the job restores from its S3 checkpoint

        rest = second.payloads[len(second.payloads) // 2 :]
        list(generator.produce(bootstrap, topic, rest, properties=props))
        flush_t = int((START + timedelta(days=2)).timestamp() * 1000)
        _send_to_every_partition(bootstrap, props, topic, clicks.flush(flush_t))
        expected = clicks.expected(first.payloads + second.payloads + [clicks.flush(flush_t)], flush_t)

        wait_for(
            lambda: len(clicks.offline(cfg, view)) >= len(expected), 300, f"{len(expected)} offline rows after recovery"
        )
        recovered_s = time.monotonic() - t_kill
        time.sleep(5)  # one more checkpoint: duplicates, if any, would show up now
        clicks.assert_offline_equals(cfg, view, expected)
        assert jm.flink.checkpoints(job_id)["counts"]["restored"] >= 1
        offline_keys = s3.keys(BUCKET, f"offline/{cfg.namespace}/user_clicks_10m/v1/")
        assert any("/date=" in k for k in offline_keys), "the job wrote no offline object to S3"
        clicks.assert_online_equals(cfg.redis.url, view, expected)  # read across the cluster's masters
        latest = ref.latest_per_key(expected)

        # a training set built from the S3 offline store sees the latest row of each entity
        entities = sorted(latest)
        labels = pd.DataFrame(
            {
                "user_id": entities,
                "event_timestamp": [datetime.fromtimestamp(latest[e][0] / 1000, UTC) for e in entities],
            }
        )
        train = build_training_set(
            cfg, labels, features=[f"{view.name}:{f}" for f in clicks.AGGS], views=[view]
        ).to_pandas()
        for i, entity in enumerate(entities):
            for f in clicks.AGGS:
                assert clicks.close(train[f][i], latest[entity][1][f]), f"training set {entity} {f}"
        print(
            f"[cluster2] {len(expected)} offline rows (S3) and {len(latest)} online rows (Redis Cluster) "
            "equal the reference; "
            f"all rows in {recovered_s:.1f}s after the TaskManager kill"
        )

        # a savepoint on cancel lands in S3 too, and is what the next submit resumes from
        path = jm.cancel(view)
        assert path is not None and path.startswith(f"s3://{BUCKET}/savepoints/"), path
        job_id = ""
    finally:
        if job_id:
            with contextlib.suppress(Exception):
                jm.flink.cancel(job_id)
        cluster.down(("flink",))


def _send_to_every_partition(bootstrap: str, props: dict[str, str], topic: str, payload: bytes) -> None:
    """One copy per partition, so every partition's watermark passes the last windows."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_block_ms=30_000,
        request_timeout_ms=30_000,
        bootstrap_timeout_ms=5_000,
        **client_kwargs(props),
    )
    try:
        for p in range(PARTITIONS):
            producer.send(topic, payload, partition=p)
        producer.flush(30)
    finally:
        producer.close()
