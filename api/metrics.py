"""Prometheus metrics of one app (own registry, so several apps can live in one test process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

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
        self.values = Counter(
            "featurestream_feature_values",
            "Feature values served, by view and status (missing rate = non-PRESENT / all)",
            ["namespace", "view", "status"],
            registry=self.registry,
        )
        self._values_children: dict[tuple[str, str, str], Any] = {}
        self.redis_errors = Counter(
            "featurestream_redis_errors", "Failed online-store reads, by kind", ["kind"], registry=self.registry
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

    def values_child(self, namespace: str, view: str, status: str) -> Any:
        """The ``featurestream_feature_values`` child of these labels, bound once per label set (the
        lookup path counts every read; ``labels()`` takes a lock and validates the labels per call)."""
        key = (namespace, view, status)
        child = self._values_children.get(key)
        if child is None:
            child = self._values_children[key] = self.values.labels(namespace, view, status)
        return child
