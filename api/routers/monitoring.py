"""``/v1/monitoring/...``: freshness, job health, quality, drift, time series, audit, full report; and
``/ui``, the dashboard page. Routes are plain ``def`` so FastAPI runs them in its thread pool: scans
and DuckDB queries never block the event loop that serves lookups.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from featurestream.api.deps import ApiKeyDep, StateDep
from featurestream.api.errors import STORE_OUTAGES, BadRequest, NotFound, store_unavailable
from featurestream.api.monitoring_schemas import (
    AuditOut,
    CatalogOut,
    DriftOut,
    FeatureLogOut,
    JobHealthOut,
    MonitorReportOut,
    QualityOut,
    SinkCountsOut,
    TimeseriesOut,
    ViewFreshnessOut,
)
from featurestream.api.responses import OrjsonResponse
from featurestream.api.schemas import ErrorOut
from featurestream.definitions import FeatureView
from featurestream.durations import parse_duration
from featurestream.errors import FeatureStreamError, RegistryError
from featurestream.monitoring.service import MonitoringService
from featurestream.registry import parse_view_ref

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])
NsQuery = Annotated[str | None, Query(description="defaults to the API key's namespace")]
TimeQuery = Annotated[datetime | None, Query(description="ISO-8601 UTC; default: the newest offline row")]
SourceQuery = Annotated[str, Query(pattern="^(offline|served)$")]
# Routes that read the online store answer 503 ``store_unavailable`` (a JSON body naming the Redis error)
# while Redis is down, like /readyz; never a 500, and no "unexpected error" traceback in the log.
STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the online store (Redis) is unavailable; the error body names why"}
}


def _svc(request: Request) -> MonitoringService:
    svc: MonitoringService = request.app.state.monitoring
    return svc


def _views(state: Any, ns: str, view: str | None) -> list[FeatureView]:
    views = state.catalog.registry.views(ns)
    if view is None:
        return list(views)
    try:
        name, version = parse_view_ref(view)
    except RegistryError as exc:
        raise BadRequest(exc.message, hint=exc.hint) from exc
    found = [v for v in views if v.name == name and version in (None, v.version)]
    if not found:
        raise NotFound(f"no feature view {view!r} in namespace {ns!r}", hint="list them with GET /v1/feature-views")
    return found


def _one(state: Any, ns: str, view: str) -> FeatureView:
    return max(_views(state, ns, view), key=lambda v: v.version)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _windows(state: Any, view: FeatureView, end: datetime | None, current: str | None, reference: str | None) -> Any:
    from featurestream.monitoring.data import latest_feature_time, windows_ending_at
    from featurestream.offline.duck import connect

    mon = state.config.monitoring
    try:
        cur = parse_duration(current or mon.current_window)
        ref = parse_duration(reference or mon.reference_window)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    if end is None:
        con = connect(state.config)
        try:
            end = latest_feature_time(con, state.config, view)
        finally:
            con.close()
    if end is None:
        end = datetime.now(UTC)
    return windows_ending_at(end, cur, ref)


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a monitoring check: a store outage is a 503, a refused check (FeatureStreamError) a 422;
    anything else propagates to the app's handler as the bug it is (500)."""
    try:
        return fn(*args, **kwargs)
    except STORE_OUTAGES as exc:
        raise store_unavailable(exc) from exc
    except FeatureStreamError as exc:
        raise BadRequest(exc.message, hint=exc.hint) from exc


@router.get("/v1/monitoring/catalog", response_model=CatalogOut)
def catalog(state: StateDep, api_key: ApiKeyDep, namespace: NsQuery = None) -> OrjsonResponse:
    """Views (every version) with owners, schema, defaults, SLA; sources; services; lineage."""
    ns = state.keys.namespace_for(api_key, namespace)
    reg = state.catalog.registry
    lineage = reg.lineage()
    views = []
    for v in reg.views(ns):
        d = v.to_dict()
        d["ttl_s"] = v.ttl.total_seconds()
        d["freshness_sla_s"] = v.freshness_sla.total_seconds()
        d["lineage"] = lineage.get(f"{v.namespace}/{v.ref}")
        views.append(d)
    return OrjsonResponse(
        {
            "namespace": ns,
            "revision": state.catalog.revision,
            "views": views,
            "sources": reg.sources(ns),
            "services": [s.to_dict() for s in reg.services(ns)],
        }
    )


