"""Column-at-a-time encoding for the online writer: the vectorised form of :mod:`online.keys`.

:mod:`online.keys` owns the format (``encode_value``, ``encode_row``, ``encode_entity``, ``key_parts``); this module
produces the same bytes for whole columns at once, so a bulk load runs C loops instead of a Python
call per value. The rule it keeps, checked value by value in ``tests/unit/test_online_columnar.py``:

* a **list or tuple** column is encoded value by value with the per-value functions themselves
  (each Python object keeps its own type: ``[1, 2.5]`` stores ``1`` and ``2.5``);
* an **array** column (Arrow, numpy, pandas) encodes exactly as its values as Python objects
  (Arrow's ``to_pylist()``) would: a ``float32`` is stored widened to float64 (as ``materialize``
  and the streaming sink always stored it), NaN, infinities and nulls are ``null``; a row with a
  NULL or blank entity is dropped by the writer first (``keyless_rows``). Numbers, booleans and
  strings without characters JSON escapes take the fast paths; every other type (lists,
  timestamps, dates, mixed objects) is encoded value by value.
* times (``feature_time``, ``created_at``) become integer epoch ms UTC as
  :func:`semantics.to_epoch_ms` computes them; a timestamp column without a time zone is refused,
  like a naive ``datetime``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from featurestream.online.keys import KEY_BLANKS, encode_entity, encode_value, is_keyless
from featurestream.semantics import to_epoch_ms

__all__ = [
    "Column",
    "as_column",
    "encode_entities",
    "encode_rows",
    "encode_values",
    "epoch_ms",
    "join_bytes",
    "keyless_rows",
    "take",
]

Column: TypeAlias = pa.Array | list[Any]
"""A normalised column: an Arrow array, or a Python list encoded value by value."""

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_NULL = pa.scalar(b"null", pa.binary())
_OPEN, _CLOSE, _EMPTY_SEP = (pa.scalar(b, pa.binary()) for b in (b"[", b"]", b""))
_NEEDS_JSON_ESCAPE = r'[\x00-\x1f"\\]'  # orjson escapes exactly these in a string (RFC 8259)
_MS_PER_UNIT = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def as_column(values: Any) -> Column:
    """An input column -> an Arrow array, or a Python list when it is one (kept value by value).

    Accepts ``pyarrow.Array``/``ChunkedArray``, numpy arrays, pandas ``Series`` and lists/tuples.
    Object-dtype arrays whose values Arrow would coerce to one numeric type (``[1, 2.5]``) stay
    Python lists, so each value keeps its own type.
    """
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, list | tuple):
        return list(values)
    try:
        if not isinstance(values, np.ndarray) and isinstance(getattr(values, "dtype", None), np.dtype):
            values = values.to_numpy()  # a pandas Series of a numpy dtype: Arrow converts the array faster
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return _pylist(values)
    numeric = pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)
    if numeric and getattr(getattr(values, "dtype", None), "kind", "") == "O":
        return _pylist(values)
    return arr


def _pylist(values: Any) -> list[Any]:
    return list(values.tolist()) if hasattr(values, "tolist") else list(values)


# ---------------------------------------------------------------------------------------- values


def encode_values(col: Column) -> pa.Array:
    """Element ``i`` is ``encode_value`` of value ``i`` (see the module rule); a binary array."""
    if isinstance(col, list):
        typed = _typed(col)
        if typed is None:
            return _each(encode_value, col)
        col = typed
    t = col.type
    if pa.types.is_float32(t) or pa.types.is_float64(t):
        # nulls become NaN, which orjson writes as null, exactly like None
        return _numbers(col.cast(pa.float64()).to_numpy(zero_copy_only=False), None)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        nulls = col.is_null() if col.null_count else None
        filled = col.fill_null(False if pa.types.is_boolean(t) else 0) if nulls is not None else col
        return _numbers(filled.to_numpy(zero_copy_only=False), nulls)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        s = col.cast(pa.string())
        if not pc.any(pc.match_substring_regex(s, _NEEDS_JSON_ESCAPE)).as_py():
            quoted = pc.binary_join_element_wise('"', s, '"', "")
            return (quoted.fill_null("null") if s.null_count else quoted).cast(pa.binary())
    if pa.types.is_null(t):
        return pa.array([b"null"] * len(col), pa.binary())
    if pa.types.is_timestamp(t) and t.unit == "ns":  # to_pylist would give pd.Timestamp, not a datetime
        col = col.cast(pa.timestamp("us", t.tz), safe=False)
    return _each(encode_value, col.to_pylist())


def _each(encode: Callable[[Any], bytes], values: list[Any]) -> pa.Array:
    """``encode`` of every value, as one binary array. The bytes are copied into one buffer as they
    come: keeping a list of orjson's results costs several times the encoding (each result pins a
    freshly allocated buffer; measured 2.2 us against 0.4 us a value)."""
    buf = bytearray()
    offsets = [0]
    extend, append = buf.extend, offsets.append
    for v in values:
        extend(encode(v))
        append(len(buf))
    large = len(buf) >= 2**31
    return pa.Array.from_buffers(
        pa.large_binary() if large else pa.binary(),
        len(values),
        [None, pa.py_buffer(np.array(offsets, dtype=np.int64 if large else np.int32)), pa.py_buffer(buf)],
    )


_PY_TYPES = {float: pa.float64(), int: pa.int64(), bool: pa.bool_(), str: pa.string()}


def _typed(values: list[Any]) -> pa.Array | None:
    """A list whose values are all of one plain type (float, int within int64, bool, str) as an
    Arrow array of that type, which encodes to the same bytes value by value; else None."""
    if not values:
        return None
    kind = _PY_TYPES.get(type(values[0]))
    if kind is None or not all(type(v) is type(values[0]) for v in values):
        return None
    try:
        return pa.array(values, kind)
    except (OverflowError, pa.ArrowInvalid):
        return None


def _entity_text(value: Any) -> bytes:
    return encode_entity((value,)).encode()


def _numbers(values: np.ndarray, nulls: pa.Array | None) -> pa.Array:
    """orjson's text of every number (or boolean) of a 1-d array, as one binary array.

    One ``orjson.dumps`` of the whole array, then the commas become the element boundaries
    (a JSON number, ``true``, ``false`` or ``null`` never holds a comma).
    """
    n = len(values)
    if n == 0:
        return pa.array([], pa.binary())
    raw = np.frombuffer(orjson.dumps(np.ascontiguousarray(values), option=_OPTS), dtype=np.uint8)[1:-1]
    commas = np.flatnonzero(raw == 44)
    data = np.delete(raw, commas)
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:n] = commas - np.arange(n - 1)
    offsets[n] = len(data)
    out = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return out if nulls is None else pc.if_else(nulls, _NULL, out)


# -------------------------------------------------------------------------------------- entities


def keyless_rows(cols: Sequence[Column]) -> np.ndarray | None:
    """A boolean mask of the rows with a keyless entity value (:func:`online.keys.is_keyless`) in any
    of the entity columns ``cols``, or None when every row has a key (the common case, no copy)."""
    mask: np.ndarray | None = None
    for col in cols:
        if isinstance(col, list):
            m = np.fromiter((is_keyless(v) for v in col), dtype=bool, count=len(col))
        else:
            bad = col.is_null()
            t = col.type
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                blank = pc.equal(pc.utf8_trim(col, characters=KEY_BLANKS), "")
                bad = pc.or_(bad, blank.fill_null(False))
            m = np.asarray(bad.to_numpy(zero_copy_only=False), dtype=bool)
        mask = m if mask is None else mask | m
    return mask if mask is not None and mask.any() else None


def take(col: Column, keep: np.ndarray) -> Column:
    """The rows of ``col`` where the boolean mask ``keep`` is true."""
    if isinstance(col, list):
        return [v for v, k in zip(col, keep.tolist(), strict=True) if k]
    return col.filter(pa.array(keep))


def encode_entities(cols: Sequence[Column]) -> pa.Array:
    """The entity part of each row's key (:func:`online.keys.encode_entity` of the row's values in
    the view's declared entity order), as one string array."""
    parts = [_entity_part(c) for c in cols]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "|")


