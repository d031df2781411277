"""Prometheus metrics of one app (own registry, so several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "ValueCounts"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "featurestream_request_seconds",
            "Lookup latency inside the app, by endpoint",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # the lookup endpoints' children, bound once (labels() takes a lock and a dict lookup per call)
        self.lookup_seconds = {ep: self.request_seconds.labels(ep) for ep in ("get-online-features", "v1-features")}
        self.values = ValueCounts()
        self.registry.register(self.values)
        self.redis_errors = Counter(
            "featurestream_redis_errors",
            "Failed online-store reads, by namespace (each has its own store) and kind",
            ["namespace", "kind"],
            registry=self.registry,
        )
        self.ondemand = Counter(
            "featurestream_on_demand",
            "On-demand evaluations by function and status",
            ["name", "status"],
            registry=self.registry,
        )
        self.http_errors = Counter(
            "featurestream_http_errors", "Requests answered with an error, by code", ["code"], registry=self.registry
        )
        self.registry_revision = Gauge(
            "featurestream_registry_revision", "Registry revision being served", registry=self.registry
        )


class ValueCounts(Collector):
    """``featurestream_feature_values``: feature values served, by namespace, view and status.

    Counted on every lookup, so without prometheus_client on that path (a ``Counter`` child's ``inc``
    takes a lock, ~7 % of a 1 x 50 lookup's CPU): each (namespace, view) has a plain dict of counts
    by status (:meth:`counts`, bound once per plan read), updated on the event loop and read when
    the registry is collected (a scrape), where it is exported as a counter like any other."""

    NAME = "featurestream_feature_values"

    def __init__(self) -> None:
        self._by_view: dict[tuple[str, str], dict[Any, int]] = {}

    def counts(self, namespace: str, view: str) -> dict[Any, int]:
        """The counts of ``view`` in ``namespace``, by status (a ``Status``; add to them in place)."""
        return self._by_view.setdefault((namespace, view), {})

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            self.NAME,
            "Feature values served, by view and status (missing rate = non-PRESENT / all)",
            labels=["namespace", "view", "status"],
        )

    def describe(self) -> Iterator[Metric]:
        """The metric's name, help and labels, without values (what the registry checks names with)."""
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for (namespace, view), counts in list(self._by_view.items()):  # copied in C: the loop may add meanwhile
            for status, n in list(counts.items()):
                family.add_metric([namespace, view, str(status)], n)
        yield family
