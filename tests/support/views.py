"""Feature views built in code, without Flink or a registry: fixtures for unit tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from featurestream.definitions import Feature, FeatureView

__all__ = ["make_view"]


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
