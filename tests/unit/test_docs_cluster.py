"""docs/cluster.md stays true: its worked featurestream.yaml loads, and every setting it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from featurestream.config import Config, load_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"


def test_the_worked_example_loads_with_its_secrets_from_the_environment(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    example = next(b for b in blocks if b.startswith("project:"))
    (tmp_path / "featurestream.yaml").write_text(example)
    cfg = load_config(tmp_path, env={"KAFKA_PASSWORD": "k-pw", "REDIS_PASSWORD": "r-pw"})
    assert cfg.kafka.properties["security.protocol"] == "SASL_SSL"
    assert cfg.kafka.topics.dlq.replication_factor == 3 and cfg.kafka.topics.source.partitions == 12
    assert cfg.redis.url.startswith("rediss+cluster://") and "r-pw" in cfg.redis.url
    assert not cfg.stack.flink.enabled and cfg.flink.checkpoints_dir.startswith("s3://")


def test_every_setting_in_the_tables_exists() -> None:
    names = re.findall(r"^\| `([a-z_.]+)`(?: / `([a-z_.]+)`)? \|", DOC.read_text(), re.M)
    settings = [n for pair in names for n in pair if n]
    assert len(settings) >= 18  # the four tables: Flink, Kafka, Redis, S3
    for dotted in settings:
        node: object = Config()
        for part in dotted.split("."):
            assert hasattr(node, part), f"docs/cluster.md names {dotted}, which Config does not have"
            node = getattr(node, part)
