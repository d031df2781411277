"""Feature-repo definitions: sources, feature views and feature services, parsed from files.

A definition file starts with a header of ``-- key: value`` lines followed by SQL. Parsing here
is purely syntactic; the registry later validates the SQL with Flink's own planner and fills in
each view's output schema (``FeatureView.features``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from featurestream.columns import FEATURE_TIME
from featurestream.durations import format_duration, parse_duration, parse_flink_interval
from featurestream.errors import DefinitionError

__all__ = [
    "Column",
    "Feature",
    "FeatureService",
    "FeatureView",
    "Source",
    "parse_feature_service",
    "parse_feature_view",
    "parse_header",
    "parse_source",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_LINE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
WINDOW_TVFS = ("TUMBLE", "HOP", "CUMULATE", "SESSION")


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


# --------------------------------------------------------------------------- parsing helpers


def parse_header(text: str, path: str = "") -> tuple[dict[str, tuple[str, int]], str, int]:
    """Split a definition into ``{key: (value, line)}``, the body, and the body's first line."""
    header: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        m = _HEADER_LINE.match(stripped)
        if m:
            key = m.group(1)
            if key in header:
                raise DefinitionError(f"header key {key!r} appears twice", path=path, line=i + 1)
            header[key] = (m.group(2), i + 1)
            continue
        if stripped.startswith("--"):
            continue  # a plain comment inside the header
        body_start = i
        break
    body = "\n".join(lines[body_start:]).strip().rstrip(";").strip()
    return header, body, body_start + 1


def _require(header: dict[str, tuple[str, int]], key: str, path: str, example: str) -> tuple[str, int]:
    if key not in header or not header[key][0]:
        raise DefinitionError(
            f"missing header line '-- {key}: ...'", path=path, line=1, hint=f"add e.g. '-- {key}: {example}'"
        )
    return header[key]


def _name(value: str, what: str, path: str, line: int) -> str:
    if not _NAME.match(value):
        raise DefinitionError(
            f"{what} must be snake_case (a-z, 0-9, _; starting with a letter), found {value!r}",
            path=path,
            line=line,
        )
    return value


def _duration(header: dict[str, tuple[str, int]], key: str, path: str, default: str | None) -> timedelta:
    if key not in header:
        if default is None:
            _require(header, key, path, "1h")
        return parse_duration(str(default))
    value, line = header[key]
    try:
        td = parse_duration(value)
    except ValueError as exc:
        raise DefinitionError(str(exc), path=path, line=line) from exc
    if td <= timedelta(0):
        raise DefinitionError(f"{key} must be positive, found {value!r}", path=path, line=line)
    return td


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text.strip("'\"")


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets, parentheses and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"`":
            quote = ch
        elif ch in "([<{":
            depth += 1
        elif ch in ")]>}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def _mapping(value: str, what: str, path: str, line: int) -> dict[str, Any]:
    """``{"a": 1}`` or ``a=1, b=[0.0, 0.0]`` -> dict."""
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{what} is not a valid JSON object: {exc}", path=path, line=line) from exc
        if not isinstance(parsed, dict):
            raise DefinitionError(f"{what} must be a JSON object", path=path, line=line)
        return parsed
    out: dict[str, Any] = {}
    for part in _split_top(value):
        if "=" not in part:
            raise DefinitionError(
                f"{what}: expected name=value, found {part!r}",
                path=path,
                line=line,
                hint=f"write '-- {what}: a=0, b=0.0' or a JSON object",
            )
        k, v = part.split("=", 1)
        out[k.strip()] = _literal(v)
    return out


# --------------------------------------------------------------------------- sources

_CREATE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\s*\((.*)\)\s*$", re.I | re.S)
_WATERMARK = re.compile(r"^WATERMARK\s+FOR\s+`?(\w+)`?\s+AS\s+(.+)$", re.I | re.S)
_COLUMN = re.compile(r"^`?(\w+)`?\s+(.+?)(\s+NOT\s+NULL)?$", re.I | re.S)


def parse_source(text: str, path: str = "", namespace: str = "default") -> Source:
    """Parse a source file: header (``topic``, ``event_id``, ``format``) + ``CREATE TABLE`` without WITH."""
    header, body, body_line = parse_header(text, path)
    m = _CREATE.match(body)
    if not m:
        raise DefinitionError(
            "expected 'CREATE TABLE name (columns..., WATERMARK FOR col AS ...)' after the header",
            path=path,
            line=body_line,
            hint="connection options (WITH ...) come from featurestream.yaml; leave them out",
        )
    name = _name(m.group(1), "source name", path, body_line)
    columns: list[Column] = []
    event_time = None
    delay = timedelta(0)
    for part in _split_top(m.group(2)):
        wm = _WATERMARK.match(part)
        if wm:
            event_time = wm.group(1)
            delay = parse_flink_interval(wm.group(2)) or timedelta(0)
            continue
        if part.upper().startswith(("PRIMARY KEY", "CONSTRAINT")):
            continue
        cm = _COLUMN.match(part)
        if not cm:
            raise DefinitionError(f"cannot read column definition {part!r}", path=path, line=body_line)
        columns.append(Column(cm.group(1), cm.group(2).strip().upper(), nullable=cm.group(3) is None))
    if event_time is None:
        raise DefinitionError(
            "source has no watermark",
            path=path,
            line=body_line,
            hint="add 'WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND'",
        )
    src = Source(
        name=name,
        topic=header.get("topic", (name, 0))[0],
        columns=tuple(columns),
        event_time=event_time,
        watermark_delay=delay,
        event_id=header["event_id"][0] if "event_id" in header else None,
        format=header.get("format", ("json", 0))[0],
        description=header.get("description", ("", 0))[0],
        path=path,
        sql=body,
        namespace=namespace,
    )
    ts = src.column(event_time)
    if ts is None or not ts.dtype.startswith("TIMESTAMP"):
        raise DefinitionError(
            f"watermark column {event_time!r} must be a TIMESTAMP or TIMESTAMP_LTZ column of the source",
            path=path,
            line=body_line,
        )
    if src.event_id is not None and src.column(src.event_id) is None:
        raise DefinitionError(
            f"event_id column {src.event_id!r} is not a column of the source",
            path=path,
            line=header["event_id"][1],
        )
    return src


