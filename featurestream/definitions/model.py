"""The definition model: sources, feature views and feature services, and their dict form.

These are the values the registry stores and every layer reads. ``to_dict`` / ``from_dict`` round-trip
exactly (the registry file is their JSON); a view's ``features`` stay empty until the registry has
inferred its output schema with Flink.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from featurestream.columns import FEATURE_TIME
from featurestream.durations import format_duration, parse_duration

__all__ = ["Column", "Feature", "FeatureService", "FeatureView", "Source"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # Flink SQL type, e.g. "STRING", "DOUBLE", "ARRAY<FLOAT>", "TIMESTAMP_LTZ(3)"
    nullable: bool = True


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    default: Any = None


@dataclass(frozen=True)
class Source:
    """A stream of events: schema, event time and watermark, and where it comes from."""

    name: str
    topic: str
    columns: tuple[Column, ...]
    event_time: str
    watermark_delay: timedelta
    event_id: str | None
    format: str = "json"
    description: str = ""
    path: str = ""
    sql: str = ""
    namespace: str = "default"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "topic": self.topic,
            "columns": [{"name": c.name, "dtype": c.dtype, "nullable": c.nullable} for c in self.columns],
            "event_time": self.event_time,
            "watermark_delay": format_duration(self.watermark_delay),
            "event_id": self.event_id,
            "format": self.format,
            "description": self.description,
            "path": self.path,
            "sql": self.sql,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        return cls(
            name=d["name"],
            topic=d["topic"],
            columns=tuple(Column(c["name"], c["dtype"], c["nullable"]) for c in d["columns"]),
            event_time=d["event_time"],
            watermark_delay=parse_duration(d["watermark_delay"]),
            event_id=d.get("event_id"),
            format=d.get("format", "json"),
            description=d.get("description", ""),
            path=d.get("path", ""),
            sql=d.get("sql", ""),
            namespace=d.get("namespace", "default"),
        )


@dataclass(frozen=True)
class FeatureView:
    """One versioned feature view: a SELECT over a source, keyed by entities.

    ``features`` is empty until the registry has inferred the output schema with Flink.
    """

    name: str
    version: int
    entities: tuple[str, ...]
    sql: str
    ttl: timedelta
    freshness_sla: timedelta
    owner: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    namespace: str = "default"
    sources: tuple[str, ...] = ()
    features: tuple[Feature, ...] = ()
    window: str | None = None  # TUMBLE / HOP / CUMULATE / SESSION, or None for a row-wise view
    # The longest watermark delay of the view's sources, recorded by `apply` (None: registered before
    # it was recorded; semantics then counts no delay).
    watermark_delay: timedelta | None = None
    path: str = ""
    sql_line: int = 1  # line in `path` where the SQL starts, for error positions

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def table_name(self) -> str:
        """How the view is named as a table (DuckDB ad-hoc SQL, Flink sinks)."""
        return f"{self.name}_v{self.version}"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def with_features(self, columns: list[Column]) -> FeatureView:
        """Fill ``features`` from the query's output columns (minus entities and feature_time)."""
        feats = tuple(
            Feature(c.name, c.dtype, self.defaults.get(c.name))
            for c in columns
            if c.name not in self.entities and c.name != FEATURE_TIME
        )
        return replace(self, features=feats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "namespace": self.namespace,
            "entities": list(self.entities),
            "ttl": format_duration(self.ttl),
            "freshness_sla": format_duration(self.freshness_sla),
            "owner": self.owner,
            "description": self.description,
            "defaults": self.defaults,
            "tags": self.tags,
            "sources": list(self.sources),
            "window": self.window,
            "watermark_delay": None if self.watermark_delay is None else format_duration(self.watermark_delay),
            "features": [{"name": f.name, "dtype": f.dtype, "default": f.default} for f in self.features],
            "sql": self.sql,
            "path": self.path,
            "sql_line": self.sql_line,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureView:
        return cls(
            name=d["name"],
            version=int(d["version"]),
            namespace=d.get("namespace", "default"),
            entities=tuple(d["entities"]),
            ttl=parse_duration(d["ttl"]),
            freshness_sla=parse_duration(d["freshness_sla"]),
            owner=d.get("owner", ""),
            description=d.get("description", ""),
            defaults=dict(d.get("defaults", {})),
            tags=dict(d.get("tags", {})),
            sources=tuple(d.get("sources", ())),
            window=d.get("window"),
            watermark_delay=parse_duration(d["watermark_delay"]) if d.get("watermark_delay") else None,
            features=tuple(Feature(f["name"], f["dtype"], f.get("default")) for f in d.get("features", ())),
            sql=d["sql"],
            path=d.get("path", ""),
            sql_line=int(d.get("sql_line", 1)),
        )


@dataclass(frozen=True)
class FeatureService:
    """A named, versioned list of ``view[@version]:feature`` references for one model."""

    name: str
    version: int
    features: tuple[str, ...]
    namespace: str = "default"
    owner: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "namespace": self.namespace,
            "features": list(self.features),
            "owner": self.owner,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureService:
        return cls(
            name=d["name"],
            version=int(d["version"]),
            features=tuple(d["features"]),
            namespace=d.get("namespace", "default"),
            owner=d.get("owner", ""),
            description=d.get("description", ""),
        )
