"""The monitoring report: every check of every view in one structure, as JSON or as text tables.

A view *breaches* when its freshness SLA is broken, a feature drifted past the PSI or KS threshold,
a feature's null rate is above ``null_rate_threshold``, or an audit found mismatches. Dead-lettered
and late events are reported, not breaches (a malformed producer is a data incident, not staleness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from featurestream.monitoring.audit import AuditReport
from featurestream.monitoring.deadletter import SinkCounts
from featurestream.monitoring.drift import FeatureDrift
from featurestream.monitoring.freshness import ViewFreshness, human_seconds
from featurestream.monitoring.jobs import JobHealth
from featurestream.monitoring.quality import FeatureQuality

__all__ = ["MonitorReport", "ViewHealth", "render_table", "render_text"]


@dataclass
class ViewHealth:
    view: str  # name@version
    owner: str = ""
    freshness: ViewFreshness | None = None
    job: JobHealth | None = None
    sinks: SinkCounts | None = None
    quality: list[FeatureQuality] = field(default_factory=list)
    drift: list[FeatureDrift] = field(default_factory=list)
    audit: AuditReport | None = None
    windows: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def breaches(self) -> list[str]:
        out: list[str] = []
        if self.freshness is not None:
            out += [f"freshness: {r}" for r in self.freshness.reasons]
        for d in self.drift:
            if d.psi_breached:
                out.append(f"drift: {d.feature} PSI {d.psi:.3f}")
            if d.ks_breached:
                out.append(f"drift: {d.feature} KS {d.ks:.3f}")
        out += [f"quality: {q.feature} null rate {q.null_rate:.1%}" for q in self.quality if q.breached]
        if self.audit is not None and not self.audit.ok:
            out.append(f"audit: {self.audit.mismatches} mismatches")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "owner": self.owner,
            "breached": bool(self.breaches),
            "breaches": self.breaches,
            "freshness": None if self.freshness is None else self.freshness.to_dict(),
            "job": None if self.job is None else self.job.to_dict(),
            "sinks": None if self.sinks is None else self.sinks.to_dict(),
            "quality": [q.to_dict() for q in self.quality],
            "drift": [d.to_dict() for d in self.drift],
            "audit": None if self.audit is None else self.audit.to_dict(),
            "windows": self.windows,
            "errors": self.errors,
        }


@dataclass
class MonitorReport:
    namespace: str
    generated_at: datetime
    views: list[ViewHealth]

    @property
    def breached(self) -> bool:
        return any(v.breaches for v in self.views)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "generated_at": self.generated_at.isoformat(),
            "breached": self.breached,
            "views": [v.to_dict() for v in self.views],
        }


# --------------------------------------------------------------------------- text


def _style(text: str, bad: bool, color: bool) -> str:
    if not color:
        return text
    import click

    return click.style(text, fg="red", bold=True) if bad else text


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, bad: Sequence[bool] = (), color: bool = False
) -> str:
    """A plain text table; rows flagged in ``bad`` are marked ``!`` (and red when ``color``)."""
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    line = "  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line.rstrip(), "  " + "  ".join("-" * w for w in widths)]
    for i, r in enumerate(rows):
        flag = i < len(bad) and bad[i]
        text = ("! " if flag else "  ") + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        out.append(_style(text.rstrip(), flag, color))
    return "\n".join(out)


def _s(x: float | None, fmt: str = ".1f") -> str:
    return human_seconds(x, 2 if fmt == ".2f" else 1)


def _n(x: float | None, fmt: str = ".3g") -> str:
    return "-" if x is None else f"{x:{fmt}}"


def render_text(report: MonitorReport, *, color: bool = False) -> str:
    """The report as text: a freshness table over all views, then quality, drift and audit per view."""
    out = [f"featurestream monitor — namespace {report.namespace} — {report.generated_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    rows, bad = [], []
    for v in report.views:
        f, j, s = v.freshness, v.job, v.sinks
        rows.append(
            [
                v.view,
                _s(f.sla_s) if f else "-",
                _s(f.newest_age_s) if f else "-",
                _s(f.lag_p50_s, fmt=".2f") if f else "-",
                _s(f.lag_p99_s, fmt=".2f") if f else "-",
                f"{f.keys}{'' if f.exhaustive else '+'}" if f else "-",
                j.state if j else "-",
                _s(j.watermark_age_s) if j else "-",
                "-" if j is None or j.pending_records is None else str(j.pending_records),
                "-" if s is None or s.error else str(s.dead_lettered),
                "-" if s is None or s.error else str(s.late),
                "-" if j is None or j.duplicates is None else str(j.duplicates),
                "BREACH" if f is not None and f.breached else "ok",
            ]
        )
        bad.append(f is not None and f.breached)
    out.append("Freshness")
    headers = [
        "view",
        "sla",
        "newest age",
        "lag p50",
        "lag p99",
        "rows",
        "job",
        "wm age",
        "kafka lag",
        "dlq",
        "late",
        "dups",
        "status",
    ]
    out.append(render_table(headers, rows, bad=bad, color=color))
    for v in report.views:
        out.append("")
        window = v.windows.get("current")
        out.append(f"{v.view}" + (f"  (current window {window['start']} .. {window['end']})" if window else ""))
        for err in v.errors:
            out.append(_style(f"  ! {err}", True, color))
        if v.quality:
            qrows = [
                [
                    q.feature,
                    str(q.rows),
                    f"{q.null_rate:.1%}",
                    f"{q.default_rate:.1%}",
                    _n(q.min),
                    _n(q.max),
                    _n(q.mean),
                    str(q.distinct),
                ]
                for q in v.quality
            ]
            out.append(
                render_table(
                    ["feature", "rows", "null", "default", "min", "max", "mean", "distinct"],
                    qrows,
                    bad=[q.breached for q in v.quality],
                    color=color,
                )
            )
        if v.drift:
            drows = [
                [
                    d.feature,
                    d.kind,
                    _n(d.psi),
                    _n(d.ks),
                    _n(d.ks_pvalue),
                    f"{d.reference_n}/{d.current_n}",
                    "DRIFT" if d.breached else (d.note or "ok"),
                ]
                for d in v.drift
            ]
            out.append(
                render_table(
                    ["feature", "kind", "psi", "ks", "ks p", "ref/cur n", "status"],
                    drows,
                    bad=[d.breached for d in v.drift],
                    color=color,
                )
            )
        if v.audit is not None:
            a = v.audit
            arows = [[fa.feature, str(fa.checked), str(fa.value), str(fa.missing), str(fa.extra)] for fa in a.features]
            out.append(f"  audit: {a.entities} entities ({a.sampled_online} online, {a.sampled_offline} offline)")
            out.append(
                render_table(
                    ["feature", "checked", "value", "missing", "extra"],
                    arows,
                    bad=[fa.mismatches > 0 for fa in a.features],
                    color=color,
                )
            )
        if v.sinks is not None and v.sinks.reasons:
            out.append("  dead-letter reasons: " + ", ".join(f"{k} ({n})" for k, n in v.sinks.reasons.items()))
    breaches = [(v.view, b) for v in report.views for b in v.breaches]
    out.append("")
    if breaches:
        out.append(_style(f"{len(breaches)} breach(es):", True, color))
        out += [_style(f"  {view}: {b}", True, color) for view, b in breaches]
    else:
        out.append("no breaches")
    return "\n".join(out)
