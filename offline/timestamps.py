"""Timestamp normalisation: every timestamp leaving the offline store is timezone-aware UTC.

Naive timestamps (Flink's ``TIMESTAMP`` without a zone, INT96, naive pandas values) are read as
UTC; zoned ones are converted. Strings are parsed; empty or unparseable values are an error that
names the column and the first offending row.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from featurestream.offline.errors import LabelError

__all__ = ["UTC_US", "to_utc_column"]

UTC_US = pa.timestamp("us", tz="UTC")
_ZONE_SUFFIX = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"


def _first_null(arr: pa.ChunkedArray | pa.Array) -> int:
    mask = pc.is_null(arr).to_numpy(zero_copy_only=False)
    return int(mask.argmax())


def to_utc_column(arr: pa.ChunkedArray | pa.Array, column: str, *, allow_null: bool = False) -> pa.ChunkedArray:
    """Return ``arr`` as ``timestamp[us, UTC]``; raise :class:`LabelError` naming ``column``."""
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr = arr.cast(typ.value_type)
        typ = arr.type
    if pa.types.is_timestamp(typ):
        # Arrow stores instants as UTC ints; a naive value is a UTC wall clock, so both a naive and
        # a zoned column become UTC by relabelling, never by shifting.
        out = arr.cast(pa.timestamp("us", tz=typ.tz), safe=False).cast(UTC_US)
    elif pa.types.is_date(typ):
        out = arr.cast(pa.timestamp("us")).cast(UTC_US)
    elif pa.types.is_null(typ):
        out = pa.chunked_array([pa.nulls(len(arr), UTC_US)])
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        out = _parse_strings(arr, column, allow_null)
    else:
        raise LabelError(
            f"label column {column!r}: expected timestamps (or ISO-8601 strings), found type {typ}",
            hint=f"convert {column!r} to datetimes, e.g. pd.to_datetime(df[{column!r}], utc=True)",
        )
    if out.null_count and not allow_null:
        row = _first_null(out)
        raise LabelError(
            f"label column {column!r}: expected a timestamp in every row, found an empty value at row {row}",
            hint=f"drop or fill the rows where {column!r} is empty",
        )
    return out


def _parse_strings(arr: pa.ChunkedArray, column: str, allow_null: bool) -> pa.ChunkedArray:
    values = arr.to_pandas()
    empty = values.isna() | (values.str.strip() == "")
    if allow_null:
        values = values.where(~empty, None)
    elif empty.any():
        row = int(empty.to_numpy().argmax())
        raise LabelError(
            f"label column {column!r}: expected a timestamp in every row, found an empty value at row {row}",
            hint=f"drop or fill the rows where {column!r} is empty",
        )
    try:
        # pandas applies the first value's offset to later naive values, so parse zoned and naive
        # strings separately; naive ones are UTC.
        zoned = values.str.contains(_ZONE_SUFFIX, regex=True)
        if zoned.all() or not zoned.any():
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        else:
            parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
            parsed[zoned] = pd.to_datetime(values[zoned], utc=True, format="ISO8601")
            parsed[~zoned] = pd.to_datetime(values[~zoned], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        bad = _first_unparseable(values)
        raise LabelError(
            f"label column {column!r}: expected ISO-8601 timestamps such as '2024-05-01T12:00:00Z', "
            f"found {bad[1]!r} at row {bad[0]}",
            hint=f"fix or drop that row, or convert {column!r} to datetimes before building the training set",
        ) from exc
    return pa.chunked_array([pa.Array.from_pandas(parsed).cast(UTC_US)])


def _first_unparseable(values: pd.Series) -> tuple[int, str]:
    for i, v in enumerate(values):
        try:
            pd.to_datetime(v, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            return i, str(v)
    return -1, ""
