"""``plan`` and ``apply``: read the feature repo, validate everything, register atomically.

Order of checks: parse every file (header, syntax) -> source compatibility with what is
registered -> Flink's planner on each new or changed view (output schema, types) -> contract
checks (entities, feature_time, defaults) -> version rules. Every problem found is reported
together; when there is any, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from featurestream.columns import FEATURE_TIME
from featurestream.config import Config
from featurestream.definitions import (
    Column,
    FeatureService,
    FeatureView,
    Source,
    parse_feature_service,
    parse_feature_view,
    parse_source,
    read_file,
)
from featurestream.errors import DefinitionError, FeatureStreamError, RegistryError
from featurestream.naming import dlq_topic, job_name, late_topic, offline_dir, source_topic
from featurestream.online.keys import entity_key
from featurestream.registry import ON_DEMAND_VIEW, Registry, parse_ref
from featurestream.reserved import reserved_problems, reserved_source_problems

__all__ = ["ApplyError", "Plan", "apply", "load_repo", "plan"]

_WIDENING = {
    "TINYINT": 0,
    "SMALLINT": 1,
    "INT": 2,
    "INTEGER": 2,
    "BIGINT": 3,
}
_FLOAT_WIDENING = {"FLOAT": 0, "DOUBLE": 1}


class ApplyError(FeatureStreamError):
    """``apply`` refused the repo; ``problems`` lists every reason (file:line: message)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"apply refused, nothing was registered ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        )


@dataclass
class Repo:
    sources: list[Source] = field(default_factory=list)
    views: list[FeatureView] = field(default_factory=list)
    services: list[FeatureService] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Plan:
    new_views: list[FeatureView] = field(default_factory=list)
    unchanged_views: list[FeatureView] = field(default_factory=list)
    # unchanged views registered before their sources' watermark delay was recorded: saved with it
    recorded_views: list[FeatureView] = field(default_factory=list)
    new_sources: list[Source] = field(default_factory=list)
    changed_sources: list[tuple[Source, list[str]]] = field(default_factory=list)  # (source, warnings)
    services: list[FeatureService] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> list[str]:
        out = [f"+ view {v.ref} ({len(v.features)} features, {v.window or 'row-wise'})" for v in self.new_views]
        out += [f"= view {v.ref} unchanged" for v in self.unchanged_views]
        out += [f"+ source {s.name} (topic {s.topic})" for s in self.new_sources]
        out += [f"~ source {s.name}: {'; '.join(w) or 'compatible change'}" for s, w in self.changed_sources]
        out += [f"+ feature service {s.name}@{s.version} ({len(s.features)} features)" for s in self.services]
        out += [f"! warning: {w}" for w in self.warnings]
        out += [f"x {p}" for p in self.problems]
        return out


def load_repo(config: Config) -> Repo:
    """Parse ``sql/sources``, ``sql/features`` and ``sql/services`` under the repo root."""
    repo = Repo()
    root = Path(config.root)
    ns = config.namespace

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)

    for kind, pattern, parse in (
        ("sources", "sql/sources/*.sql", lambda t, p: parse_source(t, p, ns)),
        ("views", "sql/features/*.sql", lambda t, p: parse_feature_view(t, p, ns)),
        ("services", "sql/services/*.yaml", lambda t, p: parse_feature_service(t, p, ns)),
    ):
        for path in sorted(root.glob(pattern)):
            try:
                getattr(repo, kind).append(parse(read_file(path), rel(path)))
            except DefinitionError as exc:
                repo.problems.append(str(exc))
    seen: dict[tuple[str, int], str] = {}
    for v in repo.views:
        key = (v.name, v.version)
        if key in seen:
            repo.problems.append(f"{v.path}: view {v.ref} is also defined in {seen[key]}")
        seen[key] = v.path
    return repo


