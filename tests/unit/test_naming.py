"""The names derived from a view (jobs, topics, offline directory) and who uses them (no services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featurestream.config import Config, KafkaConfig
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.monitoring.deadletter import count_sinks, sink_topics
from featurestream.naming import (
    backfill_job_name,
    consumer_group,
    dlq_topic,
    job_name,
    late_topic,
    offline_dir,
    source_topic,
    transactional_id_prefix,
)
from featurestream.storage import as_flink_uri
from tests.support.views import make_view, txn_source

VIEW = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=2, namespace="risk")
PREFIXED = KafkaConfig(bootstrap_servers="kafka:9092", topic_prefix="staging.")
PLAIN = KafkaConfig(bootstrap_servers="kafka:9092")


def test_job_names_are_unique_per_namespace_view_and_version() -> None:
    assert job_name(VIEW) == "featurestream-risk-card_spend-v2"
    assert backfill_job_name(VIEW) == "featurestream-risk-card_spend-v2-backfill"
    assert consumer_group(VIEW) == job_name(VIEW)
    assert transactional_id_prefix(VIEW, "dlq") == "featurestream-risk-card_spend-v2-dlq"
    v1 = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=1, namespace="risk")
    other_ns = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=2, namespace="fraud")
    assert len({job_name(VIEW), job_name(v1), job_name(other_ns)}) == 3


def test_topics_carry_the_prefix() -> None:
    assert source_topic(PREFIXED, "transactions") == "staging.transactions"
    assert source_topic(PLAIN, "transactions") == "transactions"
    assert dlq_topic(VIEW, PREFIXED) == "staging.featurestream.risk.card_spend.v2.dlq"
    assert late_topic(VIEW, PREFIXED) == "staging.featurestream.risk.card_spend.v2.late"
    assert dlq_topic(VIEW, PLAIN) == "featurestream.risk.card_spend.v2.dlq"
    assert late_topic(VIEW, PLAIN) == "featurestream.risk.card_spend.v2.late"


def test_offline_dir_layout() -> None:
    assert offline_dir(Path("/data/offline"), VIEW) == "/data/offline/risk/card_spend/v2"
    assert offline_dir("s3://bucket/offline/", VIEW) == "s3://bucket/offline/risk/card_spend/v2"


def test_streaming_job_uses_the_owned_names(tmp_path: Path) -> None:
    config = Config(root=str(tmp_path), kafka=PREFIXED, offline={"path": str(tmp_path / "offline")})
    source = txn_source()
    view = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=2, namespace="risk")
    spec = compile_streaming_job(view, source, config)
    ddl = "\n".join(spec["statements"])
    assert spec["name"] == job_name(view)
    for name in (
        source_topic(PREFIXED, "transactions"),
        consumer_group(view),
        dlq_topic(view, PREFIXED),
        late_topic(view, PREFIXED),
        transactional_id_prefix(view, "late"),
        as_flink_uri(offline_dir(config.offline_location, view)),
    ):
        assert f"'{name}'" in ddl, name


class _FakeConsumer:
    """A read-committed consumer over in-memory topics: ``{topic: [record value, ...]}``, one partition."""

    def __init__(self, topics: dict[str, list[bytes]]) -> None:
        self.data = topics
        self.assigned: list[Any] = []
        self.pos: dict[Any, int] = {}
        self.read: list[str] = []

    def topics(self) -> set[str]:
        return set(self.data)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0} if topic in self.data else None

    def assign(self, tps: list[Any]) -> None:
        self.assigned = list(tps)
        self.read += [tp.topic for tp in tps]

    def seek_to_beginning(self, *tps: Any) -> None:
        for tp in tps:
            self.pos[tp] = 0

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: len(self.data[tp.topic]) for tp in tps}

    def position(self, tp: Any) -> int:
        return self.pos[tp]

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        out = {}
        for tp in self.assigned:
            values = self.data[tp.topic][self.pos[tp] : self.pos[tp] + max_records]
            self.pos[tp] += len(values)
            out[tp] = [type("Record", (), {"value": v})() for v in values]
        return out


def test_monitor_reads_the_prefixed_dead_letter_and_late_topics() -> None:
    """With ``kafka.topic_prefix`` set the job writes prefixed topics; the monitor must count them
    (it used to ask for the unprefixed names and reported 0 dead letters and 0 late events)."""
    assert sink_topics(PREFIXED, VIEW) == (
        "staging.featurestream.risk.card_spend.v2.dlq",
        "staging.featurestream.risk.card_spend.v2.late",
    )
    dlq, late = sink_topics(PREFIXED, VIEW)
    consumer = _FakeConsumer(
        {
            dlq: [b'{"reason": "missing required field amount", "payload": "{}"}'] * 60,
            late: [b'{"payload": "{}"}'] * 30,
            # what the job of an unprefixed deployment would have written: must not be read
            dlq_topic(VIEW, PLAIN): [b"{}"] * 5,
        }
    )
    [counts] = count_sinks(consumer, PREFIXED, [VIEW], max_records=1000, timeout_s=5.0)
    assert (counts.dead_lettered, counts.late, counts.truncated, counts.error) == (60, 30, False, None)
    assert counts.reasons == {"missing required field amount": 60}
    assert consumer.read == [dlq, late]
