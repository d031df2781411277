"""Process state of the app, built once in the lifespan: config, catalog, online stores, metrics.

Also the worker's admission control (:mod:`featurestream.api.admission`), the online store of each
namespace with its own breaker (:mod:`featurestream.api.stores`: an outage or an exhausted pool in
one namespace leaves the others served), and an optional hot-key cache (``serving.cache_ttl_ms`` > 0;
off by default) of stored rows by key.
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
from featurestream.online.keys import RowReply

__all__ = ["AppState"]

_CACHE_MAX = 100_000


@dataclass
class AppState:
    config: Config
    catalog: Catalog
    stores: Stores  # namespace -> its reader and breaker
    keys: KeyRing
    metrics: Metrics = field(default_factory=Metrics)
    feature_log: Any = None  # monitoring.served_log.FeatureLogger when monitoring.log_served is on
    event_sink: Any = None  # push.EventSink, built on the first POST /push (serving never needs Kafka)
    _cache: dict[str, tuple[float, RowReply]] = field(default_factory=dict)  # key -> (expiry, row)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.config.serving.max_in_flight)

    def store(self, namespace: str) -> NamespaceStore:
        """The online store (reader and breaker) of ``namespace``, opened on its first use."""
        return self.stores[namespace]

    # ------------------------------------------------------------------ hot-key cache

    def cache_get(self, keys: Sequence[str]) -> list[RowReply] | None:
        """The cached row of every key, or ``None`` unless all of them are cached and fresh."""
        if self.config.serving.cache_ttl_ms <= 0:
            return None
        now = time.monotonic()
        out: list[RowReply] = []
        for k in keys:
            hit = self._cache.get(k)
            if hit is None or hit[0] < now:
                return None
            out.append(hit[1])
        return out

    def cache_put(self, keys: Sequence[str], rows: Sequence[RowReply]) -> None:
        ttl = self.config.serving.cache_ttl_ms
        if ttl <= 0:
            return
        if len(self._cache) > _CACHE_MAX:
            self._cache.clear()
        expires = time.monotonic() + ttl / 1000.0
        for k, row in zip(keys, rows, strict=True):
            self._cache[k] = (expires, row)
