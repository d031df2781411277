"""Process state of the app, built once in the lifespan: config, catalog, Redis reader, metrics.

Also the worker's admission control (:mod:`featurestream.api.admission`) and the two small pieces
of store policy the request path consults:

* a breaker — after a connection error, reads are skipped (answered degraded at once) for
  ``retry_interval_s``, then tried again, so the app reconnects by itself when Redis returns;
* an optional hot-key cache (``serving.cache_ttl_ms`` > 0; off by default) of raw rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from featurestream.api.admission import Admission
from featurestream.api.auth import KeyRing
from featurestream.api.catalog import Catalog
from featurestream.api.metrics import Metrics
from featurestream.config import Config
from featurestream.online.reader import AsyncOnlineReader
from featurestream.secrets import redact

__all__ = ["AppState"]

log = logging.getLogger(__name__)
_CACHE_MAX = 100_000

Groups = Sequence[tuple[Sequence[str], Sequence[str]]]


@dataclass
class AppState:
    config: Config
    catalog: Catalog
    reader: AsyncOnlineReader
    keys: KeyRing
    metrics: Metrics = field(default_factory=Metrics)
    feature_log: Any = None  # monitoring.served_log.FeatureLogger when monitoring.log_served is on
    event_sink: Any = None  # push.EventSink, built on the first POST /push (serving never needs Kafka)
    retry_interval_s: float = 0.25
    last_error: str | None = None
    _blocked_until: float = 0.0
    _cache: dict[tuple[str, tuple[str, ...]], tuple[float, list[bytes | None]]] = field(default_factory=dict)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.config.serving.max_in_flight)

    # ------------------------------------------------------------------ breaker

    def store_blocked(self) -> bool:
        return self._blocked_until > time.monotonic()

    def store_failed(self, exc: BaseException) -> None:
        if self.last_error is None:
            log.warning("online store unavailable: %s", redact(str(exc)))
        self.last_error = f"{type(exc).__name__}: {redact(str(exc))}"
        self._blocked_until = time.monotonic() + self.retry_interval_s

    def store_ok(self) -> None:
        if self.last_error is not None:
            log.info("online store reachable again")
        self.last_error = None
        self._blocked_until = 0.0

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