def _source_changes(old: dict[str, Any], new: Source) -> tuple[list[str], list[str]]:
    """(warnings, refusals) for a source schema change, by compatibility class."""
    warnings: list[str] = []
    refusals: list[str] = []
    old_cols = {c["name"]: c for c in old["columns"]}
    new_cols = {c.name: c for c in new.columns}
    removed = [n for n in old_cols if n not in new_cols]
    added = [n for n in new_cols if n not in old_cols]
    if removed and added:
        refusals.append(
            f"class RENAME: columns {removed} removed and {added} added (a rename breaks running jobs "
            "and history); add the new column as optional and keep the old one"
        )
    elif removed:
        refusals.append(f"class REMOVE: columns {removed} removed; keep them (mark them optional) instead")
    for n in added if not removed else []:
        if not new_cols[n].nullable:
            refusals.append(
                f"class ADD_REQUIRED: new column {n!r} is NOT NULL; new fields must be optional (old events lack them)"
            )
        else:
            warnings.append(f"class ADD_OPTIONAL: column {n!r} added (old events read it as NULL)")
    for n, c in new_cols.items():
        if n not in old_cols:
            continue
        before, after = old_cols[n]["dtype"].upper(), c.dtype.upper()
        if before == after:
            if old_cols[n]["nullable"] and not c.nullable:
                refusals.append(f"class NARROWING: column {n!r} became NOT NULL")
            continue
        for ladder in (_WIDENING, _FLOAT_WIDENING):
            if before in ladder and after in ladder:
                if ladder[after] > ladder[before]:
                    warnings.append(f"class WIDENING: column {n!r} {before} -> {after} (accepted; check consumers)")
                else:
                    refusals.append(f"class NARROWING: column {n!r} {before} -> {after} loses values")
                break
        else:
            if before in _WIDENING and after in _FLOAT_WIDENING:
                warnings.append(f"class WIDENING: column {n!r} {before} -> {after} (accepted; check consumers)")
            else:
                refusals.append(f"class INCOMPATIBLE: column {n!r} changes type {before} -> {after}")
    if old.get("event_time") != new.event_time:
        refusals.append(f"class INCOMPATIBLE: event-time column changes {old.get('event_time')} -> {new.event_time}")
    return warnings, refusals


_COMPATIBLE_DEFAULT = {
    "numeric": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
}


def _kind(dtype: str) -> str:
    base = dtype.upper()
    if base.startswith(("ARRAY", "MULTISET")):
        return "array"
    if base.startswith(("CHAR", "VARCHAR", "STRING")):
        return "string"
    if base.startswith("BOOLEAN"):
        return "boolean"
    if base.startswith(("TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL")):
        return "numeric"
    return "other"


def _contract_problems(view: FeatureView, columns: list[Column]) -> list[str]:
    where = f"{view.path}:{view.sql_line}"
    names = [c.name for c in columns]
    problems = []
    for e in view.entities:
        if e not in names:
            problems.append(f"{where}: view {view.ref} must output its entity column {e!r} (outputs {names})")
    ft = next((c for c in columns if c.name == FEATURE_TIME), None)
    if ft is None:
        problems.append(f"{where}: view {view.ref} must output '{FEATURE_TIME}' (e.g. 'window_end AS feature_time')")
    elif not ft.dtype.upper().startswith("TIMESTAMP"):
        problems.append(f"{where}: '{FEATURE_TIME}' must be a TIMESTAMP, found {ft.dtype}")
    feats = [c for c in columns if c.name not in view.entities and c.name != FEATURE_TIME]
    if not feats:
        problems.append(f"{where}: view {view.ref} outputs no feature columns")
    by_name = {c.name: c for c in feats}
    for name, value in view.defaults.items():
        col = by_name.get(name)
        if col is None:
            problems.append(
                f"{view.path}: default for {name!r}, which is not a feature of {view.ref} (features: {sorted(by_name)})"
            )
            continue
        kind = _kind(col.dtype)
        ok_types = _COMPATIBLE_DEFAULT.get(kind)
        if (
            value is not None
            and ok_types is not None
            and (not isinstance(value, ok_types) or (kind == "numeric" and isinstance(value, bool)))
        ):
            problems.append(f"{view.path}: default {value!r} for {name!r} does not fit its type {col.dtype}")
    if view.ttl < view.freshness_sla:
        problems.append(f"{view.path}: ttl ({view.ttl}) is shorter than freshness_sla ({view.freshness_sla})")
    return problems


