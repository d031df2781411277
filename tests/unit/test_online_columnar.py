"""The column-at-a-time encoders give the per-value encoders' bytes, value for value (no services)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection as RedisPyConnection

from featurestream.online.columnar import (
    as_column,
    encode_entities,
    encode_rows,
    encode_values,
    epoch_ms,
    join_bytes,
)
from featurestream.online.keys import encode_entity, encode_row, encode_value
from featurestream.online.resp import arg, args, command_head, frame
from featurestream.semantics import to_epoch_ms

SEPARATORS = ["", "plain", "a|b", "back\\slash", "\\|", 'quote"d', "new\nline", "tab\t", "nul\0", "é", "😀", "|"]
FLOATS = [0.0, -0.0, 1.0, 0.1, 1e16, 1e20, 1.5e-7, 5e-324, 1.7976931348623157e308, math.nan, math.inf, -math.inf]


def _expected(values: list[Any]) -> list[bytes]:
    return [encode_value(v) for v in values]


def _check(arr: pa.Array) -> None:
    assert encode_values(as_column(arr)).to_pylist() == _expected(arr.to_pylist())


@pytest.mark.parametrize(
    ("values", "type_"),
    [
        ([*FLOATS, None], pa.float64()),
        ([0.1, 1.5, None, 3.4e38, math.nan], pa.float32()),  # stored widened, as to_pylist gives them
        ([0, 1, -1, 2**62, -(2**63), None], pa.int64()),
        ([0, 2**64 - 1, None], pa.uint64()),
        ([1, -2, None], pa.int8()),
        ([True, False, None], pa.bool_()),
        ([*SEPARATORS, None], pa.string()),
        ([*SEPARATORS, None], pa.large_string()),
        ([[1.0, 2.5], [], None, [math.nan]], pa.list_(pa.float64())),
        ([["a", "b|c"], None], pa.list_(pa.string())),
        ([datetime(2024, 1, 1, 12, 30, 1, 5000, tzinfo=UTC), None], pa.timestamp("ms", "UTC")),
        ([datetime(2024, 1, 1, 12, 30, 1, 5, tzinfo=UTC)], pa.timestamp("us", "UTC")),
        ([datetime(2024, 1, 1), None], pa.timestamp("us")),
        ([None, None], pa.null()),
        ([], pa.float64()),
        ([], pa.string()),
    ],
)
def test_every_fast_path_gives_the_per_value_bytes(values: list[Any], type_: pa.DataType) -> None:
    _check(pa.array(values, type_))


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=60))
def test_random_floats(values: list[float | None]) -> None:
    _check(pa.array(values, pa.float64()))
    _check(pa.array(values, pa.float32()))


@given(st.lists(st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)), max_size=60))
def test_random_ints(values: list[int | None]) -> None:
    _check(pa.array(values, pa.int64()))


@given(st.lists(st.one_of(st.none(), st.text()), max_size=40))
def test_random_strings_and_entities(values: list[str | None]) -> None:
    _check(pa.array(values, pa.string()))
    col = as_column(pa.array(values, pa.string()))
    assert encode_entities([col]).to_pylist() == [encode_entity((v,)) for v in values]


@given(
    st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
        st.lists(st.integers(), max_size=30),  # beyond int64 too: those stay Python ints
        st.lists(st.booleans(), max_size=30),
        st.lists(st.text(), max_size=30),
        st.lists(st.one_of(st.integers(), st.booleans(), st.floats(), st.none()), max_size=30),
    )
)
def test_random_python_lists(values: list[Any]) -> None:
    col = as_column(values)
    assert encode_entities([col]).to_pylist() == [encode_entity((v,)) for v in values]
    try:
        want = _expected(values)
    except TypeError:  # an integer JSON cannot hold (beyond 64 bits) is refused either way
        with pytest.raises(TypeError):
            encode_values(col)
        return
    assert encode_values(col).to_pylist() == want


def test_lists_keep_each_python_value_as_it_is() -> None:
    mixed = [1, 2.5, "x|y", True, None, [1, 2], {"k": 1}, np.float32(0.1), datetime(2024, 1, 1, tzinfo=UTC)]
    assert encode_values(as_column(mixed)).to_pylist() == _expected(mixed)
    assert encode_values(as_column(np.array([1, 2.5], dtype=object))).to_pylist() == [b"1", b"2.5"]


def test_numpy_and_pandas_columns_encode_as_their_python_values() -> None:
    f32 = np.array([0.1, np.nan, 2.0], dtype=np.float32)
    assert encode_values(as_column(f32)).to_pylist() == _expected([float(x) for x in f32])
    assert encode_values(as_column(np.arange(3))).to_pylist() == [b"0", b"1", b"2"]
    series = pd.Series([1.5, np.nan, None])
    assert encode_values(as_column(series)).to_pylist() == [b"1.5", b"null", b"null"]
    strings = pd.Series(["a", None, 'q"'], dtype=object)
    assert encode_values(as_column(strings)).to_pylist() == [b'"a"', b"null", b'"q\\""']
    arrays = pd.Series([np.array([0.5, 1.0], dtype=np.float32), np.array([], dtype=np.float32)])
    assert encode_values(as_column(arrays)).to_pylist() == [b"[0.5,1.0]", b"[]"]
    assert encode_values(as_column(pd.Series([1, None], dtype="Int64"))).to_pylist() == [b"1", b"null"]


def test_entities_single_and_composite() -> None:
    a = [*SEPARATORS, None]
    b = [*range(len(a) - 1), None]
    expected = [encode_entity((x, y)) for x, y in zip(a, b, strict=True)]
    assert encode_entities([as_column(pa.array(a)), as_column(pa.array(b))]).to_pylist() == expected
    assert encode_entities([as_column(a), as_column(b)]).to_pylist() == expected
    floats = [1.0, None, 2.5]
    assert encode_entities([as_column(pa.array(floats))]).to_pylist() == [encode_entity((v,)) for v in floats]
    assert encode_entities([as_column(pd.Series(["u|1", "u2"]))]).to_pylist() == ["u\\|1", "u2"]


def test_times_equal_to_epoch_ms() -> None:
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    dts = [datetime(2024, 3, 1, 12, 0, 0, us, tzinfo=z) for z in zones for us in (0, 999, 1500, 999_999)]
    dts.append(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC))  # before the epoch: floor, not truncate
    want = [to_epoch_ms(d) for d in dts]
    assert epoch_ms(as_column(dts), "t").tolist() == want
    for unit in ("us", "ns"):
        assert epoch_ms(as_column(pa.array(dts, pa.timestamp(unit, "UTC"))), "t").tolist() == want
    assert epoch_ms(as_column(pd.Series(pd.to_datetime(dts, utc=True))), "t").tolist() == want
    assert epoch_ms(as_column(pa.array([1, 2**40])), "t").tolist() == [1, 2**40]
    assert epoch_ms(as_column([1.9, -1.9]), "t").tolist() == [1, -1]  # int(): truncation
    assert epoch_ms(as_column(np.array([1.9, -1.9])), "t").tolist() == [1, -1]
    assert epoch_ms(as_column(pa.array([5, None])), "t", default=7).tolist() == [5, 7]
    assert epoch_ms(as_column([None, 5]), "t", default=7).tolist() == [7, 5]


@pytest.mark.parametrize(
    "col",
    [
        pa.array([datetime(2024, 1, 1)], pa.timestamp("ms")),
        pd.Series(pd.to_datetime(["2024-01-01"])),
        [datetime(2024, 1, 1)],
    ],
)
def test_naive_times_are_refused(col: Any) -> None:
    with pytest.raises(ValueError, match="naive"):
        epoch_ms(as_column(col), "feature_time")


def test_null_times_without_default_name_the_row() -> None:
    with pytest.raises(ValueError, match="feature_time is null in row 11"):
        epoch_ms(as_column(pa.array([1, None])), "feature_time", first_row=10)
    with pytest.raises(ValueError, match="feature_time is null in row 1"):
        epoch_ms(as_column([1, None]), "feature_time")


def test_join_and_framing_match_redis_py() -> None:
    keys = pa.array(["{ns:a}:v:1", "{ns:é|b}:v:1"])
    blobs = join_bytes([pa.array(["1", "2"]), pa.scalar("9"), pa.array([b"1.5", b'"x"'], pa.binary())], b"\0")
    assert blobs.to_pylist() == [b"1\x009\x001.5", b'2\x009\x00"x"']
    fk, fb = frame(keys), frame(blobs)
    header = [b"60000", b"1", b"f"]
    head = command_head(3 + 3 + 4, arg(b"EVAL"), arg(b"return 1"), arg(2))
    ours = b"".join([head, fk.span(0, 2), *map(arg, header), fb.span(0, 2)])
    theirs = b"".join(
        RedisPyConnection().pack_command("EVAL", "return 1", 2, *keys.to_pylist(), *header, *blobs.to_pylist())
    )
    assert ours == theirs
    assert bytes(fk.span(1, 2)) == arg("{ns:é|b}:v:1")


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**45),
            st.floats(allow_nan=True, allow_infinity=True) | st.none(),
            st.text(max_size=5) | st.none(),
            st.lists(st.integers(-5, 5), max_size=3),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_rows_encode_as_the_per_row_function(rows: list[tuple[int, float | None, str | None, list[int]]]) -> None:
    """The writer's vectorised compact rows are exactly ``online.keys.encode_row`` of each row,
    with one ``created_at`` for all rows or one per row."""
    ft = pa.array([r[0] for r in rows], pa.int64())
    values = [encode_values(as_column([r[i] for r in rows])) for i in (1, 2, 3)]
    one = encode_rows(ft.cast(pa.string()), pa.scalar("7"), values).to_pylist()
    assert one == [encode_row(r[0], 7, r[1:]) for r in rows]
    each = encode_rows(ft.cast(pa.string()), ft.cast(pa.string()), values).to_pylist()
    assert each == [encode_row(r[0], r[0], r[1:]) for r in rows]


@pytest.mark.parametrize("seed", range(20))
def test_many_arguments_are_framed_as_each_alone(seed: int) -> None:
    """``resp.args`` (the lookup's keys) frames exactly as ``resp.arg`` of each: empty, multi-byte
    UTF-8, and arguments past the 1 KiB of looked-up headers."""
    rnd = random.Random(seed)
    alphabet = "ab|\\:@ü€\r\n"
    keys = ["".join(rnd.choice(alphabet) for _ in range(rnd.choice([0, 1, 20, 1023, 1024, 3000]))) for _ in range(9)]
    assert args(keys) == b"".join(arg(k.encode()) for k in keys)
    assert args(keys[:1]) == arg(keys[0].encode())
    assert args([]) == b""
