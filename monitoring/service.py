"""Monitoring inside the API process: one sync online store, the feature logger, gauges, a refresher.

Built in the app's lifespan (never at import). Monitoring endpoints are plain ``def`` routes, so
FastAPI runs them in its thread pool and a scan or a DuckDB query never blocks the event loop that
serves lookups. The optional refresher thread (``monitoring.refresh_interval_s`` > 0) keeps the
freshness gauges current for Prometheus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.monitoring.metrics import MonitoringGauges
from featurestream.monitoring.served_log import FeatureLogger
from featurestream.online.store import RedisOnlineStore

__all__ = ["MonitoringService"]

log = logging.getLogger(__name__)


class MonitoringService:
    def __init__(self, config: Config, registry: CollectorRegistry) -> None:
        self.config = config
        self.gauges = MonitoringGauges(registry)
        self._stores: dict[str, RedisOnlineStore] = {}
        self._lock = threading.Lock()
        self.logger: FeatureLogger | None = None
        if config.monitoring.log_served:
            self.logger = FeatureLogger(config)
            self.gauges.watch_logger(self.logger)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def store(self, namespace: str | None = None) -> RedisOnlineStore:
        """The sync online store of ``namespace`` (default: the repo's), built on first use."""
        ns = namespace or self.config.namespace
        with self._lock:
            if ns not in self._stores:
                self._stores[ns] = RedisOnlineStore.from_url(self.config.redis_url_for(ns), ns)
            return self._stores[ns]

    def start(self, views: Callable[[], Sequence[FeatureView]]) -> None:
        if self.logger is not None:
            self.logger.start()
        interval = self.config.monitoring.refresh_interval_s
        if interval > 0:
            self._thread = threading.Thread(
                target=self._refresh_loop, args=(views, interval), name="featurestream-monitor", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.logger is not None:
            self.logger.stop()
        for store in self._stores.values():
            store.close()

    def _refresh_loop(self, views: Callable[[], Sequence[FeatureView]], interval: float) -> None:
        from featurestream.monitoring.monitor import collect

        while not self._stop.wait(interval):
            try:
                report = collect(self.config, views(), self.store(), flink=True, kafka=False, quality=False)
                for h in report.views:
                    self.gauges.update(self.config.namespace, h)
            except Exception:  # keep refreshing; the next round may succeed
                log.exception("monitoring refresh failed")
