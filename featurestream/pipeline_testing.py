"""Helpers for end-to-end checks of feature jobs on a real stack (tests, demo, bench).

An *isolated repo* is a copy of a feature repo with its own namespace, topic prefix, registry and
offline directory, sharing the running local stack: many runs can share one Kafka/Flink/Redis.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import redis
import yaml

from featurestream.config import Config, load_config
from featurestream.definitions import FeatureView
from featurestream.naming import offline_dir

__all__ = ["isolated_repo", "offline_rows", "online_rows", "read_topic", "wait_for"]


def isolated_repo(
    src_repo: Path,
    dest: Path,
    base: Config,
    *,
    name: str | None = None,
    partitions: int = 1,
    extra: dict[str, Any] | None = None,
) -> Config:
    """Copy ``src_repo/sql`` to ``dest`` with a config isolating namespace, topics and stores."""
    tag = name or f"t{uuid.uuid4().hex[:8]}"
    shutil.copytree(src_repo / "sql", dest / "sql")
    cfg: dict[str, Any] = {
        "project": tag,
        "namespace": tag,
        "state_dir": str(base.state_path),  # share the running stack (jars, Flink conf, pids)
        "registry_path": str(dest / "registry.json"),
        "kafka": {"bootstrap_servers": base.kafka.bootstrap_servers, "topic_prefix": f"{tag}."},
        "redis": {"url": base.redis.url},
        "flink": {"rest_url": base.flink.rest_url},
        "offline": {"path": str(dest / "offline")},
        "stack": {"kafka": {"partitions": partitions}},
    }
    for k, v in (extra or {}).items():
        cfg[k] = v
    (dest / "featurestream.yaml").write_text(yaml.safe_dump(cfg))
    return load_config(dest, env={})


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def online_rows(redis_url: str, view: FeatureView) -> dict[str, dict[str, Any]]:
    """``{entity: {feature: value, "_ft": ms}}`` for every Redis hash of ``view``."""
    from featurestream.online.keys import FEATURE_TIME_FIELD, decode_value, entity_part, key_pattern

    client = redis.Redis.from_url(redis_url)
    out: dict[str, dict[str, Any]] = {}
    try:
        pattern = key_pattern(view.namespace, view.name, view.version)
        keys = list(client.scan_iter(match=pattern, count=1000))
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.hgetall(k)
        for k, h in zip(keys, pipe.execute(), strict=True):
            entity = entity_part(view.namespace, view.name, view.version, k)
            row = {f.decode(): decode_value(v) for f, v in h.items() if not f.startswith(b"_")}
            row["_ft"] = int(h[FEATURE_TIME_FIELD.encode()])
            out[entity] = row
    finally:
        client.close()
    return out


def offline_rows(config: Config, view: FeatureView) -> pa.Table:
    """Every committed offline row of ``view`` (in-progress and hidden files skipped)."""
    path = offline_dir(config.offline_path, view)
    if not path.exists():
        return pa.table({})
    files = [str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    if not files:
        return pa.table({})
    return ds.dataset(files, format="parquet").to_table()


def read_topic(bootstrap: str, topic: str, timeout_ms: int = 5000) -> list[bytes]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=timeout_ms,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()
