"""Data-quality statistics of one feature column: null rate, default rate, min/max/mean, distinct.

One implementation for every input (offline rows over a time range, logged served values): the
caller hands an Arrow array (or a Python sequence) and the feature's declared default.

* ``nulls`` counts nulls and, for floating columns, NaNs (a NaN is a missing value to a model).
* ``defaults`` counts non-null values equal to the declared default (``None`` declared: 0); for
  served values the caller may pass ``filled`` instead — values the server replaced by the default
  because the row was missing, expired or the store was down.
* ``min``/``max``/``mean`` only for numeric and boolean columns (booleans as 0/1), over non-null values.
* ``distinct`` is exact, over non-null values (lists are counted by their JSON text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FeatureQuality", "column_stats"]


@dataclass(frozen=True)
class FeatureQuality:
    feature: str
    rows: int
    nulls: int
    defaults: int
    min: float | None
    max: float | None
    mean: float | None
    distinct: int
    null_rate_threshold: float = 1.0

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def default_rate(self) -> float:
        return self.defaults / self.rows if self.rows else 0.0

    @property
    def breached(self) -> bool:
        """True when the null rate is above the configured threshold."""
        return self.rows > 0 and self.null_rate > self.null_rate_threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "rows": self.rows,
            "nulls": self.nulls,
            "null_rate": self.null_rate,
            "defaults": self.defaults,
            "default_rate": self.default_rate,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "distinct": self.distinct,
            "breached": self.breached,
        }


def _as_array(values: pa.Array | pa.ChunkedArray | Sequence[Any]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    if isinstance(values, pa.Array):
        return values
    return pa.array(list(values))


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def column_stats(
    feature: str,
    values: pa.Array | pa.ChunkedArray | Sequence[Any],
    default: Any = None,
    *,
    filled: int | None = None,
    null_rate_threshold: float = 1.0,
) -> FeatureQuality:
    """Statistics of one column (see the module docstring for each number's definition)."""
    arr = _as_array(values)
    typ = arr.type
    rows = len(arr)
    valid = arr.drop_null() if arr.null_count else arr
    nulls = arr.null_count
    if pa.types.is_floating(typ) and len(valid):
        nan = pc.is_nan(valid)
        n_nan = int(pc.sum(nan).as_py() or 0)
        if n_nan:
            nulls += n_nan
            valid = valid.filter(pc.invert(nan))
    lo = hi = mean = None
    if len(valid) and (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
        numeric = valid.cast(pa.int8()) if pa.types.is_boolean(typ) else valid
        mm = pc.min_max(numeric).as_py()
        lo, hi = _num(mm["min"]), _num(mm["max"])
        mean = _num(pc.mean(numeric).as_py())
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_struct(typ):
        distinct = len({str(v) for v in valid.to_pylist()})
    else:
        distinct = int(pc.count_distinct(valid).as_py() or 0) if len(valid) else 0
    if filled is not None:
        defaults = filled
    elif default is None or not len(valid):
        defaults = 0
    else:
        try:
            defaults = int(pc.sum(pc.equal(valid, pa.scalar(default, valid.type))).as_py() or 0)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            defaults = sum(1 for v in valid.to_pylist() if v == default)
    return FeatureQuality(feature, rows, nulls, defaults, lo, hi, mean, distinct, null_rate_threshold)
