"""Response models of the ``/v1/monitoring`` routes (documentation of bodies rendered with orjson).

The routes return pre-rendered JSON, so these models document the body in the OpenAPI schema and
are never run per request. Each mirrors one ``to_dict`` of :mod:`featurestream.monitoring`; nested
parts that carry free-form detail (lineage, examples, windows) stay ``dict[str, Any]``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from featurestream.api.schemas import FeatureServiceOut, FeatureViewOut

__all__ = [
    "AuditOut",
    "CatalogOut",
    "DriftOut",
    "FeatureLogOut",
    "JobHealthOut",
    "MonitorReportOut",
    "QualityOut",
    "SinkCountsOut",
    "TimeseriesOut",
    "ViewFreshnessOut",
]


class CatalogViewOut(FeatureViewOut):
    model_config = ConfigDict(extra="allow")  # plus sql, path, defaults, sources, ... as registered

    ttl_s: float
    freshness_sla_s: float
    lineage: dict[str, Any] | None


class CatalogOut(BaseModel):
    namespace: str
    revision: int
    views: list[CatalogViewOut]
    sources: list[dict[str, Any]]
    services: list[FeatureServiceOut]


class ViewFreshnessOut(BaseModel):
    view: str
    sla_s: float
    keys_sampled: int
    exhaustive: bool
    newest_feature_time_ms: int | None
    newest_age_s: float | None
    lag_p50_s: float | None
    lag_p99_s: float | None
    breached: bool
    reasons: list[str]


class JobHealthOut(BaseModel):
    view: str
    job: str
    job_id: str | None
    state: str
    watermark_ms: int | None
    watermark_age_s: float | None
    pending_records: int | None
    checkpoint_age_s: float | None
    error: str | None


class SinkCountsOut(BaseModel):
    view: str
    dead_lettered: int
    late: int
    reasons: dict[str, int]
    examples: list[dict[str, Any]]
    truncated: bool
    error: str | None


class WindowOut(BaseModel):
    start: str
    end: str


class FeatureQualityOut(BaseModel):
    feature: str
    rows: int
    nulls: int
    null_rate: float
    defaults: int
    default_rate: float
    min: float | None
    max: float | None
    mean: float | None
    distinct: int
    breached: bool


class QualityOut(BaseModel):
    view: str
    source: str
    window: WindowOut
    features: list[FeatureQualityOut]


class FeatureDriftOut(BaseModel):
    feature: str
    kind: str
    reference_n: int
    current_n: int
    psi: float | None
    ks: float | None
    ks_pvalue: float | None
    psi_breached: bool
    ks_breached: bool
    breached: bool
    note: str


class DriftOut(BaseModel):
    view: str
    source: str
    reference: WindowOut
    current: WindowOut
    psi_threshold: float
    ks_threshold: float
    features: list[FeatureDriftOut]


class TimeseriesOut(BaseModel):
    view: str
    window: WindowOut
    bucket_s: float
    sla_s: float
    null_rate_threshold: float
    points: list[dict[str, Any]]  # {"t", "rows", lag and per-feature null rates}


class FeatureAuditOut(BaseModel):
    feature: str
    checked: int
    value: int
    missing: int
    extra: int
    mismatches: int
    examples: list[dict[str, Any]]


class AuditOut(BaseModel):
    view: str
    sampled_online: int
    sampled_offline: int
    entities: int
    mismatches: int
    ok: bool
    seconds: float
    features: list[FeatureAuditOut]


class ViewHealthOut(BaseModel):
    view: str
    owner: str
    breached: bool
    breaches: list[str]
    freshness: ViewFreshnessOut | None
    job: JobHealthOut | None
    sinks: SinkCountsOut | None
    quality: list[FeatureQualityOut]
    drift: list[FeatureDriftOut]
    audit: AuditOut | None
    windows: dict[str, Any]
    errors: list[str]


class MonitorReportOut(BaseModel):
    namespace: str
    generated_at: str
    breached: bool
    views: list[ViewHealthOut]


class FeatureLogOut(BaseModel):
    """The served-vector logger's counters; only ``enabled`` when logging is off."""

    enabled: bool
    sample_rate: float | None = None
    offered: int | None = None
    sampled: int | None = None
    dropped: int | None = None
    queued: int | None = None
    rows_written: int | None = None
    files_written: int | None = None
    errors: int | None = None
