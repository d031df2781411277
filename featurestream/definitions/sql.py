"""Reading definition files: a source's ``CREATE TABLE``, a view's ``SELECT``, a service's YAML.

Parsing here is purely syntactic (regular expressions over the SQL text); the registry later
validates the SQL with Flink's own planner and fills in each view's output schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from featurestream.definitions.header import (
    mapping,
    parse_header,
    positive_duration,
    require,
    snake_name,
    split_top,
)
from featurestream.definitions.model import Column, FeatureService, FeatureView, Source
from featurestream.durations import flink_intervals, parse_flink_interval
from featurestream.errors import DefinitionError

__all__ = [
    "WINDOW_TVFS",
    "WindowParams",
    "parse_feature_service",
    "parse_feature_view",
    "parse_source",
    "read_file",
    "referenced_tables",
    "window_kind",
    "window_params",
]

WINDOW_TVFS = ("TUMBLE", "HOP", "CUMULATE", "SESSION")

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
    name = snake_name(m.group(1), "source name", path, body_line)
    columns: list[Column] = []
    event_time = None
    delay = timedelta(0)
    for part in split_top(m.group(2)):
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
    """The window TVF a SELECT uses (``TUMBLE(TABLE ...``), or None for a row-wise view."""
    upper = sql.upper()
    for tvf in WINDOW_TVFS:
        if re.search(rf"\b{tvf}\s*\(\s*TABLE\b", upper):
            return tvf
    return None


@dataclass(frozen=True)
class WindowParams:
    """The arguments of a view's window TVF: ``step`` is how far apart consecutive windows of one key
    end (TUMBLE size, HOP slide, CUMULATE step, SESSION gap); ``period`` is CUMULATE's max size (the
    span a cumulation restarts after), else ``None``; ``offset`` shifts the epoch alignment."""

    kind: str
    step: timedelta
    period: timedelta | None = None
    offset: timedelta = timedelta(0)


def _tvf_call(sql: str, tvf: str) -> str | None:
    """The text inside the parentheses of the first ``<tvf>(TABLE ...)`` call in ``sql``."""
    m = re.search(rf"\b{tvf}\s*\(\s*TABLE\b", sql, re.I)
    if m is None:
        return None
    start = sql.index("(", m.start())
    depth = 0
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return sql[start + 1 : i]
    return None


def window_params(sql: str) -> WindowParams | None:
    """The window TVF's intervals (see :class:`WindowParams`), or None for a row-wise view or a call
    whose intervals are not plain ``INTERVAL 'n' UNIT`` literals."""
    kind = window_kind(sql)
    call = _tvf_call(sql, kind) if kind else None
    if kind is None or call is None:
        return None
    ivs = flink_intervals(call)
    need = {"TUMBLE": 1, "SESSION": 1, "HOP": 2, "CUMULATE": 2}[kind]
    if len(ivs) < need:
        return None
    offset = ivs[need] if len(ivs) > need else timedelta(0)
    if kind == "HOP":
        return WindowParams(kind, ivs[0], offset=offset)  # HOP(data, time, slide, size [, offset])
    if kind == "CUMULATE":
        return WindowParams(kind, ivs[0], ivs[1], offset)  # CUMULATE(data, time, step, size [, offset])
    return WindowParams(kind, ivs[0], offset=offset)


def parse_feature_view(text: str, path: str = "", namespace: str = "default") -> FeatureView:
    """Parse a feature view file: header (name, version, entities, ttl, ...) + one SELECT."""
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
    name_v, name_line = require(header, "name", path, "user_clicks_10m")
    name = snake_name(name_v, "view name", path, name_line)
    ver_v, ver_line = require(header, "version", path, "1")
    if not ver_v.isdigit() or int(ver_v) < 1:
        raise DefinitionError(f"version must be a positive integer, found {ver_v!r}", path=path, line=ver_line)
    ent_v, ent_line = require(header, "entities", path, "user_id")
    entities = tuple(snake_name(e.strip(), "entity", path, ent_line) for e in ent_v.split(","))
    if not body.upper().startswith(("SELECT", "WITH")):
        raise DefinitionError("expected one SELECT statement after the header", path=path, line=body_line)
    defaults_v, defaults_line = header.get("defaults", ("", 0))
    tags_v, tags_line = header.get("tags", ("", 0))
    view = FeatureView(
        name=name,
        version=int(ver_v),
        entities=entities,
        sql=body,
        ttl=positive_duration(header, "ttl", path, None),
        freshness_sla=positive_duration(header, "freshness_sla", path, "5m"),
        owner=header.get("owner", ("", 0))[0],
        description=header.get("description", ("", 0))[0],
        defaults=mapping(defaults_v, "defaults", path, defaults_line),
        tags={k: str(v) for k, v in mapping(tags_v, "tags", path, tags_line).items()},
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
        name=snake_name(name, "feature service name", path, 1),
        version=version,
        features=tuple(refs),
        namespace=namespace,
        owner=str(data.get("owner", "")),
        description=str(data.get("description", "")),
    )


def read_file(path: Path) -> str:
    """A definition file's text; an unreadable file is a DefinitionError naming it."""
    try:
        return path.read_text()
    except OSError as exc:
        raise DefinitionError(f"cannot read: {exc}", path=str(path)) from exc
