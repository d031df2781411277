"""A Feast feature repo mirroring the registered definitions, served by ``featurestream serve``.

The rule this module owns: what a Feast 0.67 SDK user sees of a featurestream namespace.

- every view name becomes one Feast ``FeatureView`` of that name, with the schema, entities and
  max age (``semantics.max_age``, the TTL the server applies) of its **latest** version; older
  versions stay reachable by reference (``view@v1:feature``), which the server resolves;
- every entity column becomes a Feast ``Entity`` (join key = the column, type from the source);
- every feature service becomes a Feast ``FeatureService`` of the same name. Feast's remote online
  store sends only the service's *name*, so the server answers with the service as registered here
  (pinned versions, on-demand features included); the Feast projection lists what Feast can name;
- ``feature_store.yaml`` uses Feast's ``remote`` online store pointed at the server URL; with API
  keys configured it asks for ``auth: kubernetes`` so Feast sends ``Authorization: Bearer <key>``
  from ``LOCAL_K8S_TOKEN`` (the key itself is never written to the repo).

Rendering is pure (:func:`render_feast_repo` returns file name -> text); :func:`write_feast_repo`
writes the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurestream.columns import FEATURE_TIME
from featurestream.definitions import FeatureService, FeatureView
from featurestream.errors import FeatureStreamError
from featurestream.naming import offline_dir
from featurestream.registry import ON_DEMAND_VIEW, parse_ref
from featurestream.semantics import max_age

__all__ = ["DEFINITIONS_FILE", "FeastExportError", "FeastRepo", "feast_type", "render_feast_repo", "write_feast_repo"]

DEFINITIONS_FILE = "featurestream_repo.py"
_SCALARS = {
    "STRING": "String",
    "VARCHAR": "String",
    "CHAR": "String",
    "BIGINT": "Int64",
    "INT": "Int32",
    "INTEGER": "Int32",
    "SMALLINT": "Int32",
    "TINYINT": "Int32",
    "DOUBLE": "Float64",
    "DECIMAL": "Float64",
    "FLOAT": "Float32",
    "REAL": "Float32",
    "BOOLEAN": "Bool",
    "BYTES": "Bytes",
    "VARBINARY": "Bytes",
    "BINARY": "Bytes",
    "TIMESTAMP": "UnixTimestamp",
    "TIMESTAMP_LTZ": "UnixTimestamp",
    "DATE": "UnixTimestamp",
}
_VALUE_TYPES = {"String": "STRING", "Int64": "INT64", "Int32": "INT32", "Float64": "DOUBLE", "Float32": "FLOAT"}
_VALUE_TYPES.update({"Bool": "BOOL", "Bytes": "BYTES", "UnixTimestamp": "UNIX_TIMESTAMP"})


class FeastExportError(FeatureStreamError):
    """The registry holds something a Feast repo cannot express, or the target folder is unusable."""


@dataclass(frozen=True)
class FeastRepo:
    """What to export: the namespace's latest views, its services and sources, and where things live."""

    project: str
    url: str
    views: Sequence[FeatureView]
    services: Sequence[FeatureService]
    sources: Sequence[dict[str, Any]]
    offline_root: str
    auth: bool = False


def feast_type(flink_dtype: str) -> str:
    """The Feast type expression (``feast.types``) of a Flink SQL type: ``DOUBLE`` -> ``Float64``,
    ``ARRAY<BIGINT>`` -> ``Array(Int64)``. Raises FeastExportError for a type Feast cannot hold."""
    t = flink_dtype.strip().upper().removesuffix(" NOT NULL").strip()
    if t.startswith("ARRAY<") and t.endswith(">"):
        inner = feast_type(t[6:-1])
        if inner.startswith("Array("):
            raise FeastExportError(
                f"expected a scalar or a one-level array type for Feast, found {flink_dtype!r}",
                hint="flatten the nested array in the view's SELECT, or leave the feature out of Feast",
            )
        return f"Array({inner})"
    base = re.split(r"[(\s]", t, maxsplit=1)[0]
    if base in _SCALARS:
        return _SCALARS[base]
    raise FeastExportError(
        f"expected a Flink type with a Feast equivalent ({', '.join(sorted(_SCALARS))} or ARRAY<...>), "
        f"found {flink_dtype!r}",
        hint="CAST the column to one of these types in the view's SELECT",
    )