def _entity_part(col: Column) -> pa.Array:
    if isinstance(col, list):
        typed = _typed(col)
        if typed is None or pa.types.is_floating(typed.type) or pa.types.is_boolean(typed.type):
            return _each(_entity_text, col).cast(pa.string())
        col = typed
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t):
        s = col.cast(pa.string())
        if s.null_count:
            s = s.fill_null("None")  # str(None), as the row path writes it
        if pa.types.is_integer(t) or not pc.any(pc.match_substring_regex(s, r"[\\|]")).as_py():
            return s
        return pc.replace_substring(pc.replace_substring(s, "\\", "\\\\"), "|", "\\|")
    return _each(_entity_text, col.to_pylist()).cast(pa.string())


# ----------------------------------------------------------------------------------------- times


def epoch_ms(col: Column, name: str, *, default: int | None = None, first_row: int = 0) -> np.ndarray:
    """Integer epoch ms UTC of every value (:func:`semantics.to_epoch_ms`), an int64 array.

    A null is ``default``, or an error when ``default`` is None. Raises ``ValueError`` naming
    ``name`` and the first bad row (counted from ``first_row``).
    """
    if isinstance(col, list):
        typed = _typed(col)
        if typed is not None and pa.types.is_integer(typed.type):
            return typed.to_numpy()
        return np.fromiter(
            (_one_ms(v, name, first_row + i, default) for i, v in enumerate(col)), dtype=np.int64, count=len(col)
        )
    t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            raise ValueError(
                f"{name}: expected epoch ms or timezone-aware timestamps, found naive {t}; "
                "attach a zone, e.g. series.dt.tz_localize('UTC')"
            )
        mul, div = _MS_PER_UNIT[t.unit]
        return _ms(col.cast(pa.int64()), name, default, first_row, mul, div)
    if pa.types.is_integer(t):
        return _ms(col.cast(pa.int64()), name, default, first_row, 1, 1)
    if pa.types.is_floating(t):
        f = col.cast(pa.float64())
        nan = pc.is_nan(f)
        if pc.any(nan).as_py():
            f = pc.if_else(nan, pa.scalar(None, pa.float64()), f)
        return _ms(pc.cast(pc.trunc(f), pa.int64()), name, default, first_row, 1, 1)  # int() truncates
    return epoch_ms(col.to_pylist(), name, default=default, first_row=first_row)


