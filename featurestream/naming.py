"""The names derived from a feature view: Flink jobs, Kafka topics and the offline directory.

Each name has exactly one function here, and every piece of context the name depends on is a
required argument (a topic name without its ``kafka.topic_prefix`` is a different topic, so no
function takes an optional config). The Redis key layout is owned by :mod:`online.keys`, the
view's table name by :attr:`definitions.FeatureView.table_name`.
"""

from __future__ import annotations

from pathlib import Path

from featurestream.config import KafkaConfig
from featurestream.definitions import FeatureView
from featurestream.storage import join

__all__ = [
    "backfill_job_name",
    "consumer_group",
    "dlq_topic",
    "job_name",
    "late_topic",
    "offline_dir",
    "source_topic",
    "transactional_id_prefix",
]


def job_name(view: FeatureView) -> str:
    """The streaming job of one view version: ``featurestream-<namespace>-<view>-v<version>``.

    Unique per (namespace, view, version) on one Flink cluster; job control finds a view's job by it.
    """
    return f"featurestream-{view.namespace}-{view.name}-v{view.version}"


def backfill_job_name(view: FeatureView) -> str:
    """The batch (backfill) job of one view version: :func:`job_name` + ``-backfill``."""
    return job_name(view) + "-backfill"


def consumer_group(view: FeatureView) -> str:
    """The Kafka consumer group the streaming job reads its source with: the job's name, so a
    restarted job resumes from its group's offsets and two versions never share offsets."""
    return job_name(view)


def transactional_id_prefix(view: FeatureView, sink: str) -> str:
    """The Kafka transactional-id prefix of one exactly-once sink (``dlq``, ``late``) of the
    streaming job: ``<job name>-<sink>``, unique per job and sink as Kafka requires."""
    return f"{job_name(view)}-{sink}"


def source_topic(kafka: KafkaConfig, topic: str) -> str:
    """The cluster topic of a source declaring ``topic``: ``<kafka.topic_prefix><topic>``.

    Producers, the streaming job and the lineage all read the prefixed name; the prefix isolates
    environments or test runs sharing one cluster.
    """
    return kafka.topic_prefix + topic


def _sink_topic(view: FeatureView, kafka: KafkaConfig, suffix: str) -> str:
    return f"{kafka.topic_prefix}featurestream.{view.namespace}.{view.name}.v{view.version}.{suffix}"


def dlq_topic(view: FeatureView, kafka: KafkaConfig) -> str:
    """The dead-letter topic of one view version's job (malformed events with their reason):
    ``<kafka.topic_prefix>featurestream.<namespace>.<view>.v<version>.dlq``."""
    return _sink_topic(view, kafka, "dlq")


def late_topic(view: FeatureView, kafka: KafkaConfig) -> str:
    """The late-event topic of one view version's job (events behind the watermark):
    ``<kafka.topic_prefix>featurestream.<namespace>.<view>.v<version>.late``."""
    return _sink_topic(view, kafka, "late")


def offline_dir(offline_root: str | Path, view: FeatureView) -> str:
    """The offline location of one view version: ``<offline_root>/<namespace>/<view>/v<version>``.

    ``offline_root`` is :attr:`Config.offline_location` (an absolute local path or ``s3://bucket/prefix``);
    the result is a location string usable by pyarrow (:mod:`featurestream.storage`) and, through
    :func:`storage.as_flink_uri`, by Flink. It holds the ``date=YYYY-MM-DD`` partitions (see
    :mod:`offline.layout`); the streaming and batch jobs write there and every reader lists it.
    """
    return join(offline_root, view.namespace, view.name, f"v{view.version}")