@router.get("/v1/monitoring/freshness", response_model=list[ViewFreshnessOut], responses=STORE_DOWN)
def freshness(
    request: Request, state: StateDep, api_key: ApiKeyDep, view: str | None = None, namespace: NsQuery = None
) -> OrjsonResponse:
    """Newest-row age and visibility lag p50/p99 of each view's online rows, against its SLA."""
    from featurestream.monitoring.freshness import view_freshness
    from featurestream.monitoring.report import ViewHealth

    ns = state.keys.namespace_for(api_key, namespace)
    svc = _svc(request)
    out = []
    for v in _views(state, ns, view):
        fr = _run(view_freshness, svc.store(ns), v, sample=state.config.monitoring.freshness_sample_keys)
        svc.gauges.update(ns, ViewHealth(v.ref, freshness=fr))
        out.append(fr.to_dict())
    return OrjsonResponse(out)


@router.get("/v1/monitoring/jobs", response_model=list[JobHealthOut])
def jobs(request: Request, state: StateDep, api_key: ApiKeyDep, namespace: NsQuery = None) -> OrjsonResponse:
    """State, watermark age, consumer lag and checkpoint age of each view's streaming job."""
    from featurestream.jobs.flink import FlinkClient
    from featurestream.monitoring.jobs import job_health

    ns = state.keys.namespace_for(api_key, namespace)
    return OrjsonResponse([j.to_dict() for j in job_health(FlinkClient(state.config), _views(state, ns, None))])


@router.get("/v1/monitoring/dead-letters", response_model=list[SinkCountsOut])
def dead_letters(state: StateDep, api_key: ApiKeyDep, namespace: NsQuery = None) -> OrjsonResponse:
    """Dead-lettered and late event counts per view (Kafka, read_committed)."""
    from featurestream.monitoring.deadletter import dead_letter_counts

    ns = state.keys.namespace_for(api_key, namespace)
    counts = dead_letter_counts(state.config.kafka, _views(state, ns, None), timeout_s=5.0)
    return OrjsonResponse([c.to_dict() for c in counts])


@router.get("/v1/monitoring/views/{view}/quality", response_model=QualityOut)
def quality(
    view: str,
    request: Request,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NsQuery = None,
    end: TimeQuery = None,
    window: str | None = None,
    source: SourceQuery = "offline",
) -> OrjsonResponse:
    """Null rate, default rate, min/max/mean, distinct count per feature over the current window."""
    from featurestream.monitoring.checks import quality_check
    from featurestream.monitoring.report import ViewHealth
    from featurestream.offline.duck import connect

    ns = state.keys.namespace_for(api_key, namespace)
    fv = _one(state, ns, view)
    _, cur = _windows(state, fv, _utc(end), window, None)
    con = connect(state.config)
    try:
        stats = _run(quality_check, con, state.config, fv, cur, source=source)
    finally:
        con.close()
    _svc(request).gauges.update(ns, ViewHealth(fv.ref, quality=stats))
    return OrjsonResponse(
        {"view": fv.ref, "source": source, "window": cur.to_dict(), "features": [q.to_dict() for q in stats]}
    )


