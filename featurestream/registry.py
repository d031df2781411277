"""The registry: versioned definitions of sources, feature views and feature services.

Stored as one JSON document under ``<state_dir>/registry.json``; :mod:`featurestream.registry_file`
owns how it is written (under an inter-process lock, temp file + fsync + rename, the last good copy
kept as ``.prev``), so concurrent ``apply`` runs never lose an update and none leaves it
half-written; or at ``registry_path: s3://...``, written with one PUT
(:mod:`featurestream.registry_store`, which states the concurrency limit). Lookups are dictionary
hits, so a catalog of tens of thousands of features resolves in microseconds per reference.

Registered versions are immutable: changing the SQL of ``(namespace, name, version)`` is refused;
a new version registers beside the old one and both serve.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurestream.config import S3Config
from featurestream.definitions import Feature, FeatureService, FeatureView, Source
from featurestream.errors import RegistryError
from featurestream.registry_file import corrupt_error, locked, read_document, write_document
from featurestream.registry_store import ObjectRegistryFile
from featurestream.storage import is_s3

__all__ = [
    "ON_DEMAND_VIEW",
    "BadReference",
    "FeatureRef",
    "OnDemandRef",
    "Registry",
    "Resolved",
    "StoredFeature",
    "parse_ref",
    "parse_view_ref",
]

REGISTRY_FILE = "registry.json"
ON_DEMAND_VIEW = "on_demand"  # ``on_demand:<name>`` names a request-time function, not a stored view


class BadReference(RegistryError):
    """A feature reference or a feature-service name is malformed (the caller's text, not a missing definition)."""


@dataclass(frozen=True)
class FeatureRef:
    """A parsed ``view[@version]:feature`` reference."""

    view: str
    version: int | None
    feature: str

    def __str__(self) -> str:
        v = f"@{self.version}" if self.version is not None else ""
        return f"{self.view}{v}:{self.feature}"


def parse_ref(ref: str) -> FeatureRef:
    """``"user_clicks_10m@2:clicks_10m"`` -> FeatureRef. Raises RegistryError on bad syntax."""
    view_part, sep, feature = ref.partition(":")
    if not sep or not view_part or not feature:
        raise BadReference(
            f"expected a feature reference 'view:feature' or 'view@version:feature', found {ref!r}",
            hint="e.g. 'user_clicks_10m:clicks_10m' or 'user_clicks_10m@1:clicks_10m'",
        )
    name, version = parse_view_ref(view_part, context=ref)
    return FeatureRef(name, version, feature)


def parse_view_ref(text: str, *, context: str | None = None) -> tuple[str, int | None]:
    """``"user_clicks_10m"`` -> (name, None); ``"user_clicks_10m@2"`` (or ``@v2``) -> (name, 2)."""
    name, at, ver = text.partition("@")
    if not at:
        return name, None
    digits = ver[1:] if ver[:1] == "v" else ver
    # ASCII only: str.isdigit() also accepts Arabic-Indic and superscript digits (int() misreads them)
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise BadReference(
            f"version in {context or text!r} must be a positive integer, found {ver!r} (ASCII digits 0-9 only)",
            hint="write NAME or NAME@VERSION, e.g. user_clicks_10m@2",
        )
    return name, int(digits)


@dataclass(frozen=True)
class StoredFeature:
    """A reference resolved to a stored feature: the view version and the feature it names."""

    ref: str  # as the caller wrote it
    view: FeatureView
    feature: Feature

    @property
    def pinned(self) -> bool:
        """True when the reference names the view's version (``view@2:f``), False for the latest."""
        return "@" in self.ref.partition(":")[0]

    @property
    def canonical(self) -> str:
        """``view@version:feature``: the same text for every spelling of the same feature."""
        return f"{self.view.ref}:{self.feature.name}"


@dataclass(frozen=True)
class OnDemandRef:
    """A reference to a request-time function, ``on_demand:<name>``; the function itself is looked up
    in the process's on-demand registry (:mod:`featurestream.ondemand`), which also declares its inputs."""

    ref: str
    name: str


Resolved = StoredFeature | OnDemandRef


@dataclass
class _Catalog:
    sources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    views: dict[tuple[str, str, int], FeatureView] = field(default_factory=dict)
    services: dict[tuple[str, str, int], FeatureService] = field(default_factory=dict)
    latest: dict[tuple[str, str], int] = field(default_factory=dict)


class Registry:
    """Read and write the registry of one feature repo.

    Thread-safe for readers; writers (``apply``) hold a lock and replace the file atomically.
    """

    def __init__(self, path: str | Path, *, s3: S3Config | None = None) -> None:
        """``path``: a local file, or an ``s3://`` location read with ``s3`` (default: AWS S3 itself)."""
        self.path = Path(path)
        self._remote = ObjectRegistryFile(s3 or S3Config(), str(path)) if is_s3(path) else None
        self._lock = threading.Lock()
        self._cat = _Catalog()
        self._lineage: dict[str, Any] = {}
        self.revision = 0
        self._mtime_ns = -1
        self._stamp: tuple[int, int] | None = None
        self._in_memory = False
        self.reload()

    @property
    def location(self) -> str:
        """Where the document is stored: a local path or an ``s3://`` URI."""
        return self._remote.location if self._remote is not None else str(self.path)

    @property
    def remote(self) -> bool:
        """Whether the registry lives on an object store (a change check is a network round trip)."""
        return self._remote is not None

    @classmethod
    def of(cls, views: Iterable[FeatureView], services: Iterable[FeatureService] = ()) -> Registry:
        """An in-memory registry of ``views`` and ``services`` (no file; for definitions built in code)."""
        reg = cls.__new__(cls)
        reg.path = Path("<in-memory registry>")
        reg._in_memory = True
        reg._remote = None
        reg._lock = threading.Lock()
        reg._cat = _Catalog()
        reg._lineage = {}
        reg.revision = 0
        reg._mtime_ns = -1
        for v in views:
            cls._index_view(reg._cat, v)
        for s in services:
            reg._cat.services[(s.namespace, s.name, s.version)] = s
        return reg

    @classmethod
    def open(cls, config: Any) -> Registry:
        """The registry of a loaded :class:`~featurestream.config.Config`."""
        return cls(config.registry_location, s3=config.s3)

    # ------------------------------------------------------------------ persistence

    def reload(self) -> bool:
        """Re-read the file if it changed on disk; returns True when something was loaded."""
        if self._in_memory:
            return False
        if self._remote is not None:
            return self._reload_remote()
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._mtime_ns:
            return False
        doc = read_document(self.path)
        if doc is None:
            return False
        self._load(doc, mtime)
        return True

    def _reload_remote(self) -> bool:
        if self._remote is None:
            return False
        stamp = self._remote.stamp()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            doc = json.loads(self._remote.read())
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(
                f"cannot read registry {self._remote.location}: {exc}", hint="run 'featurestream apply' to rebuild it"
            ) from exc
        self._load(doc, -1)
        self._stamp = stamp
        return True

    def _load(self, doc: dict[str, Any], mtime: int) -> None:
        cat = self._catalog_of(doc)
        with self._lock:
            self._cat = cat
            self._lineage = dict(doc.get("lineage", {}))
            self.revision = int(doc.get("revision", 0))
            self._mtime_ns = mtime

    def _catalog_of(self, doc: dict[str, Any]) -> _Catalog:
        cat = _Catalog()
        try:
            for s in doc.get("sources", []):
                cat.sources[(s["namespace"], s["name"])] = s
            for v in doc.get("views", []):
                self._index_view(cat, FeatureView.from_dict(v))
            for fs in doc.get("services", []):
                svc = FeatureService.from_dict(fs)
                cat.services[(svc.namespace, svc.name, svc.version)] = svc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt_error(self.path, f"an entry it cannot read ({type(exc).__name__}: {exc})") from exc
        return cat

    @staticmethod
    def _index_view(cat: _Catalog, view: FeatureView) -> None:
        cat.views[(view.namespace, view.name, view.version)] = view
        key = (view.namespace, view.name)
        if view.version > cat.latest.get(key, 0):
            cat.latest[key] = view.version

    def _document(self, cat: _Catalog, revision: int) -> dict[str, Any]:
        return {
            "format": 1,
            "revision": revision,
            "sources": [cat.sources[k] for k in sorted(cat.sources)],
            "views": [cat.views[k].to_dict() for k in sorted(cat.views)],
            "services": [cat.services[k].to_dict() for k in sorted(cat.services)],
        }

    def save(
        self,
        *,
        sources: list[Source] = (),  # type: ignore[assignment]
        views: list[FeatureView] = (),  # type: ignore[assignment]
        services: list[FeatureService] = (),  # type: ignore[assignment]
        lineage: dict[str, Any] | None = None,
    ) -> int:
        """Add definitions in one atomic write. Refuses to change a registered view version.

        Returns the new revision.
        """
        if self._in_memory:
            raise RegistryError(
                "an in-memory registry (Registry.of) has no file to save to", hint="use Registry(path) or Registry.open"
            )
        if self._remote is not None:
            return self._save_remote(sources, views, services, lineage)
        with self._lock, locked(self.path):
            # read-modify-write of what is on disk now (another process may have written since we read)
            on_disk = read_document(self.path) or {}
            cat, doc = self._merged(on_disk, sources, views, services, lineage)
            write_document(self.path, doc)
            self._cat = cat
            self._lineage = doc["lineage"]
            self.revision = int(doc["revision"])
            self._mtime_ns = self.path.stat().st_mtime_ns
            return self.revision

    def _save_remote(
        self,
        sources: list[Source],
        views: list[FeatureView],
        services: list[FeatureService],
        lineage: dict[str, Any] | None,
    ) -> int:
        """The object-store write: read the stored document, merge, one PUT that refuses when another
        writer saved since (:class:`featurestream.registry_store.ObjectRegistryFile`)."""
        remote = self._remote
        if remote is None:  # pragma: no cover - only called for an object-store registry
            raise RegistryError("not an object-store registry")
        with self._lock:
            stored = json.loads(remote.read()) if remote.stamp() is not None else {}
            cat, doc = self._merged(stored, sources, views, services, lineage)
            remote.write(
                json.dumps(doc, indent=1, sort_keys=True).encode(), loaded_revision=int(stored.get("revision", 0))
            )
            self._cat, self._lineage, self.revision = cat, doc["lineage"], int(doc["revision"])
            self._stamp = remote.stamp()
            return self.revision

    def _merged(
        self,
        stored: dict[str, Any],
        sources: list[Source],
        views: list[FeatureView],
        services: list[FeatureService],
        lineage: dict[str, Any] | None,
    ) -> tuple[_Catalog, dict[str, Any]]:
        """The stored document plus the new definitions (a registered view version never changes)."""
        cat = self._catalog_of(stored)
        for v in views:
            old = cat.views.get((v.namespace, v.name, v.version))
            if old is not None and _normalize_sql(old.sql) != _normalize_sql(v.sql):
                raise RegistryError(
                    f"{v.path or v.name}: the SQL of {v.namespace}/{v.ref} differs from the registered one",
                    hint=f"registered versions are immutable; bump '-- version: {v.version + 1}'",
                )
            self._index_view(cat, v)
        for s in sources:
            cat.sources[(s.namespace, s.name)] = s.to_dict()
        for svc in services:
            cat.services[(svc.namespace, svc.name, svc.version)] = svc
        doc = self._document(cat, int(stored.get("revision", 0)) + 1)
        merged = dict(stored.get("lineage", {}))
        merged.update(lineage or {})
        doc["lineage"] = merged
        return cat, doc

    # ------------------------------------------------------------------ lookups

    def lineage(self) -> dict[str, Any]:
        """``"<ns>/<view>@<version>"`` -> sources, topics, job and sinks."""
        return dict(self._lineage)

    def views(self, namespace: str | None = None) -> list[FeatureView]:
        """Every registered view version (of one namespace, or all), sorted by name and version."""
        cat = self._cat
        return [v for k, v in sorted(cat.views.items()) if namespace is None or k[0] == namespace]

    def sources(self, namespace: str | None = None) -> list[dict[str, Any]]:
        cat = self._cat
        return [s for k, s in sorted(cat.sources.items()) if namespace is None or k[0] == namespace]

    def services(self, namespace: str | None = None) -> list[FeatureService]:
        cat = self._cat
        return [s for k, s in sorted(cat.services.items()) if namespace is None or k[0] == namespace]

    def get_view(self, namespace: str, name: str, version: int | None = None) -> FeatureView:
        """One view version; the latest when ``version`` is None."""
        cat = self._cat
        if version is None:
            latest = cat.latest.get((namespace, name))
            if latest is None:
                raise RegistryError(
                    f"unknown feature view {name!r} in namespace {namespace!r}",
                    hint="run 'featurestream ls' to see registered views, or 'featurestream apply'",
                )
            version = latest
        view = cat.views.get((namespace, name, version))
        if view is None:
            known = sorted(v for (ns, n, v) in cat.views if ns == namespace and n == name)
            raise RegistryError(
                f"feature view {name!r} has no version {version} in namespace {namespace!r}"
                + (f"; registered versions: {known}" if known else ""),
            )
        return view

    def find_view(self, namespace: str, ref: str) -> FeatureView:
        """A view by ``NAME`` (latest version) or ``NAME@VERSION``."""
        name, version = parse_view_ref(ref)
        return self.get_view(namespace, name, version)

    def get_service(self, namespace: str, name: str, version: int | None = None) -> FeatureService:
        cat = self._cat
        matches = [s for (ns, n, v), s in cat.services.items() if ns == namespace and n == name]
        if version is not None:
            matches = [s for s in matches if s.version == version]
        if not matches:
            raise RegistryError(
                f"unknown feature service {name!r}"
                + (f" version {version}" if version else "")
                + f" in namespace {namespace!r}",
                hint="list them with GET /v1/feature-services or 'featurestream ls'",
            )
        return max(matches, key=lambda s: s.version)

    def find_service(self, namespace: str, text: str) -> FeatureService:
        """A feature service by ``NAME`` (latest version) or ``NAME@VERSION`` (``@v2`` too).

        A malformed version raises :class:`BadReference`; an unknown name or version RegistryError.
        """
        name, version = parse_view_ref(text)
        return self.get_service(namespace, name, version)

    def resolve(self, namespace: str, refs: Sequence[str] = (), *, service: str | None = None) -> list[Resolved]:
        """The one resolver of feature references, used by serving and training alike.

        Resolves ``refs`` -- or, with ``service=NAME[@VERSION]``, that feature service's list --
        in order, one entry per reference (duplicates kept): ``view[@version]:feature`` becomes a
        :class:`StoredFeature` (latest version when none is written), ``on_demand:<name>`` an
        :class:`OnDemandRef`. Malformed text raises :class:`BadReference`; an unknown service, view,
        version or feature raises RegistryError naming it and the fix (errors of a service's list
        say which service). Pure dictionary lookups: callers that serve requests cache the result
        per distinct request shape and drop it when ``revision`` moves.
        """
        prefix = ""
        if service is not None:
            if refs:
                raise BadReference(
                    f"expected feature references or a feature service, found both (service {service!r})",
                    hint="pass either the features list or the feature service, not both",
                )
            refs = self.find_service(namespace, service).features
            prefix = f"in feature service {service!r}: "
        if not refs:
            raise BadReference(
                "no features requested: expected at least one feature reference",
                hint="name features as 'view:feature' or 'view@version:feature', or pass a feature service",
            )
        try:
            return [self._resolve_one(namespace, ref) for ref in refs]
        except BadReference as exc:
            raise BadReference(prefix + exc.message, hint=exc.hint) from exc
        except RegistryError as exc:
            raise RegistryError(prefix + exc.message, hint=exc.hint) from exc

    def _resolve_one(self, namespace: str, ref: str) -> Resolved:
        if not isinstance(ref, str):
            raise BadReference(f"feature references must be strings, found {ref!r}", hint="e.g. 'view:feature'")
        r = parse_ref(ref)
        if r.view == ON_DEMAND_VIEW:
            if r.version is not None:
                raise BadReference(f"on-demand features have no versions, found {ref!r}", hint="write on_demand:NAME")
            return OnDemandRef(ref, r.feature)
        view = self.get_view(namespace, r.view, r.version)
        feat = view.feature(r.feature)
        if feat is None:
            known = ", ".join(view.feature_names) or "(none registered; run featurestream apply)"
            raise RegistryError(
                f"feature view {view.ref} has no feature {r.feature!r}", hint=f"its features are: {known}"
            )
        return StoredFeature(ref, view, feat)


def _normalize_sql(sql: str) -> str:
    return " ".join(sql.split())
