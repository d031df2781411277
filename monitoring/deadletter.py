"""Counts of dead-lettered and late events per view, read from the streaming job's Kafka sinks.

The job writes JSON records to the topics named by :func:`naming.dlq_topic` and
:func:`naming.late_topic` (``<kafka.topic_prefix>featurestream.<ns>.<view>.v<ver>.dlq`` / ``.late``) with
exactly-once (transactional) producers, so the topics are read with ``isolation_level=
'read_committed'`` and records are *counted by consuming* them (offsets also count transaction
markers and aborted records). Reading is bounded by ``max_records`` per topic and ``timeout_s``;
``truncated`` says when a count is a lower bound. A topic that does not exist counts 0 (the job
never wrote to it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from featurestream.config import KafkaConfig
from featurestream.definitions import FeatureView
from featurestream.naming import dlq_topic, late_topic

__all__ = ["SinkCounts", "count_records", "count_sinks", "dead_letter_counts", "sink_topics"]


@dataclass
class SinkCounts:
    view: str
    dead_lettered: int = 0
    late: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "dead_lettered": self.dead_lettered,
            "late": self.late,
            "reasons": self.reasons,
            "examples": self.examples,
            "truncated": self.truncated,
            "error": self.error,
        }


def count_records(
    values: Iterable[bytes | None], *, examples: int = 3
) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    """(count, reason -> count, first examples) of dead-letter or late record values (JSON)."""
    n = 0
    reasons: Counter[str] = Counter()
    shown: list[dict[str, Any]] = []
    for raw in values:
        n += 1
        try:
            rec = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            rec = {"payload": (raw or b"").decode(errors="replace")}
        if not isinstance(rec, dict):
            rec = {"payload": rec}
        reason = rec.get("reason")
        if reason is not None:
            reasons[str(reason).split(":")[0]] += 1
        if len(shown) < examples:
            shown.append({k: rec.get(k) for k in ("reason", "payload", "kafka_partition", "kafka_offset") if k in rec})
    return n, dict(reasons), shown


def _read_topic(consumer: Any, topic: str, max_records: int, deadline: float) -> tuple[list[bytes | None], bool]:
    from kafka import TopicPartition

    parts = consumer.partitions_for_topic(topic)
    if not parts:
        return [], False
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)  # last stable offsets under read_committed
    values: list[bytes | None] = []
    while time.monotonic() < deadline:
        if all(consumer.position(tp) >= end[tp] for tp in tps):
            return values, False
        for records in consumer.poll(timeout_ms=200, max_records=5000).values():
            values.extend(r.value for r in records)
        if len(values) >= max_records:
            return values[:max_records], True
    return values, True


def _reachable(bootstrap: str, *, timeout_s: float) -> bool:
    """True when a TCP connection to any bootstrap server opens (kafka-python would retry for long)."""
    import socket

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout_s).close()
            return True
        except (OSError, ValueError):
            continue
    return False


def sink_topics(kafka: KafkaConfig, view: FeatureView) -> tuple[str, str]:
    """``(dead-letter topic, late topic)`` of ``view``'s job on the cluster ``kafka`` describes,
    ``kafka.topic_prefix`` included: the topics the monitor reads are the ones the job writes."""
    return dlq_topic(view, kafka), late_topic(view, kafka)


def count_sinks(
    consumer: Any, kafka: KafkaConfig, views: Sequence[FeatureView], *, max_records: int, timeout_s: float
) -> list[SinkCounts]:
    """Counts of each view's dead-letter and late topics read through an open (read-committed)
    ``consumer``; a topic missing from ``consumer.topics()`` counts 0, a Kafka error is kept per view."""
    from kafka.errors import KafkaError

    out = [SinkCounts(v.ref) for v in views]
    topics = consumer.topics()
    deadline = time.monotonic() + timeout_s
    for view, sc in zip(views, out, strict=True):
        try:
            dlq, late = sink_topics(kafka, view)
            if dlq in topics:
                vals, trunc = _read_topic(consumer, dlq, max_records, deadline)
                sc.dead_lettered, sc.reasons, sc.examples = count_records(vals)
                sc.truncated |= trunc
            if late in topics:
                vals, trunc = _read_topic(consumer, late, max_records, deadline)
                sc.late = len(vals)
                sc.truncated |= trunc
        except KafkaError as exc:
            sc.error = f"{type(exc).__name__}: {exc}"
    return out


def dead_letter_counts(
    kafka: KafkaConfig, views: Sequence[FeatureView], *, max_records: int = 100_000, timeout_s: float = 10.0
) -> list[SinkCounts]:
    """Dead-lettered and late record counts (and dead-letter reasons) of each view's job, read from
    the cluster and topic prefix of ``kafka``."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    from featurestream.kafka_props import client_options

    bootstrap = kafka.bootstrap_servers
    out = [SinkCounts(v.ref) for v in views]
    if not _reachable(bootstrap, timeout_s=min(timeout_s, 2.0)):
        for sc in out:
            sc.error = f"cannot reach Kafka at {bootstrap}"
        return out
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            group_id=None,
            **client_options(
                kafka.properties,
                request_timeout_ms=int(timeout_s * 1000) + 1000,
                bootstrap_timeout_ms=int(min(timeout_s, 5.0) * 1000),
            ),
        )
    except (KafkaError, OSError, ValueError) as exc:  # NoBrokersAvailable, bad config
        for sc in out:
            sc.error = f"cannot reach Kafka at {bootstrap}: {exc}"
        return out
    try:
        return count_sinks(consumer, kafka, views, max_records=max_records, timeout_s=timeout_s)
    finally:
        consumer.close()
