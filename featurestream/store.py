"""``FeatureStore``: the Python SDK facade over one feature repo. Thin: it delegates to the packages.

store = FeatureStore(".")
df = store.get_training_set(labels_df, features=["user_clicks_10m:clicks_10m"])
store.sql("SELECT count(*) FROM user_clicks_10m")
store.materialize("user_clicks_10m")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestream.config import Config, load_config
from featurestream.registry import Registry

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from featurestream.offline.labels import Labels
    from featurestream.offline.materialize import MaterializeResult
    from featurestream.offline.training import TrainingSet

__all__ = ["FeatureStore"]


class FeatureStore:
    """One feature repo: its config, registry, offline store and online store."""

    def __init__(self, repo_path: str | Path = ".", *, config: Config | None = None) -> None:
        self.config = config if config is not None else load_config(repo_path)
        self.registry = Registry.open(self.config)

    # ------------------------------------------------------------------ offline

    def training_set(
        self,
        labels: Labels,
        *,
        features: Sequence[str] | None = None,
        feature_service: str | None = None,
        timestamp_column: str | None = None,
        as_served: bool = False,
        full_feature_names: bool = False,
        include_feature_times: bool = False,
        progress: bool = False,
    ) -> TrainingSet:
        """The training set with its report (matches per view, leakage check); see ``offline.pit``."""
        from featurestream.offline.training import build_training_set

        self.registry.reload()
        return build_training_set(
            self.config,
            labels,
            features=features,
            feature_service=feature_service,
            registry=self.registry,
            timestamp_column=timestamp_column,
            as_served=as_served,
            full_feature_names=full_feature_names,
            include_feature_times=include_feature_times,
            progress=progress,
        )

    def get_training_set(
        self,
        labels: Labels,
        features: Sequence[str] | None = None,
        *,
        feature_service: str | None = None,
        as_served: bool = False,
        arrow: bool = False,
        **options: Any,
    ) -> pd.DataFrame | pa.Table:
        """Label rows + point-in-time feature values, as a DataFrame (or an Arrow table).

        The DataFrame's ``attrs["featurestream_report"]`` holds the join report.
        """
        ts = self.training_set(
            labels, features=features, feature_service=feature_service, as_served=as_served, **options
        )
        return ts.table if arrow else ts.to_pandas()

    def sql(self, query: str, *, arrow: bool = False) -> pd.DataFrame | pa.Table:
        """Ad-hoc DuckDB SQL; every registered view is a table ``<view>_v<version>`` / ``<view>``."""
        from featurestream.offline.sql import run_sql

        self.registry.reload()
        table = run_sql(self.config, self.registry.views(self.config.namespace), query)
        return table if arrow else table.to_pandas()

    def materialize(
        self,
        view: str,
        *,
        start: date | None = None,
        end: date | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> MaterializeResult:
        """Load the latest offline row per entity of ``view`` (``name`` or ``name@version``) into Redis.

        Only rows with ``feature_time`` in the UTC dates ``[start, end)`` count: ``end`` is exclusive,
        exactly as ``featurestream materialize --end`` and ``backfill --end``
        (:class:`featurestream.dates.DateWindow`, the one owner of that rule).
        """
        from featurestream.offline.materialize import materialize
        from featurestream.online.generation import ensure_generation
        from featurestream.online.store import RedisOnlineStore

        self.registry.reload()
        fv = self.registry.find_view(self.config.namespace, view)
        online = RedisOnlineStore.from_url(self.config.redis.url, self.config.namespace)
        try:
            ensure_generation(online.client)  # the store is being filled: readers may trust it
            return materialize(self.config, fv, online, start=start, end=end, progress=progress)
        finally:
            online.close()
