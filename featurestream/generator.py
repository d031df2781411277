"""Realistic demo events: skewed keys, duplicates, out-of-order and a few malformed or late events.

Every generator returns the exact payloads (bytes, in send order) so a reference computation can
run on the very same data that is produced to Kafka.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

__all__ = ["EventBatch", "clicks", "events", "produce", "transactions"]


@dataclass
class EventBatch:
    payloads: list[bytes] = field(default_factory=list)
    duplicates: int = 0
    malformed: int = 0
    out_of_order: int = 0

    def extend(self, other: EventBatch) -> None:
        self.payloads += other.payloads
        self.duplicates += other.duplicates
        self.malformed += other.malformed
        self.out_of_order += other.out_of_order


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _zipf_keys(rng: random.Random, prefix: str, n_keys: int, n: int, skew: float) -> list[str]:
    weights = [1.0 / (i + 1) ** skew for i in range(n_keys)]
    return [f"{prefix}{i}" for i in rng.choices(range(n_keys), weights=weights, k=n)]


def _events(
    kind: str,
    n: int,
    start_ms: int,
    span_ms: int,
    *,
    seed: int,
    n_keys: int,
    skew: float,
    dup_rate: float,
    disorder_ms: int,
    malformed: int,
    id_prefix: str,
) -> EventBatch:
    rng = random.Random(seed)
    key_field, other_field, key_prefix, other_prefix = (
        ("user_id", "item_id", "u", "i") if kind == "clicks" else ("card_id", "merchant_id", "c", "m")
    )
    keys = _zipf_keys(rng, key_prefix, n_keys, n, skew)
    step = span_ms / max(n, 1)
    batch = EventBatch()
    events = []
    for i in range(n):
        t = int(start_ms + i * step)
        if disorder_ms and rng.random() < 0.2:
            t -= rng.randint(0, disorder_ms)  # out of order, but within the watermark delay
            batch.out_of_order += 1
        amount = round(rng.lognormvariate(2.5, 1.0), 2) if kind == "transactions" else round(rng.random() * 10, 2)
        ev = {
            "event_id": f"{id_prefix}{i}",
            key_field: keys[i],
            other_field: f"{other_prefix}{rng.randint(0, 50)}",
            "amount": amount,
            # half the events carry epoch millis, half ISO-8601 UTC text: both are accepted
            "event_time": t if i % 2 else _iso(t),
        }
        events.append(ev)
        if rng.random() < dup_rate:  # at-least-once delivery: the same event again, a bit later
            events.append(dict(ev))
            batch.duplicates += 1
    bad = [
        b"{not json",
        json.dumps({"event_id": f"{id_prefix}bad-missing", "amount": 1.0, "event_time": start_ms}).encode(),
        json.dumps(
            {"event_id": f"{id_prefix}bad-type", key_field: "x", "amount": "lots", "event_time": start_ms}
        ).encode(),
        json.dumps(
            {"event_id": f"{id_prefix}bad-time", key_field: "x", "amount": 1.0, "event_time": "yesterday"}
        ).encode(),
    ]
    payloads = [json.dumps(e).encode() for e in events]
    for j in range(malformed):
        payloads.insert(rng.randint(0, len(payloads)), bad[j % len(bad)])
        batch.malformed += 1
    batch.payloads = payloads
    return batch


_DEFAULTS: dict[str, dict[str, Any]] = {
    "clicks": {"seed": 7, "n_keys": 200, "skew": 1.1, "id_prefix": "clk-"},
    "transactions": {"seed": 11, "n_keys": 100, "skew": 1.2, "id_prefix": "txn-"},
}


def events(kind: str, n: int, start: datetime, span_s: float, **options: Any) -> EventBatch:
    """``n`` events of ``kind`` (clicks | transactions) spread over ``span_s`` seconds from ``start``.

    Options: seed, n_keys, skew (Zipf exponent), dup_rate, disorder_ms (kept below the watermark
    delay, so nothing is late), malformed (how many bad payloads to mix in), id_prefix.
    """
    opts = {"dup_rate": 0.03, "disorder_ms": 3000, "malformed": 4, **_DEFAULTS[kind], **options}
    return _events(kind, n, int(start.timestamp() * 1000), int(span_s * 1000), **opts)


def clicks(n: int, start: datetime, span_s: float, **options: Any) -> EventBatch:
    """Click events (event_id, user_id, item_id, amount, event_time); see :func:`events`."""
    return events("clicks", n, start, span_s, **options)


def transactions(n: int, start: datetime, span_s: float, **options: Any) -> EventBatch:
    """Card transactions (event_id, card_id, merchant_id, amount, event_time); see :func:`events`."""
    return events("transactions", n, start, span_s, **options)


def _entity_key(payload: bytes) -> bytes | None:
    try:
        ev = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(ev, dict):
        return None
    key = ev.get("user_id", ev.get("card_id"))
    return str(key).encode() if key is not None else None


def produce(
    bootstrap: str,
    topic: str,
    payloads: list[bytes],
    *,
    chunk: int = 10_000,
    properties: Mapping[str, str] = MappingProxyType({}),
) -> Iterator[int]:
    """Send payloads in order, keyed by entity like real producers (one entity, one partition);
    yields the running count. ``properties`` are ``kafka.properties`` (security, SASL, TLS)."""
    from kafka import KafkaProducer

    from featurestream.kafka_props import client_options

    # bounded waits: metadata/buffer (max_block_ms) and each request, so an unreachable broker fails the run
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        batch_size=256 * 1024,
        acks=1,
        max_block_ms=30_000,
        **client_options(properties, request_timeout_ms=30_000, bootstrap_timeout_ms=5_000),
    )
    try:
        for i, p in enumerate(payloads, 1):
            producer.send(topic, p, key=_entity_key(p))
            if i % chunk == 0:
                producer.flush()
                yield i
        producer.flush()
        yield len(payloads)
    finally:
        producer.close()
