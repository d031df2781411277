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
from featurestream.ondemand import OnDemandError, OnDemandRegistry, compute_frame, load_udfs
from featurestream.registry import OnDemandRef, Registry, StoredFeature
from featurestream.semantics import default_for, validity

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


def resolve_features(
    config: Config,
    *,
    features: Sequence[str] | None = None,
    feature_service: str | None = None,
    registry: Registry | None = None,
    views: Sequence[FeatureView] | None = None,
) -> tuple[list[StoredFeature], list[OnDemandRef]]:
    """The requested stored features in request order, and the on-demand references.

    Resolution is :meth:`Registry.resolve` (the one the server uses) over ``registry``, or over an
    in-memory registry of ``views`` when definitions are built in code. Errors are OfflineError.
    """
    if (features is None) == (feature_service is None):
        raise OfflineError(
            "expected exactly one of features=[...] or feature_service=..., found "
            + ("both" if features is not None else "neither"),
            hint="e.g. features=['user_clicks_10m:clicks_10m'] or feature_service='ranking_model'",
        )
    if feature_service is not None and registry is None:
        raise OfflineError("a feature_service needs the registry", hint="use FeatureStore(repo_path)")
    items = _resolve(config, _catalog(registry, views), features or (), feature_service)
    stored = [i for i in items if isinstance(i, StoredFeature)]
    return stored, [i for i in items if isinstance(i, OnDemandRef)]


def _catalog(registry: Registry | None, views: Sequence[FeatureView] | None) -> Registry:
    if views is not None:
        return Registry.of(views)
    if registry is None:
        raise OfflineError("expected a registry or a list of views, found neither", hint="use FeatureStore(repo_path)")
    return registry


def _resolve(
    config: Config, registry: Registry, refs: Sequence[str], service: str | None = None
) -> list[StoredFeature | OnDemandRef]:
    try:
        return registry.resolve(config.namespace, refs, service=service)
    except RegistryError as exc:
        raise OfflineError(exc.message, hint=exc.hint) from exc


def _watermark_delay(view: FeatureView, registry: Registry | None, delays: dict[str, timedelta]) -> timedelta:
    if view.name in delays:
        return delays[view.name]
    if view.watermark_delay is not None:  # recorded at apply
        return view.watermark_delay
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


def _ondemand_inputs(refs: list[OnDemandRef], udfs: OnDemandRegistry) -> list[str]:
    """Stored-feature inputs (``view:feature``) the requested on-demand functions read, each once."""
    inputs: list[str] = []
    for ref in refs:
        try:
            fn = udfs.get(ref.name)
        except OnDemandError as exc:
            raise OfflineError(exc.message, hint=exc.hint) from exc
        for i in fn.inputs:
            if ":" in i and i not in inputs:
                inputs.append(i)
    return inputs


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
    stored, ondemand = resolve_features(
        config, features=features, feature_service=feature_service, registry=registry, views=views
    )
    pairs = [(s.view, s.feature) for s in stored]
    table, tcol = prepare_labels(load_labels(labels), timestamp_column)
    names = _output_names(pairs, full_feature_names, table.column_names)
    # Stored inputs of on-demand functions join like any feature, under hidden names.
    udfs = load_udfs(config) if ondemand else OnDemandRegistry()
    input_refs = _ondemand_inputs(ondemand, udfs)
    inputs = _resolve(config, _catalog(registry, views), input_refs) if input_refs else []
    hidden_pairs = [(i.view, i.feature) for i in inputs if isinstance(i, StoredFeature)]
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
                validity=validity(view),
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
        computed = compute_frame(frame, [r.name for r in ondemand], registry=udfs, columns=mapping)
        for ref in ondemand:
            out = out.append_column(ref.name, pa.Array.from_pandas(computed[ref.name]))
    return TrainingSet(out, report, tcol)
