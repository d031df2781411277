"""Run every check for the views of one namespace and assemble a :class:`MonitorReport`.

Each check is independent: a check that cannot run (Flink or Kafka down, no offline rows) leaves
its part empty and records why in ``errors``; it never hides the others. Drift and quality windows
end at the view's newest offline ``feature_time`` (so a replayed or paused stream still has data to
compare); freshness is always measured against the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.durations import parse_duration
from featurestream.errors import FeatureStreamError
from featurestream.monitoring.audit import audit_view
from featurestream.monitoring.checks import drift_check, quality_check
from featurestream.monitoring.data import latest_feature_time, windows_ending_at
from featurestream.monitoring.freshness import view_freshness
from featurestream.monitoring.report import MonitorReport, ViewHealth
from featurestream.offline.duck import connect
from featurestream.online.store import RedisOnlineStore

__all__ = ["collect"]


def collect(
    config: Config,
    views: Sequence[FeatureView],
    store: RedisOnlineStore | None,
    *,
    flink: bool = True,
    kafka: bool = True,
    quality: bool = True,
    drift: bool = True,
    audit: bool = False,
    source: str = "offline",
    now: datetime | None = None,
) -> MonitorReport:
    """Freshness, job health, dead-letter counts, quality, drift (and optionally the audit) per view."""
    now = now or datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    mon = config.monitoring
    health = [ViewHealth(v.ref, v.owner) for v in views]
    if store is not None:
        for v, h in zip(views, health, strict=True):
            try:
                h.freshness = view_freshness(store, v, sample=mon.freshness_sample_keys, now_ms=now_ms)
            except FeatureStreamError as exc:
                h.errors.append(f"freshness: {exc.message}")
            except Exception as exc:  # redis.ConnectionError and friends
                h.errors.append(f"freshness: {type(exc).__name__}: {exc}")
    if flink:
        from featurestream.jobs.flink import FlinkClient
        from featurestream.monitoring.jobs import job_health

        for h, jh in zip(health, job_health(FlinkClient(config), views, now_ms=now_ms), strict=True):
            h.job = jh
    if kafka:
        from featurestream.monitoring.deadletter import dead_letter_counts

        for h, sc in zip(health, dead_letter_counts(config.kafka, views, timeout_s=5.0), strict=True):
            h.sinks = sc
            if sc.error:
                h.errors.append(f"dead-letter counts: {sc.error}")
    current, reference = parse_duration(mon.current_window), parse_duration(mon.reference_window)
    con = connect(config)
    try:
        for v, h in zip(views, health, strict=True):
            if not (quality or drift):
                break
            try:
                end = latest_feature_time(con, config, v) if source == "offline" else now
                if end is None:
                    h.errors.append("no offline rows: quality and drift skipped")
                    continue
                ref_w, cur_w = windows_ending_at(end, current, reference)
                h.windows = {"reference": ref_w.to_dict(), "current": cur_w.to_dict()}
                if quality:
                    h.quality = quality_check(con, config, v, cur_w, source=source)
                if drift:
                    h.drift = drift_check(con, config, v, ref_w, cur_w, source=source)
            except FeatureStreamError as exc:
                h.errors.append(f"quality/drift: {exc.message}")
    finally:
        con.close()
    if audit and store is not None:
        for v, h in zip(views, health, strict=True):
            h.audit = audit_view(config, v, store, now=now)
    return MonitorReport(config.namespace, now, health)
