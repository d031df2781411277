"""Prometheus gauges of the monitoring checks, on the app's own registry (so ``/metrics`` shows them).

Gauges hold the result of the latest check that ran (an API call or the refresh thread); the
feature-log counters are read at scrape time. Every gauge of a view is labelled with the namespace
the check ran in -- a required argument of each update, never the server's default -- so a check
run with namespace B's key can never overwrite namespace A's values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from featurestream.monitoring.audit import AuditReport
from featurestream.monitoring.report import ViewHealth
from featurestream.monitoring.served_log import FeatureLogger

__all__ = ["MonitoringGauges"]


class MonitoringGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        v = ["namespace", "view"]
        f = ["namespace", "view", "feature"]
        self.newest_age = Gauge(
            "featurestream_view_newest_row_age_seconds",
            "Age of the newest online row (now - feature_time)",
            v,
            registry=registry,
        )
        self.lag = Gauge(
            "featurestream_view_visibility_lag_seconds",
            "created_at - feature_time of online rows, by quantile",
            [*v, "quantile"],
            registry=registry,
        )
        self.sla = Gauge("featurestream_view_freshness_sla_seconds", "The view's freshness SLA", v, registry=registry)
        self.breached = Gauge(
            "featurestream_view_sla_breached", "1 when the view breaches its freshness SLA", v, registry=registry
        )
        self.watermark_age = Gauge(
            "featurestream_job_watermark_age_seconds", "now - the job's smallest input watermark", v, registry=registry
        )
        self.pending = Gauge(
            "featurestream_job_pending_records", "Kafka records the job has not read yet", v, registry=registry
        )
        self.dlq = Gauge(
            "featurestream_dead_lettered_events", "Events in the view's dead-letter topic", v, registry=registry
        )
        self.late = Gauge("featurestream_late_events", "Events in the view's late topic", v, registry=registry)
        self.duplicates = Gauge(
            "featurestream_duplicate_events",
            "Copies of an already counted event id the job dropped (on time or late), since the job started",
            v,
            registry=registry,
        )
        self.null_rate = Gauge(
            "featurestream_feature_null_rate", "Null rate over the current window", f, registry=registry
        )
        self.default_rate = Gauge(
            "featurestream_feature_default_rate", "Default rate over the current window", f, registry=registry
        )
        self.psi = Gauge("featurestream_feature_psi", "PSI, reference vs current window", f, registry=registry)
        self.ks = Gauge(
            "featurestream_feature_ks", "Two-sample KS statistic, reference vs current", f, registry=registry
        )
        self.audit = Gauge(
            "featurestream_audit_mismatches",
            "Online/offline mismatches of the last audit",
            [*v, "kind"],
            registry=registry,
        )
        self.log_rows = Gauge(
            "featurestream_feature_log_rows_written", "Served values written to the log", registry=registry
        )
        self.log_dropped = Gauge(
            "featurestream_feature_log_dropped", "Served vectors dropped (queue full)", registry=registry
        )

    def watch_logger(self, logger: FeatureLogger) -> None:
        self.log_rows.set_function(lambda: float(logger.rows_written))
        self.log_dropped.set_function(lambda: float(logger.dropped))

    def update(self, namespace: str, h: ViewHealth) -> None:
        """Set the gauges of view ``h.view`` of ``namespace`` from one check's results."""
        ns, view = namespace, h.view
        if h.freshness is not None:
            fr = h.freshness
            self.sla.labels(ns, view).set(fr.sla_s)
            self.breached.labels(ns, view).set(1.0 if fr.breached else 0.0)
            if fr.newest_age_s is not None:
                self.newest_age.labels(ns, view).set(fr.newest_age_s)
            if fr.lag_p50_s is not None and fr.lag_p99_s is not None:
                self.lag.labels(ns, view, "0.5").set(fr.lag_p50_s)
                self.lag.labels(ns, view, "0.99").set(fr.lag_p99_s)
        if h.job is not None and h.job.watermark_age_s is not None:
            self.watermark_age.labels(ns, view).set(h.job.watermark_age_s)
        if h.job is not None and h.job.pending_records is not None:
            self.pending.labels(ns, view).set(h.job.pending_records)
        if h.job is not None and h.job.duplicates is not None:
            self.duplicates.labels(ns, view).set(h.job.duplicates)
        if h.sinks is not None and h.sinks.error is None:
            self.dlq.labels(ns, view).set(h.sinks.dead_lettered)
            self.late.labels(ns, view).set(h.sinks.late)
        for q in h.quality:
            self.null_rate.labels(ns, view, q.feature).set(q.null_rate)
            self.default_rate.labels(ns, view, q.feature).set(q.default_rate)
        for d in h.drift:
            if d.psi is not None:
                self.psi.labels(ns, view, d.feature).set(d.psi)
            if d.ks is not None:
                self.ks.labels(ns, view, d.feature).set(d.ks)

    def update_audit(self, namespace: str, a: AuditReport) -> None:
        for kind in ("value", "missing", "extra"):
            self.audit.labels(namespace, a.view, kind).set(sum(getattr(f, kind) for f in a.features))
