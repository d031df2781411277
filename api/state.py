"""Process state of the app, built once in the lifespan: config, catalog, online stores, metrics.

Also the worker's admission control (:mod:`featurestream.api.admission`), the online store of each
namespace with its own breaker (:mod:`featurestream.api.stores`: an outage or an exhausted pool in
one namespace leaves the others served), and an optional hot-key cache (``serving.cache_ttl_ms`` > 0;
off by default) of raw rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from featurestream.api.admission import Admission
from featurestream.api.auth import KeyRing
from featurestream.api.catalog import Catalog
from featurestream.api.metrics import Metrics
from featurestream.api.stores import NamespaceStore, Stores
from featurestream.config import Config

__all__ = ["AppState"]

_CACHE_MAX = 100_000

Groups = Sequence[tuple[Sequence[str], Sequence[str]]]


@dataclass
class AppState:
    config: Config
    catalog: Catalog
    stores: Stores  # namespace -> its reader and breaker
    keys: KeyRing
    metrics: Metrics = field(default_factory=Metrics)
    feature_log: Any = None  # monitoring.served_log.FeatureLogger when monitoring.log_served is on
    event_sink: Any = None  # push.EventSink, built on the first POST /push (serving never needs Kafka)
    _cache: dict[tuple[str, tuple[str, ...]], tuple[float, list[bytes | None]]] = field(default_factory=dict)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.config.serving.max_in_flight)

    def store(self, namespace: str) -> NamespaceStore:
        """The online store (reader and breaker) of ``namespace``, opened on its first use."""
        return self.stores[namespace]

    # ------------------------------------------------------------------ hot-key cache

    def cache_get(self, groups: Groups) -> list[list[bytes | None]] | None:
        if self.config.serving.cache_ttl_ms <= 0:
            return None
        now = time.monotonic()
        out: list[list[bytes | None]] = []
        for keys, fields in groups:
            ftuple = tuple(fields)
            for k in keys:
                hit = self._cache.get((k, ftuple))
                if hit is None or hit[0] < now:
                    return None
                out.append(hit[1])
        return out

    def cache_put(self, groups: Groups, raw: list[list[bytes | None]]) -> None:
        ttl = self.config.serving.cache_ttl_ms
        if ttl <= 0:
            return
        if len(self._cache) > _CACHE_MAX:
            self._cache.clear()
        expires = time.monotonic() + ttl / 1000.0
        i = 0
        for keys, fields in groups:
            ftuple = tuple(fields)
            for k in keys:
                self._cache[(k, ftuple)] = (expires, raw[i])
                i += 1