def _ms(ints: pa.Array, name: str, default: int | None, first_row: int, mul: int, div: int) -> np.ndarray:
    nulls = ints.is_null().to_numpy(zero_copy_only=False) if ints.null_count else None
    if nulls is not None and default is None:
        raise ValueError(f"{name} is null in row {first_row + int(np.flatnonzero(nulls)[0])}; every row needs one")
    out = (ints.fill_null(0) if nulls is not None else ints).to_numpy(zero_copy_only=False).astype(np.int64)
    if mul != 1:
        out *= mul
    if div != 1:
        out //= div  # floor, as to_epoch_ms floors a datetime's microseconds
    if nulls is not None:
        out[nulls] = default
    return out


def _one_ms(value: Any, name: str, row: int, default: int | None) -> int:
    if value is None:
        if default is None:
            raise ValueError(f"{name} is null in row {row}; every row needs one")
        return default
    try:
        return to_epoch_ms(value)
    except ValueError as exc:
        raise ValueError(f"{name} of row {row}: {exc}") from None


# ------------------------------------------------------------------------------------------ blobs


def join_bytes(parts: Sequence[pa.Array], sep: bytes) -> pa.Array:
    """Row ``i`` is ``sep.join(part[i] for part in parts)``: a binary array (string parts are
    taken as their UTF-8 bytes)."""
    return pc.binary_join_element_wise(*(p.cast(pa.binary()) for p in parts), pa.scalar(sep, pa.binary()))


def encode_rows(ft: pa.Array, ct: pa.Array | pa.Scalar, values: Sequence[pa.Array]) -> pa.Array:
    """Row ``i`` is :func:`online.keys.encode_row` of row ``i``: ``[ft,ct,value_1,...,value_n]``, from
    the times as decimal strings (``ct`` may be one scalar for every row) and each feature's column
    as :func:`encode_values` encodes it, in the view's feature order; a binary array."""
    sep = pa.scalar(b",", pa.binary())
    inner = pc.binary_join_element_wise(*(p.cast(pa.binary()) for p in (ft, ct, *values)), sep)
    return pc.binary_join_element_wise(_OPEN, inner, _CLOSE, _EMPTY_SEP)
