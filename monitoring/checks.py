"""Per-view quality, drift and time-series checks over the offline store or the served-vector log."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.monitoring.data import Window, offline_rows, served_values
from featurestream.monitoring.drift import FeatureDrift, feature_drift
from featurestream.monitoring.errors import MonitoringError
from featurestream.monitoring.quality import FeatureQuality, column_stats
from featurestream.semantics import FILLED_STATUSES, default_for

__all__ = ["SOURCES", "drift_check", "quality_check", "timeseries"]

SOURCES = ("offline", "served")
_FILLED = {s.value for s in FILLED_STATUSES}


def _source(source: str) -> None:
    if source not in SOURCES:
        raise MonitoringError(f"expected source 'offline' or 'served', found {source!r}")


def quality_check(
    con: duckdb.DuckDBPyConnection, config: Config, view: FeatureView, window: Window, *, source: str = "offline"
) -> list[FeatureQuality]:
    """Quality statistics of every feature of ``view`` in ``window``.

    Offline: the default rate counts stored values equal to the declared default. Served: it counts
    values the server filled with the default (missing, expired, degraded), i.e. the missing rate.
    """
    _source(source)
    mon = config.monitoring
    if source == "offline":
        table = offline_rows(con, config, view, window, max_rows=mon.max_rows)
        return [
            column_stats(f, table[f], default_for(view, f), null_rate_threshold=mon.null_rate_threshold)
            for f in view.feature_names
        ]
    served = served_values(con, config, view, window, max_rows=mon.max_rows)
    out = []
    for f in view.feature_names:
        vals, statuses = served.get(f, ([], []))
        filled = sum(1 for s in statuses if s in _FILLED)
        out.append(column_stats(f, vals, filled=filled, null_rate_threshold=mon.null_rate_threshold))
    return out


def _values(
    con: duckdb.DuckDBPyConnection, config: Config, view: FeatureView, window: Window, source: str
) -> dict[str, list[Any]]:
    if source == "offline":
        table = offline_rows(con, config, view, window, max_rows=config.monitoring.max_rows)
        return {f: table[f].to_pylist() for f in view.feature_names}
    served = served_values(con, config, view, window, max_rows=config.monitoring.max_rows)
    return {f: served.get(f, ([], []))[0] for f in view.feature_names}


def drift_check(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    view: FeatureView,
    reference: Window,
    current: Window,
    *,
    source: str = "offline",
    reference_source: str = "offline",
) -> list[FeatureDrift]:
    """PSI and KS per feature: ``reference`` window (offline, e.g. the training range) vs ``current``."""
    _source(source)
    _source(reference_source)
    mon = config.monitoring
    ref = _values(con, config, view, reference, reference_source)
    cur = _values(con, config, view, current, source)
    return [
        feature_drift(
            f, ref[f], cur[f], bins=mon.psi_bins, psi_threshold=mon.psi_threshold, ks_threshold=mon.ks_threshold
        )
        for f in view.feature_names
    ]


def timeseries(
    con: duckdb.DuckDBPyConnection, config: Config, view: FeatureView, window: Window, *, buckets: int = 24
) -> dict[str, Any]:
    """Per time bucket of ``window`` (by ``feature_time``): rows, p50/p99 visibility lag
    (``created_at - feature_time``, streamed rows only) and each feature's null rate."""
    if buckets < 1:
        raise MonitoringError(f"expected buckets >= 1, found {buckets}")
    table = offline_rows(con, config, view, window, max_rows=config.monitoring.max_rows)
    lo, hi = window.naive()
    width = (hi - lo) / buckets
    ft = table[FEATURE_TIME].cast(pa.timestamp("us")).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    start = np.datetime64(lo, "us")
    idx = ((ft - start) / np.timedelta64(max(int(width / timedelta(microseconds=1)), 1), "us")).astype(np.int64)
    idx = np.clip(idx, 0, buckets - 1)
    created = table[CREATED_AT].cast(pa.timestamp("us")).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    lag_s = (created - ft) / np.timedelta64(1, "s")
    out: list[dict[str, Any]] = []
    for b in range(buckets):
        mask = idx == b
        t = lo + width * b
        point: dict[str, Any] = {"t": t.replace(tzinfo=UTC).isoformat(), "rows": int(mask.sum())}
        lags = lag_s[mask]
        lags = lags[np.isfinite(lags)]
        point["lag_p50_s"] = float(np.quantile(lags, 0.5)) if lags.size else None
        point["lag_p99_s"] = float(np.quantile(lags, 0.99)) if lags.size else None
        sel = pa.array(mask)
        point["null_rate"] = {
            f: (column_stats(f, pc.filter(table[f], sel)).null_rate if mask.any() else None) for f in view.feature_names
        }
        out.append(point)
    return {
        "view": view.ref,
        "window": window.to_dict(),
        "bucket_s": width.total_seconds(),
        "sla_s": view.freshness_sla.total_seconds(),
        "null_rate_threshold": config.monitoring.null_rate_threshold,
        "points": out,
    }
