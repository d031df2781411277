"""The online half of a feature job: a vectorised PyFlink UDF that writes rows to Redis.

Each Arrow batch the UDF receives is written synchronously, in one pipeline, before the UDF
returns, as columns (:meth:`online.store.RedisOnlineStore.write_columns`: the pandas Series go to
Arrow and are encoded a column at a time, never a Python object per value). Nothing is buffered
across calls, so when Flink flushes the Python operator's bundle at a checkpoint barrier every row
before the barrier is already in Redis; rows after it are replayed after a crash and the monotonic,
idempotent writer makes the replay harmless.
"""

from __future__ import annotations

from typing import Any

from featurestream.columns import CREATED_AT, FEATURE_TIME

__all__ = ["make_online_sink"]


def make_online_sink(view: dict[str, Any], redis_url: str, namespace: str, password_env: str | None = None) -> Any:
    """A pandas UDF ``f(entity..., feature_time, created_at, feature...) -> BIGINT`` (rows written).

    ``redis_url`` carries no password; it is read at ``open`` from the TaskManager's environment
    variable ``password_env`` when that is set (:mod:`featurestream.secrets`).
    """
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    class OnlineSink(ScalarFunction):  # type: ignore[misc]
        def __init__(self) -> None:
            self.view_dict = view
            self.store: Any = None

        def open(self, function_context: Any) -> None:
            from featurestream.definitions import FeatureView
            from featurestream.online.store import RedisOnlineStore

            self.view = FeatureView.from_dict(self.view_dict)
            self.columns = [*self.view.entities, FEATURE_TIME, CREATED_AT, *self.view.feature_names]
            import os

            from featurestream.secrets import with_password

            url = with_password(redis_url, os.environ.get(password_env) if password_env else None)
            self.store = RedisOnlineStore.from_url(url, namespace)
            group = function_context.get_metric_group()
            self.metric = group.counter("featurestream_online_rows_written")
            # rows with a NULL or blank entity value: never stored (online.keys.is_keyless)
            self.keyless = group.counter("featurestream_online_rows_keyless")
            self.full = group.counter("featurestream_online_store_full")  # writes Redis refused: out of memory

        def eval(self, *cols: Any) -> Any:
            import pandas as pd

            from featurestream.online.errors import OnlineStoreFull

            data = dict(zip(self.columns, cols, strict=True))
            for col in (FEATURE_TIME, CREATED_AT):
                data[col] = _utc(data[col])
            try:
                stats = self.store.write_columns(self.view, data)
            except OnlineStoreFull:  # counted, then the task fails: the job restarts with its backoff
                self.full.inc()
                raise
            self.metric.inc(stats.written)
            if stats.keyless:
                self.keyless.inc(stats.keyless)
            return pd.Series(1, index=range(len(cols[0])), dtype="int64")

        def close(self) -> None:
            if self.store is not None:
                self.store.close()

    return udf(OnlineSink(), result_type=DataTypes.BIGINT(), func_type="pandas")


def _utc(series: Any) -> Any:
    """A time column as the job hands it over -> a timezone-aware one. Flink's ``TIMESTAMP(3)``
    arrives as naive ``datetime64`` holding UTC; it is tagged UTC as an Arrow array (no copy per
    value, no parsing)."""
    import pandas as pd
    import pyarrow as pa

    dtype = series.dtype
    if dtype.kind == "M" and getattr(dtype, "tz", None) is None:
        arr = pa.array(series.to_numpy(), from_pandas=True)
        return arr.cast(pa.timestamp(arr.type.unit, "UTC"))
    ts = pd.to_datetime(series)
    return ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