def plan(config: Config, registry: Registry | None = None, *, planner: Any = None) -> Plan:
    """What ``apply`` would do; validates everything, writes nothing."""
    registry = registry or Registry.open(config)
    repo = load_repo(config)
    out = Plan(problems=list(repo.problems))
    ns = config.namespace
    sources = {s.name: s for s in repo.sources}
    registered_sources = {s["name"]: s for s in registry.sources(ns)}
    for s in repo.sources:
        out.problems += reserved_source_problems(s, config.root)
        old = registered_sources.get(s.name)
        if old is None:
            out.new_sources.append(s)
            continue
        warnings, refusals = _source_changes(old, s)
        out.problems += [f"{s.path}: source {s.name}: {r}" for r in refusals]
        if warnings or old.get("sql", "").split() != s.sql.split():
            out.changed_sources.append((s, warnings))
            out.warnings += [f"source {s.name}: {w}" for w in warnings]
    to_validate: list[FeatureView] = []
    failed: set[str] = set()
    for v in repo.views:
        missing = [n for n in v.sources if n not in sources]
        if missing:
            out.problems.append(
                f"{v.path}:{v.sql_line}: view {v.ref} reads unknown source(s) {missing} (defined: {sorted(sources)})"
            )
            continue
        registered: FeatureView | None
        try:
            registered = registry.get_view(ns, v.name, v.version)
        except RegistryError:
            registered = None
        if registered is not None:
            if " ".join(registered.sql.split()) != " ".join(v.sql.split()):
                out.problems.append(
                    f"{v.path}:{v.sql_line}: the SQL of registered view {v.ref} changed; registered versions are "
                    f"immutable, bump '-- version: {v.version}' to {v.version + 1} (both versions then serve)"
                )
                continue
            changed_source = any(s.name in v.sources for s, _ in out.changed_sources)
            if not changed_source and registered.defaults == v.defaults and registered.ttl == v.ttl:
                if registered.watermark_delay is None and v.sources:  # registered before it was recorded
                    registered = replace(registered, watermark_delay=_watermark_delay(v, sources))
                    out.recorded_views.append(registered)
                out.unchanged_views.append(registered)
                continue
        to_validate.append(v)
    if to_validate and not out.problems:
        if planner is None:
            from featurestream.jobs.planner import FlinkPlanner

            planner = FlinkPlanner(config)
        for v, planned in zip(to_validate, planner.plan_views(to_validate, sources), strict=True):
            if isinstance(planned, DefinitionError):
                if "was rejected (see above)" not in str(planned):
                    out.problems.append(str(planned))
                failed.add(v.name)
                continue
            columns = planned
            problems = reserved_problems(v, [c.name for c in columns]) + _contract_problems(v, columns)
            if problems:
                out.problems += problems
                failed.add(v.name)
                continue
            delay = _watermark_delay(v, sources) if v.sources else None
            out.new_views.append(replace(v.with_features(columns), watermark_delay=delay))
    known = {(v.name, v.version): v for v in [*out.new_views, *out.unchanged_views, *registry.views(ns)]}
    latest: dict[str, int] = {}
    for name, version in known:
        latest[name] = max(latest.get(name, 0), version)
    for svc in repo.services:
        for ref in svc.features:
            r = parse_ref(ref) if ":" in ref else None
            if r is None or r.view == ON_DEMAND_VIEW or r.view in failed:
                continue
            view = known.get((r.view, r.version or latest.get(r.view, 0)))
            if view is None:
                out.problems.append(f"sql/services/{svc.name}: unknown feature view in {ref!r}")
            elif view.features and r.feature not in view.feature_names:
                out.problems.append(
                    f"sql/services/{svc.name}: {ref!r}: {view.ref} has no feature {r.feature!r} "
                    f"(features: {', '.join(view.feature_names)})"
                )
        out.services.append(svc)
    out.lineage = _lineage(config, [*out.new_views, *out.unchanged_views], sources)
    return out


def _watermark_delay(view: FeatureView, sources: dict[str, Source]) -> timedelta:
    """The longest watermark delay of the view's sources (a window closes that much after its end;
    semantics.validity counts it)."""
    return max(sources[s].watermark_delay for s in view.sources)


def _lineage(config: Config, views: list[FeatureView], sources: dict[str, Source]) -> dict[str, Any]:
    out = {}
    for v in views:
        out[f"{v.namespace}/{v.ref}"] = {
            "sources": [
                {"name": s, "topic": source_topic(config.kafka, sources[s].topic) if s in sources else None}
                for s in v.sources
            ],
            "job": job_name(v),
            "sinks": {
                "online": "redis: " + entity_key(v.namespace, v.name, v.version, "<entity>"),
                "offline": offline_dir(config.offline_location, v),
                "dead_letter": dlq_topic(v, config.kafka),
                "late": late_topic(v, config.kafka),
            },
        }
    return out


def apply(config: Config, registry: Registry | None = None, *, planner: Any = None) -> Plan:
    """Validate and register the repo in one atomic write. Raises ApplyError listing every problem."""
    registry = registry or Registry.open(config)
    result = plan(config, registry, planner=planner)
    if not result.ok:
        raise ApplyError(result.problems)
    sources = [*result.new_sources, *(s for s, _ in result.changed_sources)]
    views = [*result.new_views, *result.recorded_views]
    registry.save(sources=sources, views=views, services=result.services, lineage=result.lineage)
    return result
