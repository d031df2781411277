"""Training sets: label rows + point-in-time feature values (+ on-demand features).

Resolves feature references (``view[@version]:feature``) or a feature service, loads and checks
the labels, runs the one PIT join of :mod:`offline.pit`, names the output columns and computes
on-demand features on the joined rows with the functions the server runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import pyarrow as pa

from featurestream.config import Config
from featurestream.definitions import Feature, FeatureView
from featurestream.durations import parse_duration
from featurestream.errors import RegistryError
from featurestream.offline.duck import connect
from featurestream.offline.errors import OfflineError
from featurestream.offline.labels import Labels, load_labels, prepare_labels
from featurestream.offline.pit import JoinReport, ViewRequest, pit_join
from featurestream.ondemand import ON_DEMAND_VIEW, compute_frame, load_udfs
from featurestream.registry import Registry, parse_ref
from featurestream.semantics import default_for, max_age

__all__ = ["TrainingSet", "build_training_set", "resolve_features"]


@dataclass
class TrainingSet:
    """The joined table (label columns first) and the join report."""

    table: pa.Table
    report: JoinReport
    time_column: str

    def to_pandas(self) -> pd.DataFrame:
        df = self.table.to_pandas()
        df.attrs["featurestream_report"] = self.report
        return df


def _catalog_lookup(
    refs: Sequence[str], namespace: str, registry: Registry | None, views: Sequence[FeatureView] | None
) -> tuple[list[tuple[FeatureView, Feature]], list[str]]:
    """Resolve refs to (view, feature); ``on_demand:<name>`` refs are returned separately."""
    resolved: list[tuple[FeatureView, Feature]] = []
    ondemand: list[str] = []
    by_name: dict[str, list[FeatureView]] = {}
    for v in views or ():
        by_name.setdefault(v.name, []).append(v)
    for ref in refs:
        r = parse_ref(ref)
        if r.view == ON_DEMAND_VIEW:
            ondemand.append(ref)
            continue
        if views is not None:
            cands = [v for v in by_name.get(r.view, []) if r.version is None or v.version == r.version]
            if not cands:
                raise OfflineError(
                    f"unknown feature view {r.view!r}" + (f" version {r.version}" if r.version else ""),
                    hint=f"known views: {sorted(by_name)}",
                )
            view = max(cands, key=lambda v: v.version)
        elif registry is not None:
            view = registry.get_view(namespace, r.view, r.version)
        else:  # pragma: no cover - guarded by the caller
            raise OfflineError("no registry and no views given")
        feat = view.feature(r.feature)
        if feat is None:
            raise OfflineError(
                f"unknown feature {ref!r}: view {view.ref} has no feature {r.feature!r}",
                hint=f"its features are: {', '.join(view.feature_names) or '(none; run featurestream apply)'}",
            )
        resolved.append((view, feat))
    return resolved, ondemand


def resolve_features(
    config: Config,
    *,
    features: Sequence[str] | None = None,
    feature_service: str | None = None,
    registry: Registry | None = None,
    views: Sequence[FeatureView] | None = None,
) -> tuple[list[tuple[FeatureView, Feature]], list[str]]:
    """The requested (view, feature) pairs in request order, and on-demand feature names."""
    if (features is None) == (feature_service is None):
        raise OfflineError(
            "expected exactly one of features=[...] or feature_service=..., found "
            + ("both" if features is not None else "neither"),
            hint="e.g. features=['user_clicks_10m:clicks_10m'] or feature_service='ranking_model'",
        )
    if feature_service is not None:
        if registry is None:
            raise OfflineError("a feature_service needs the registry", hint="use FeatureStore(repo_path)")
        name, _, ver = feature_service.partition("@")
        svc = registry.get_service(config.namespace, name, int(ver.lstrip("v")) if ver else None)
        features = list(svc.features)
    assert features is not None
    if not features:
        raise OfflineError("expected at least one feature, found an empty list", hint="name features as view:feature")
    try:
        return _catalog_lookup(features, config.namespace, registry, views)
    except RegistryError as exc:
        raise OfflineError(exc.message, hint=exc.hint) from exc


def _watermark_delay(view: FeatureView, registry: Registry | None, delays: dict[str, timedelta]) -> timedelta:
    if view.name in delays:
        return delays[view.name]
    if registry is None:
        return timedelta(0)
    found = [
        parse_duration(s["watermark_delay"])
        for s in registry.sources(view.namespace)
        if s["name"] in view.sources and s.get("watermark_delay")
    ]
    return max(found, default=timedelta(0))


def _output_names(pairs: list[tuple[FeatureView, Feature]], full: bool, label_cols: list[str]) -> list[str]:
    plain = [f.name for _, f in pairs]
    names = [f"{v.name}__{f.name}" for v, f in pairs] if full else plain
    if not full and len(set(plain)) != len(plain):
        dup = sorted({n for n in plain if plain.count(n) > 1})
        raise OfflineError(
            f"feature name(s) {dup} are requested from more than one view, so plain column names collide",
            hint="pass full_feature_names=True (--full-feature-names) to name columns view__feature",
        )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise OfflineError(
            f"output columns {dup} appear twice (the same feature from two versions of one view?)",
            hint="request each view:feature once, from one version",
        )
    clash = sorted(set(names) & set(label_cols))
    if clash:
        raise OfflineError(
            f"feature column(s) {clash} collide with label columns of the same name",
            hint="rename those label columns, or pass full_feature_names=True",
        )
    return names


def _ondemand_inputs(names: list[str]) -> list[str]:
    """Stored-feature inputs (``view:feature``) the requested on-demand functions read."""
    if not names:
        return []
    udfs = load_udfs()
    refs: list[str] = []
    for name in names:
        for ref in udfs.get(parse_ref(name).feature).inputs:
            if ":" in ref and ref not in refs:
                refs.append(ref)
    return refs


def build_training_set(
    config: Config,
    labels: Labels,
    *,
    features: Sequence[str] | None = None,
    feature_service: str | None = None,
    registry: Registry | None = None,
    views: Sequence[FeatureView] | None = None,
    timestamp_column: str | None = None,
    as_served: bool = False,
    full_feature_names: bool = False,
    include_feature_times: bool = False,
    watermark_delays: dict[str, timedelta] | None = None,
    progress: bool = False,
) -> TrainingSet:
    """Build a point-in-time correct training set (see :mod:`offline.pit` for the semantics).

    ``labels`` holds the entity keys of every requested view and a label-time column (naive
    timestamps are UTC). The result keeps every label row in order, the label-time column as
    UTC, then one column per feature (and ``<view>__feature_time`` columns when
    ``include_feature_times``), then on-demand features.
    """
    pairs, ondemand = resolve_features(
        config, features=features, feature_service=feature_service, registry=registry, views=views
    )
    table, tcol = prepare_labels(load_labels(labels), timestamp_column)
    names = _output_names(pairs, full_feature_names, table.column_names)
    # Stored inputs of on-demand functions join like any feature, under hidden names.
    input_refs = _ondemand_inputs(ondemand)
    hidden_pairs, _ = _catalog_lookup(input_refs, config.namespace, registry, views) if input_refs else ([], [])
    hidden = [f"__input__{v.name}__{f.name}" for v, f in hidden_pairs]
    everything = pairs + hidden_pairs
    all_names = names + hidden
    delays = watermark_delays or {}
    requests: list[ViewRequest] = []
    groups: dict[tuple[str, int], list[int]] = {}
    for idx, (view, _) in enumerate(everything):
        groups.setdefault((view.name, view.version), []).append(idx)
    for idxs in groups.values():
        view = everything[idxs[0]][0]
        delay = _watermark_delay(view, registry, delays)
        requests.append(
            ViewRequest(
                view=view,
                columns=tuple((everything[i][1].name, all_names[i]) for i in idxs),
                defaults=tuple(default_for(view, everything[i][1].name) for i in idxs),
                max_age=max_age(view),
                watermark_delay=delay,
                feature_time_column=f"{view.name}__feature_time" if include_feature_times else None,
            )
        )
    con = connect(config, progress=progress)
    try:
        joined, report = pit_join(con, config, table, tcol, requests, as_served=as_served)
    finally:
        con.close()
    out = table
    for name in [*names, *(r.feature_time_column for r in requests if r.feature_time_column)]:
        if name not in out.column_names:
            out = out.append_column(name, joined[name])
    if ondemand:
        frame = pa.Table.from_arrays(
            [*out.columns, *(joined[h] for h in hidden)], names=[*out.column_names, *hidden]
        ).to_pandas()
        mapping = dict(zip(input_refs, hidden, strict=True))
        computed = compute_frame(frame, ondemand, columns=mapping)
        for ref in ondemand:
            col = parse_ref(ref).feature
            out = out.append_column(col, pa.Array.from_pandas(computed[col]))
    return TrainingSet(out, report, tcol)