def _ident(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"


def _project_name(project: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_]", "_", project).strip("_") or "featurestream"
    return name if name[0].isalpha() else f"fs_{name}"


def latest_views(views: Iterable[FeatureView]) -> list[FeatureView]:
    """The latest version of each view name, by name."""
    latest: dict[str, FeatureView] = {}
    for v in views:
        if v.name not in latest or v.version > latest[v.name].version:
            latest[v.name] = v
    return [latest[n] for n in sorted(latest)]


def _entity_types(repo: FeastRepo) -> dict[str, str]:
    types: dict[str, str] = {}
    by_name = {s["name"]: s for s in repo.sources}
    for v in repo.views:
        for e in v.entities:
            found = "String"
            for src in v.sources:
                col = next((c for c in by_name.get(src, {}).get("columns", []) if c["name"] == e), None)
                if col is not None:
                    found = feast_type(col["dtype"])
            if found not in _VALUE_TYPES:
                raise FeastExportError(
                    f"entity column {e!r} of view {v.ref} has type {found}: expected a scalar key type",
                    hint="use a STRING or BIGINT entity column",
                )
            types.setdefault(e, found)
    return types


def _service_projection(svc: FeatureService, views: dict[str, FeatureView]) -> tuple[list[str], list[str]]:
    """(Feast projections, comments on what Feast cannot name) for one service."""
    by_view: dict[str, list[str]] = {}
    notes: list[str] = []
    for text in svc.features:
        ref = parse_ref(text)
        if ref.view == ON_DEMAND_VIEW:
            notes.append(f"{text}: on-demand, computed by the server (no Feast OnDemandFeatureView)")
            continue
        fv = views.get(ref.view)
        if fv is None or fv.feature(ref.feature) is None:
            notes.append(f"{text}: not in the latest version of {ref.view}; served by the server as pinned")
            continue
        if ref.version is not None and ref.version != fv.version:
            notes.append(f"{text}: pinned to version {ref.version}; the server serves that version")
        feats = by_view.setdefault(ref.view, [])
        if ref.feature not in feats:
            feats.append(ref.feature)
    projections = [f"{_ident('fv', name)}[{feats!r}]" for name, feats in by_view.items()]
    return projections, notes


def _used_types(views: Iterable[FeatureView]) -> list[str]:
    used = {part for v in views for f in v.features for part in re.findall(r"\w+", feast_type(f.dtype))}
    return sorted(used)


def _definitions(repo: FeastRepo) -> str:
    views = {v.name: v for v in repo.views}
    lines = [
        '"""Feast definitions of featurestream namespace views, written by `featurestream export feast`.',
        "",
        "Do not edit: export again after `featurestream apply`. Values come from `featurestream serve`",
        f"({repo.url}) through Feast's remote online store; the FileSources point at the offline Parquet.",
        '"""',
        "",
        "from datetime import timedelta",
        "",
        "from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType",
        f"from feast.types import {', '.join(_used_types(repo.views))}",
        "",
    ]
    for name, typ in sorted(_entity_types(repo).items()):
        lines.append(
            f"{_ident('entity', name)} = Entity(name={name!r}, join_keys=[{name!r}], "
            f"value_type=ValueType.{_VALUE_TYPES[typ]})"
        )
    for v in repo.views:
        seconds = int(max_age(v).total_seconds())
        schema = "".join(f"\n        Field(name={f.name!r}, dtype={feast_type(f.dtype)})," for f in v.features)
        tags = {**v.tags, "featurestream_version": str(v.version)}
        if v.window:
            tags["featurestream_window"] = v.window
        lines += [
            "",
            f"{_ident('source', v.name)} = FileSource(",
            f"    name={v.name + '_offline'!r},",
            f"    path={str(offline_dir(repo.offline_root, v))!r},",
            f"    timestamp_field={FEATURE_TIME!r},",
            ")",
            f"{_ident('fv', v.name)} = FeatureView(",
            f"    name={v.name!r},",
            f"    entities=[{', '.join(_ident('entity', e) for e in v.entities)}],",
            f"    ttl=timedelta(seconds={seconds}),",
            f"    schema=[{schema}\n    ],",
            "    online=True,",
            f"    source={_ident('source', v.name)},",
            f"    description={v.description!r},",
            f"    owner={v.owner!r},",
            f"    tags={tags!r},",
            ")",
        ]
    for svc in repo.services:
        projections, notes = _service_projection(svc, views)
        lines.append("")
        lines += [f"# {n}" for n in notes]
        lines += [
            f"{_ident('service', svc.name)} = FeatureService(",
            f"    name={svc.name!r},",
            f"    features=[{', '.join(projections)}],",
            f"    description={svc.description!r},",
            f"    owner={svc.owner!r},",
            f"    tags={{'featurestream_version': {str(svc.version)!r}}},",
            ")",
        ]
    return "\n".join(lines) + "\n"


def _feature_store_yaml(repo: FeastRepo) -> str:
    text = (
        f"# Written by `featurestream export feast`: Feast reads online features from `featurestream serve`.\n"
        f"project: {_project_name(repo.project)}\n"
        "registry: data/registry.db\n"
        "provider: local\n"
        "online_store:\n"
        "  type: remote\n"
        f"  path: {repo.url}\n"
        "offline_store:\n"
        "  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    if repo.auth:
        text += (
            "# The server checks API keys: Feast sends `Authorization: Bearer $LOCAL_K8S_TOKEN`.\n"
            "auth:\n"
            "  type: kubernetes\n"
        )
    return text


def render_feast_repo(repo: FeastRepo) -> dict[str, str]:
    """File name -> text of the Feast repo (``feature_store.yaml`` and the definitions module)."""
    if not repo.views:
        raise FeastExportError(
            "expected at least one registered feature view to export, found none",
            hint="run `featurestream apply` first",
        )
    return {"feature_store.yaml": _feature_store_yaml(repo), DEFINITIONS_FILE: _definitions(repo)}


def write_feast_repo(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` into ``directory`` (created); only these files are replaced."""
    if directory.exists() and not directory.is_dir():
        raise FeastExportError(f"expected a folder to export into, found a file at {directory}", hint="pick a folder")
    (directory / "data").mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
