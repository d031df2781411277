"""Freshness per view: the age of the newest online row, and how long values took to become visible.

* **newest age** — ``now - max(feature_time)`` over the sampled online rows of the view (exact when
  the scan was exhaustive). The view breaches its ``freshness_sla`` when this exceeds it, or when it
  has no online rows at all (the rule of :func:`featurestream.semantics.sla_breached`).
* **visibility lag** — ``created_at - feature_time`` per row (``_ct - _ft``): when a value became
  visible in Redis against its feature time; p50 and p99 over the sample. A p99 above the SLA is a
  breach too: values arrive later than promised even while the newest row looks fresh.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from featurestream.definitions import FeatureView
from featurestream.durations import format_duration
from featurestream.monitoring.online_scan import sample_keys, sample_times
from featurestream.online.store import RedisOnlineStore
from featurestream.semantics import sla_breached

__all__ = ["ViewFreshness", "freshness_of", "human_seconds", "view_freshness"]


@dataclass(frozen=True)
class ViewFreshness:
    view: str  # name@version
    sla_s: float
    keys: int
    exhaustive: bool
    newest_feature_time_ms: int | None
    newest_age_s: float | None
    lag_p50_s: float | None
    lag_p99_s: float | None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def breached(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "sla_s": self.sla_s,
            "keys_sampled": self.keys,
            "exhaustive": self.exhaustive,
            "newest_feature_time_ms": self.newest_feature_time_ms,
            "newest_age_s": self.newest_age_s,
            "lag_p50_s": self.lag_p50_s,
            "lag_p99_s": self.lag_p99_s,
            "breached": self.breached,
            "reasons": list(self.reasons),
        }


def human_seconds(seconds: float | None, digits: int = 1) -> str:
    """``0.25`` -> ``250ms``, ``90`` -> ``1.5m``, ``7200`` -> ``2.0h``, ``259200`` -> ``3.0d``."""
    if seconds is None:
        return "-"
    a = abs(seconds)
    if a < 1:
        return f"{seconds * 1000:.0f}ms"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if a >= 2 * size:
            return f"{seconds / size:.{digits}f}{unit}"
    return f"{seconds:.{digits}f}s"


def _fmt_s(seconds: float) -> str:
    return human_seconds(seconds) if seconds % 60 else format_duration(timedelta(seconds=seconds))


def freshness_of(
    view: FeatureView,
    feature_times_ms: Sequence[int],
    created_ms: Sequence[int | None],
    now_ms: int,
    *,
    exhaustive: bool = True,
) -> ViewFreshness:
    """Freshness of ``view`` from the sampled rows' ``_ft`` and ``_ct`` (pure; see the module rules)."""
    sla_ms = int(view.freshness_sla.total_seconds() * 1000)
    newest = max(feature_times_ms) if len(feature_times_ms) else None
    lags = np.array(
        [c - f for f, c in zip(feature_times_ms, created_ms, strict=True) if c is not None], dtype=np.float64
    )
    p50 = float(np.quantile(lags, 0.5)) / 1000 if lags.size else None
    p99 = float(np.quantile(lags, 0.99)) / 1000 if lags.size else None
    reasons: list[str] = []
    if sla_breached(newest, now_ms, sla_ms):
        if newest is None:
            reasons.append("no online rows")
        else:
            reasons.append(f"newest row is {_fmt_s((now_ms - newest) / 1000)} old, SLA {_fmt_s(sla_ms / 1000)}")
    if p99 is not None and p99 * 1000 > sla_ms:
        reasons.append(f"p99 visibility lag {_fmt_s(p99)} exceeds SLA {_fmt_s(sla_ms / 1000)}")
    return ViewFreshness(
        view=view.ref,
        sla_s=sla_ms / 1000,
        keys=len(feature_times_ms),
        exhaustive=exhaustive,
        newest_feature_time_ms=newest,
        newest_age_s=None if newest is None else (now_ms - newest) / 1000,
        lag_p50_s=p50,
        lag_p99_s=p99,
        reasons=tuple(reasons),
    )


def view_freshness(
    store: RedisOnlineStore, view: FeatureView, *, sample: int = 2000, now_ms: int | None = None
) -> ViewFreshness:
    """Scan up to ``sample`` online rows of ``view`` and compute its freshness."""
    found = sample_keys(store, view, sample)
    rows = sample_times(store, found.keys)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return freshness_of(
        view, [r.feature_time_ms for r in rows], [r.created_ms for r in rows], now, exhaustive=found.exhaustive
    )
