"""Helpers for end-to-end checks of feature jobs on a real stack (integration tests, benchmarks).

An *isolated repo* is a copy of a feature repo with its own namespace, topic prefix, registry and
offline directory, sharing the running local stack: many runs can share one Kafka/Flink/Redis.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from featurestream.config import Config, load_config
from featurestream.definitions import FeatureView
from featurestream.offline.layout import read_view
from featurestream.online.keys import encode_entity
from featurestream.online.scan import scan_rows
from featurestream.online.store import RedisOnlineStore

__all__ = ["add_no_id_view", "isolated_repo", "offline_rows", "online_rows", "read_topic", "wait_for"]


def isolated_repo(
    src_repo: Path,
    dest: Path,
    base: Config,
    *,
    name: str | None = None,
    partitions: int = 1,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Copy ``src_repo/sql`` to ``dest`` with a config isolating namespace, topics and stores.

    ``extra`` replaces whole top-level sections; ``env`` resolves its ``${VAR}`` references."""
    tag = name or f"t{uuid.uuid4().hex[:8]}"
    shutil.copytree(src_repo / "sql", dest / "sql")
    cfg: dict[str, Any] = {
        "project": tag,
        "namespace": tag,
        "state_dir": str(base.state_path),  # share the running stack (jars, Flink conf, pids)
        "registry_path": str(dest / "registry.json"),
        "kafka": {
            "bootstrap_servers": base.kafka.bootstrap_servers,
            "topic_prefix": f"{tag}.",
            "topics": {"source": {"partitions": partitions}},  # created by `jobs submit`
        },
        "redis": {"url": base.redis.url},
        "flink": {"rest_url": base.flink.rest_url},
        "offline": {"path": str(dest / "offline")},
        # the base's Flink REST port: a job for the local stack (on any port) gets its Python runtime
        # and the base's jars (``stack.jars_dir``): the planner and the jobs use the format the stack runs
        "stack": {
            "kafka": {"partitions": partitions},
            "flink": {"rest_port": base.stack.flink.rest_port},
            "jars_dir": str(base.jars_path),
        },
    }
    for k, v in (extra or {}).items():
        cfg[k] = v
    (dest / "featurestream.yaml").write_text(yaml.safe_dump(cfg))
    return load_config(dest, env=env or {})


def add_no_id_view(root: Path) -> str:
    """Add to the repo at ``root`` a copy of the ``transactions`` source without its ``-- event_id:``
    header (same topic, so the same events) and ``card_spend_1h`` over it; the new view's name.
    The product's path without de-duplication (the golden tests, the stream bench)."""
    sql = root / "sql"
    src = (sql / "sources" / "transactions.sql").read_text().splitlines(keepends=True)
    if not any(line.startswith("-- topic:") for line in src):
        src.insert(0, "-- topic: transactions\n")
    text = "".join(line for line in src if not line.startswith("-- event_id:"))
    text = re.sub(r"CREATE TABLE transactions\b", "CREATE TABLE transactions_noid", text)
    (sql / "sources" / "transactions_noid.sql").write_text(text)
    view = (sql / "features" / "card_spend_1h.sql").read_text()
    view = re.sub(r"^-- name: card_spend_1h$", "-- name: card_spend_1h_noid", view, flags=re.M)
    view = re.sub(r"\bTABLE transactions\b", "TABLE transactions_noid", view)
    (sql / "features" / "card_spend_1h_noid.sql").write_text(view)
    return "card_spend_1h_noid"


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 1.0) -> None:
    """Poll ``check`` every ``interval`` s until it is true; after ``timeout`` s, ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def online_rows(redis_url: str, view: FeatureView) -> dict[str, dict[str, Any]]:
    """``{encoded entity: {feature: value, "_ft": ms}}`` for every stored row of ``view`` (via
    :func:`featurestream.online.scan.scan_rows`, in the view's namespace)."""
    store = RedisOnlineStore.from_url(redis_url, view.namespace)
    try:
        rows = scan_rows(store, view)
    finally:
        store.close()
    return {encode_entity(ent): {**row.values, "_ft": row.feature_time_ms} for ent, row in rows.items()}


def offline_rows(config: Config, view: FeatureView) -> pa.Table:
    """Every committed offline row of ``view`` (:func:`featurestream.offline.layout.read_view`)."""
    return read_view(config, view)


def read_topic(bootstrap: str, topic: str, timeout_ms: int = 5000) -> list[bytes]:
    """Every committed record value of ``topic`` (read_committed), until ``timeout_ms`` without a new one."""
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
