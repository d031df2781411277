"""Feature views built in code, without Flink or a registry: fixtures for unit tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from featurestream.definitions import Column, Feature, FeatureView, Source

__all__ = ["clicks_source", "make_view", "txn_source"]


def make_view(
    name: str,
    entities: Sequence[str],
    features: Mapping[str, str],
    *,
    ttl: timedelta = timedelta(hours=1),
    defaults: Mapping[str, Any] | None = None,
    version: int = 1,
    namespace: str = "default",
) -> FeatureView:
    """A registered-looking FeatureView without Flink: ``features`` maps name -> Flink type."""
    return FeatureView(
        name=name,
        version=version,
        entities=tuple(entities),
        sql=f"SELECT * FROM {name}_source",
        ttl=ttl,
        freshness_sla=ttl,
        defaults=dict(defaults or {}),
        namespace=namespace,
        features=tuple(Feature(n, t, (defaults or {}).get(n)) for n, t in features.items()),
    )


def clicks_source() -> Source:
    """A small clicks source (event_id, user_id, event time ``ts``, 5 s watermark, event id)."""
    return Source(
        name="clicks",
        topic="clicks",
        columns=(Column("event_id", "STRING"), Column("user_id", "STRING"), Column("ts", "TIMESTAMP_LTZ(3)")),
        event_time="ts",
        watermark_delay=timedelta(seconds=5),
        event_id="event_id",
    )


def txn_source() -> Source:
    """A small transactions source (card_id, amount, event time ``ts``, 5 s watermark, no event id)."""
    return Source(
        name="txns",
        topic="transactions",
        columns=(Column("card_id", "STRING"), Column("amount", "DOUBLE"), Column("ts", "TIMESTAMP_LTZ(3)")),
        event_time="ts",
        watermark_delay=timedelta(seconds=5),
        event_id=None,
    )