# --------------------------------------------------------------------------- feature views

_FROM_TABLE = re.compile(r"\bTABLE\s+`?(\w+)`?", re.I)
_FROM_PLAIN = re.compile(r"\b(?:FROM|JOIN)\s+`?(\w+)`?", re.I)


def referenced_tables(sql: str) -> tuple[str, ...]:
    """Tables a SELECT reads (``FROM x``, ``JOIN x``, ``TABLE x`` inside window TVFs)."""
    names: list[str] = []
    for rx in (_FROM_TABLE, _FROM_PLAIN):
        for m in rx.finditer(sql):
            n = m.group(1)
            if n.upper() not in ("TABLE", "LATERAL", "UNNEST") and n not in names:
                names.append(n)
    return tuple(names)


def window_kind(sql: str) -> str | None:
    upper = sql.upper()
    for tvf in WINDOW_TVFS:
        if re.search(rf"\b{tvf}\s*\(\s*TABLE\b", upper):
            return tvf
    return None


def parse_feature_view(text: str, path: str = "", namespace: str = "default") -> FeatureView:
    header, body, body_line = parse_header(text, path)
    known = {
        "name",
        "version",
        "entities",
        "ttl",
        "freshness_sla",
        "owner",
        "description",
        "defaults",
        "tags",
    }
    for key, (_, line) in header.items():
        if key not in known:
            raise DefinitionError(
                f"unknown header key {key!r}", path=path, line=line, hint=f"use one of {', '.join(sorted(known))}"
            )
    name_v, name_line = _require(header, "name", path, "user_clicks_10m")
    name = _name(name_v, "view name", path, name_line)
    ver_v, ver_line = _require(header, "version", path, "1")
    if not ver_v.isdigit() or int(ver_v) < 1:
        raise DefinitionError(f"version must be a positive integer, found {ver_v!r}", path=path, line=ver_line)
    ent_v, ent_line = _require(header, "entities", path, "user_id")
    entities = tuple(_name(e.strip(), "entity", path, ent_line) for e in ent_v.split(","))
    if not body.upper().startswith(("SELECT", "WITH")):
        raise DefinitionError("expected one SELECT statement after the header", path=path, line=body_line)
    defaults_v, defaults_line = header.get("defaults", ("", 0))
    tags_v, tags_line = header.get("tags", ("", 0))
    view = FeatureView(
        name=name,
        version=int(ver_v),
        entities=entities,
        sql=body,
        ttl=_duration(header, "ttl", path, None),
        freshness_sla=_duration(header, "freshness_sla", path, "5m"),
        owner=header.get("owner", ("", 0))[0],
        description=header.get("description", ("", 0))[0],
        defaults=_mapping(defaults_v, "defaults", path, defaults_line),
        tags={k: str(v) for k, v in _mapping(tags_v, "tags", path, tags_line).items()},
        namespace=namespace,
        sources=referenced_tables(body),
        window=window_kind(body),
        path=path,
        sql_line=body_line,
    )
    return view


def parse_feature_service(text: str, path: str = "", namespace: str = "default") -> FeatureService:
    """A feature service file (``sql/services/*.yaml``): name, version, owner, description, features."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DefinitionError(f"not valid YAML: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise DefinitionError("expected a mapping with name, version and features", path=path, line=1)
    unknown = set(data) - {"name", "version", "owner", "description", "features"}
    if unknown:
        raise DefinitionError(
            f"unknown keys {sorted(unknown)}", path=path, hint="use name, version, owner, description, features"
        )
    name = str(data.get("name", ""))
    if not name:
        raise DefinitionError("missing 'name'", path=path, line=1, hint="add e.g. 'name: fraud_model'")
    version = data.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise DefinitionError(f"version must be a positive integer, found {version!r}", path=path)
    refs = data.get("features") or []
    if not isinstance(refs, list) or not refs:
        raise DefinitionError(
            "'features' must list at least one 'view[@version]:feature'",
            path=path,
            hint="features: [user_clicks:clicks_10m]",
        )
    for ref in refs:
        if not isinstance(ref, str) or ":" not in ref:
            raise DefinitionError(f"expected 'view[@version]:feature', found {ref!r}", path=path)
    return FeatureService(
        name=_name(name, "feature service name", path, 1),
        version=version,
        features=tuple(refs),
        namespace=namespace,
        owner=str(data.get("owner", "")),
        description=str(data.get("description", "")),
    )


def read_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise DefinitionError(f"cannot read: {exc}", path=str(path)) from exc
