"""Lookup plans: a list of feature references resolved once into what to read and how to answer.

A plan is built from the registry on the first request for a given list of references and cached
(until the registry revision changes), so a request does no registry work at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from featurestream.api.errors import BadRequest
from featurestream.definitions import FeatureView
from featurestream.errors import FeatureStreamError
from featurestream.ondemand import OnDemandFeature, OnDemandRegistry
from featurestream.online.keys import ROW_HEAD, RowLayout, key_parts, row_layout
from featurestream.registry import ON_DEMAND_VIEW, OnDemandRef, Registry, StoredFeature
from featurestream.semantics import Validity, default_for, validity

__all__ = ["Column", "LookupPlan", "ViewRead", "build_plan"]


@dataclass(frozen=True)
class ViewRead:
    """How to read and decode one view version's rows. A stored row is one JSON array
    (:func:`online.keys.encode_row`): position 0 its feature_time, 1 its created_at, then
    ``ROW_HEAD + i`` the view's feature ``i``; a column of the plan names its position."""

    view: FeatureView
    layout: RowLayout  # online.keys.row_layout of the view's features
    defaults: tuple[Any, ...]  # aligned with row positions (the head's unused)
    validity: Validity  # semantics.validity: when a stored row stops being PRESENT
    sla_ms: int
    key_prefix: str  # online.keys.key_parts: the key of an entity is prefix + encode_entity(values) + suffix
    key_suffix: str


@dataclass(frozen=True)
class Column:
    """One output column, in request order."""

    ref: str  # as the client wrote it
    canonical: str  # view@version:feature, or on_demand:name
    short_name: str  # Feast's name without full_feature_names
    full_name: str  # Feast's view__feature
    read: int  # index into LookupPlan.reads; -1 for on-demand
    pos: int  # index into that read's stored row (ROW_HEAD + the feature's position in its view)
    default: Any
    udf: OnDemandFeature | None = None
    # For on-demand: per input, ("req", field) or ("feat", "read:pos")
    udf_args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class LookupPlan:
    namespace: str
    reads: tuple[ViewRead, ...]
    columns: tuple[Column, ...]
    entity_names: tuple[str, ...]  # entity keys the views need, in first-use order
    request_fields: tuple[str, ...]  # request data the on-demand functions need
    # What the request path derives from the plan once (Feast's feature names, the metrics' counts of
    # its reads), kept with it: built on first use, on the event loop.
    render_cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    # derived once, read per request: whether any column is on-demand, and the columns as runs (read,
    # first pos, count) of columns adjacent both in the answer and in their read's row (a plan listing
    # a view's features in order is one run per view; used when no column is on-demand)
    has_udf: bool = field(init=False, compare=False, repr=False)
    stored_runs: tuple[tuple[int, int, int], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_udf", any(c.udf is not None for c in self.columns))
        runs: list[list[int]] = []
        for r, pos in ((c.read, c.pos) for c in self.columns):
            if runs and runs[-1][0] == r and runs[-1][1] + runs[-1][2] == pos:
                runs[-1][2] += 1
            else:
                runs.append([r, pos, 1])
        object.__setattr__(self, "stored_runs", tuple((r, pos, k) for r, pos, k in runs))


def build_plan(
    registry: Registry, udfs: OnDemandRegistry, namespace: str, refs: Sequence[str] = (), *, service: str | None = None
) -> LookupPlan:
    """Resolve ``refs`` (or feature service ``service``) with :meth:`Registry.resolve`, once per request shape.

    Raises :class:`BadRequest` naming the first unknown view, version, feature or on-demand function.
    """
    views: dict[tuple[str, int], FeatureView] = {}  # in first-use order

    def field_of(item: StoredFeature) -> tuple[tuple[str, int], int]:
        key = (item.view.name, item.view.version)
        views[key] = item.view
        return key, row_layout(item.view.feature_names).positions[item.feature.name]

    pending: list[tuple[StoredFeature | OnDemandRef, Any]] = []
    request_fields: list[str] = []
    prefix = f"in feature service {service!r}: " if service else ""
    try:
        for item in registry.resolve(namespace, refs, service=service):
            if isinstance(item, OnDemandRef):
                udf = udfs.get(item.name)
                stored = iter(_stored_inputs(registry, namespace, udf))
                args: list[tuple[str, Any]] = []
                for inp in udf.inputs:
                    if ":" in inp:
                        args.append(("feat", field_of(next(stored))))
                    else:
                        args.append(("req", inp))
                        if inp not in request_fields:
                            request_fields.append(inp)
                pending.append((item, (udf, tuple(args))))
            else:
                pending.append((item, field_of(item)))
    except FeatureStreamError as exc:
        message = exc.message if exc.message.startswith(prefix) else prefix + exc.message
        raise BadRequest(message, hint=exc.hint) from exc

    order = list(views)
    reads = tuple(_view_read(views[k], namespace) for k in order)
    index = {k: i for i, k in enumerate(order)}
    columns: list[Column] = []
    for item, spec in pending:
        if isinstance(item, OnDemandRef):
            udf, args = spec
            resolved = tuple((kind, (index[val[0]], val[1]) if kind == "feat" else val) for kind, val in args)
            columns.append(
                Column(item.ref, udf.ref, udf.name, f"{ON_DEMAND_VIEW}__{udf.name}", -1, -1, udf.default, udf, resolved)
            )
            continue
        key, pos = spec
        view, feature = item.view, item.feature.name
        full = f"{view.name}@{view.version}__{feature}" if item.pinned else f"{view.name}__{feature}"
        columns.append(
            Column(item.ref, item.canonical, feature, full, index[key], pos, reads[index[key]].defaults[pos])
        )
    entity_names: list[str] = []
    for read in reads:
        for e in read.view.entities:
            if e not in entity_names:
                entity_names.append(e)
    return LookupPlan(namespace, reads, tuple(columns), tuple(entity_names), tuple(request_fields))


def _stored_inputs(registry: Registry, namespace: str, udf: OnDemandFeature) -> list[StoredFeature]:
    """The stored features an on-demand function reads (its ``view:feature`` inputs), resolved in order."""
    refs = [i for i in udf.inputs if ":" in i]
    out: list[StoredFeature] = []
    for item in registry.resolve(namespace, refs) if refs else ():
        if not isinstance(item, StoredFeature):
            raise BadRequest(f"on-demand feature {udf.name!r} reads {item.ref!r}: inputs must be stored features")
        out.append(item)
    return out


def _view_read(view: FeatureView, namespace: str) -> ViewRead:
    key_prefix, key_suffix = key_parts(namespace, view.name, view.version)
    return ViewRead(
        view=view,
        layout=row_layout(view.feature_names),
        defaults=(*([None] * ROW_HEAD), *(default_for(view, f) for f in view.feature_names)),
        validity=validity(view),
        sla_ms=int(view.freshness_sla.total_seconds() * 1000),
        key_prefix=key_prefix,
        key_suffix=key_suffix,
    )