@router.get("/v1/monitoring/views/{view}/drift", response_model=DriftOut)
def drift(
    view: str,
    request: Request,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NsQuery = None,
    end: TimeQuery = None,
    window: str | None = None,
    reference: str | None = None,
    source: SourceQuery = "offline",
) -> OrjsonResponse:
    """PSI and KS per feature: the reference window (just before) vs the current window."""
    from featurestream.monitoring.checks import drift_check
    from featurestream.monitoring.report import ViewHealth
    from featurestream.offline.duck import connect

    ns = state.keys.namespace_for(api_key, namespace)
    fv = _one(state, ns, view)
    ref_w, cur_w = _windows(state, fv, _utc(end), window, reference)
    con = connect(state.config)
    try:
        result = _run(drift_check, con, state.config, fv, ref_w, cur_w, source=source)
    finally:
        con.close()
    _svc(request).gauges.update(ns, ViewHealth(fv.ref, drift=result))
    mon = state.config.monitoring
    return OrjsonResponse(
        {
            "view": fv.ref,
            "source": source,
            "reference": ref_w.to_dict(),
            "current": cur_w.to_dict(),
            "psi_threshold": mon.psi_threshold,
            "ks_threshold": mon.ks_threshold,
            "features": [d.to_dict() for d in result],
        }
    )


@router.get("/v1/monitoring/views/{view}/timeseries", response_model=TimeseriesOut)
def timeseries(
    view: str,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NsQuery = None,
    end: TimeQuery = None,
    window: str | None = None,
    buckets: Annotated[int, Query(ge=1, le=500)] = 24,
) -> OrjsonResponse:
    """Per bucket of the current window: rows, visibility lag p50/p99 and each feature's null rate."""
    from featurestream.monitoring.checks import timeseries as series
    from featurestream.offline.duck import connect

    ns = state.keys.namespace_for(api_key, namespace)
    fv = _one(state, ns, view)
    _, cur = _windows(state, fv, _utc(end), window, None)
    con = connect(state.config)
    try:
        return OrjsonResponse(_run(series, con, state.config, fv, cur, buckets=buckets))
    finally:
        con.close()


@router.get("/v1/monitoring/views/{view}/audit", response_model=AuditOut, responses=STORE_DOWN)
def audit(
    view: str,
    request: Request,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NsQuery = None,
    sample: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> OrjsonResponse:
    """Online/offline consistency of a sample of entities (value, missing, extra per feature)."""
    from featurestream.monitoring.audit import audit_view

    ns = state.keys.namespace_for(api_key, namespace)
    fv = _one(state, ns, view)
    svc = _svc(request)
    report = _run(audit_view, state.config, fv, svc.store(ns), sample=sample)
    svc.gauges.update_audit(ns, report)
    return OrjsonResponse(report.to_dict())


@router.get("/v1/monitoring/report", response_model=MonitorReportOut)
def report(
    request: Request,
    state: StateDep,
    api_key: ApiKeyDep,
    namespace: NsQuery = None,
    view: str | None = None,
    flink: bool = True,
    kafka: bool = True,
    audit: bool = False,
) -> OrjsonResponse:
    """Everything ``featurestream monitor`` prints, as JSON (``breached`` true on any breach)."""
    from featurestream.monitoring.monitor import collect

    ns = state.keys.namespace_for(api_key, namespace)
    svc = _svc(request)
    rep = collect(state.config, _views(state, ns, view), svc.store(ns), flink=flink, kafka=kafka, audit=audit)
    for h in rep.views:
        svc.gauges.update(ns, h)
        if h.audit is not None:
            svc.gauges.update_audit(ns, h.audit)
    return OrjsonResponse(rep.to_dict())


@router.get("/v1/monitoring/feature-log", response_model=FeatureLogOut)
def feature_log(request: Request, state: StateDep, api_key: ApiKeyDep) -> OrjsonResponse:
    """Counters of the served-vector logger (sampled, dropped, written)."""
    state.keys.namespace_for(api_key)
    logger = _svc(request).logger
    return OrjsonResponse(logger.stats() if logger is not None else {"enabled": False})


@router.get(
    "/ui",
    response_class=HTMLResponse,
    include_in_schema=False,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the page"}},
)
def ui() -> HTMLResponse:
    """The dashboard: one self-contained page (inline JS and SVG) over the endpoints above."""
    from featurestream.monitoring.ui import page

    return HTMLResponse(page())
