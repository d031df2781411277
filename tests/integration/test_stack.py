"""The local stack really works: Kafka round trip, Redis PING, a PyFlink SQL job on the cluster
reading Kafka through the Maven-resolved connector with RocksDB state and checkpoints."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

from featurestream.jobs.flink import FlinkClient

pytestmark = pytest.mark.integration


def test_kafka_produce_and_consume(kafka_bootstrap: str) -> None:
    topic = f"t_roundtrip_{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(5):
        producer.send(topic, f"m{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=15000
    )
    got = sorted(m.value.decode() for m in consumer)
    consumer.close()
    assert got == [f"m{i}" for i in range(5)]


def test_redis_ping(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    client.close()


def test_up_is_idempotent(stack) -> None:  # type: ignore[no-untyped-def]
    pids = {s.name: s.pid for s in stack.stack.status()}
    again = stack.stack.up()
    assert all(not s.started for s in again)
    assert {s.name: s.pid for s in stack.stack.status()} == pids
    assert all(s.healthy for s in stack.stack.status())


def test_pyflink_sql_job_reads_kafka_with_rocksdb_and_checkpoints(stack) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack.stack.kafka.bootstrap
    topic_in = f"smoke_in_{uuid.uuid4().hex[:8]}"
    topic_out = topic_in.replace("_in_", "_out_")
    producer = KafkaProducer(bootstrap_servers=bootstrap, value_serializer=lambda v: json.dumps(v).encode())
    events: list[dict[str, Any]] = [{"k": f"u{i % 3}", "v": i} for i in range(30)]
    for e in events:
        producer.send(topic_in, e)
    producer.flush()
    producer.close()
    kafka_opts = f"'properties.bootstrap.servers'='{bootstrap}'"
    spec = {
        "name": f"smoke-{topic_in}",
        "config": {"execution.checkpointing.interval": "1s"},
        "statements": [
            f"CREATE TABLE src (k STRING, v INT) WITH ('connector'='kafka','topic'='{topic_in}',{kafka_opts},"
            "'scan.startup.mode'='earliest-offset','format'='json')",
            f"CREATE TABLE dst (k STRING, total INT, n BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH ("
            f"'connector'='upsert-kafka','topic'='{topic_out}',{kafka_opts},'key.format'='json','value.format'='json')",
        ],
        "inserts": ["INSERT INTO dst SELECT k, SUM(v), COUNT(*) FROM src GROUP BY k"],
    }
    client = FlinkClient(stack.config)
    job_id = client.submit(spec)
    try:
        client.wait_for_state(job_id, ("RUNNING",))
        expected = {f"u{j}": (sum(e["v"] for e in events if e["k"] == f"u{j}"), 10) for j in range(3)}
        consumer = KafkaConsumer(
            topic_out, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=60000
        )
        latest: dict[str, tuple[int, int]] = {}
        for msg in consumer:
            row = json.loads(msg.value)
            latest[row["k"]] = (row["total"], row["n"])
            if latest == expected:
                break
        consumer.close()
        assert latest == expected

        assert client.checkpoint_config(job_id)["state_backend"] == "EmbeddedRocksDBStateBackend"
        deadline = time.monotonic() + 60
        while client.checkpoints(job_id)["counts"]["completed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        latest_ckpt = client.checkpoints(job_id)["latest"]["completed"]
        assert latest_ckpt is not None
        path = latest_ckpt["external_path"]
        assert path.startswith("file:")
        ckpt_root = stack.stack.flink.home / "checkpoints" / job_id
        assert ckpt_root.is_dir() and any(ckpt_root.iterdir())
    finally:
        client.cancel(job_id)
