"""The numpy as-of match of the PIT join (offline.asof) against a brute-force reference, and the
label-key casting the join does in DuckDB before it (labels typed unlike the view's keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestream.config import Config, load_config
from featurestream.offline import build_training_set, write_rows
from featurestream.offline.asof import AsOf, Probes, ProbeTimes, visible_rows
from featurestream.offline.errors import OfflineError
from featurestream.offline.pit import _take
from tests.support.views import make_view

# few codes and times, so equal (code, time) and fully equal rows are common
_row = st.tuples(st.integers(0, 3), st.integers(-3, 6), st.integers(-2, 2))
_probe = st.tuples(st.integers(-1, 4), st.integers(-5, 8))


def _ref_match(rows: list[tuple[int, int, int]], probes: list[tuple[int, int]]) -> list[int]:
    """Per probe, the row with its code and the greatest (time, tie) with time <= t; the later
    input row among fully equal ones; -1 when none."""
    out = []
    for code, t in probes:
        best = -1
        for i, (c, tm, tie) in enumerate(rows):
            if c == code and tm <= t and (best < 0 or (tm, tie) >= rows[best][1:]):
                best = i
        out.append(best)
    return out


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(_row, max_size=40),
    probes=st.lists(_probe, max_size=30),
    code_type=st.sampled_from([np.int32, np.int64]),  # DuckDB hands the row codes over as int32
)
def test_match_is_the_latest_row_at_or_before_each_probe(
    rows: list[tuple[int, int, int]], probes: list[tuple[int, int]], code_type: type
) -> None:
    time, tie = (np.array([r[i] for r in rows], dtype=np.int64) for i in (1, 2))
    code: np.ndarray = np.array([r[0] for r in rows], dtype=code_type)
    p_code = np.array([p[0] for p in probes], dtype=np.int64)
    p_time = np.array([p[1] for p in probes], dtype=np.int64)
    got = AsOf(code, time, (tie,)).match(Probes(p_code, ProbeTimes(p_time)))
    assert got.tolist() == _ref_match(rows, probes)


def _ref_visible(rows: list[tuple[int, int, int, int]]) -> list[int]:
    """Rows never hidden: in (code, avail, ft, created) order, (ft, created) >= every earlier row's."""
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    kept = []
    for pos, i in enumerate(order):
        earlier = [rows[j][2:] for j in order[:pos] if rows[j][0] == rows[i][0]]
        if not earlier or rows[i][2:] >= max(earlier):
            kept.append(i)
    return sorted(kept)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 5), st.integers(-1, 1)), max_size=30)
)
def test_visible_rows_drop_rows_an_earlier_available_newer_row_hides(rows: list[tuple[int, int, int, int]]) -> None:
    code, avail, ft, created = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(4))
    assert visible_rows(code, avail, ft, created).tolist() == _ref_visible(rows)


def test_time_ordered_rows_and_equal_times_across_codes() -> None:
    # the shape of streamed window rows: every row of a window shares its feature_time
    code = np.array([0, 1, 2, 0, 1, 2, 1], dtype=np.int64)
    time = np.array([10, 10, 10, 20, 20, 20, 20], dtype=np.int64)
    tie = np.array([5, 3, 1, 9, 2, 4, 8], dtype=np.int64)  # row 6 re-computes code 1 at 20 later
    probes = Probes(np.array([1, 1, 0, 2, -1], dtype=np.int64), ProbeTimes(np.array([19, 20, 9, 25, 25])))
    assert AsOf(code, time, (tie,)).match(probes).tolist() == [1, 6, -1, 5, -1]


def test_no_rows_or_no_probes() -> None:
    empty = np.zeros(0, dtype=np.int64)
    probes = Probes(np.array([0, -1], dtype=np.int64), ProbeTimes(np.array([1, 2])))
    assert AsOf(empty, empty, (empty,)).match(probes).tolist() == [-1, -1]
    one = np.array([0], dtype=np.int64)
    assert AsOf(one, one, (one,)).match(Probes(empty, ProbeTimes(empty))).tolist() == []
    assert visible_rows(empty, empty, empty, empty).tolist() == []


@pytest.mark.parametrize(
    "chunks",
    [
        [pa.array([1, 2, 3], pa.int64()), pa.array([4, 5], pa.int64())],
        [pa.array([1, 2], pa.int8()), pa.array([3], pa.int8()), pa.array([4, 5], pa.int8())],
        [pa.array([0.5, float("nan"), -0.0], pa.float64()), pa.array([2.5, 1e300], pa.float64())],
        [pa.array([1.5, 2.5, 3.5, 4.5, 5.5], pa.float32())],
        [pa.array([1, None, 3], pa.int64()), pa.array([4, 5], pa.int64())],  # nulls: Arrow's take
        [pa.array(["a", "b", "c"]), pa.array(["d", "e"])],
        [pa.array([True, False, True]), pa.array([False, True])],
        [pa.array([[1], [2, 3], []], pa.list_(pa.int64())), pa.array([[4], None], pa.list_(pa.int64()))],
    ],
)
def test_take_gives_what_arrows_take_of_the_combined_column_gives(chunks: list[pa.Array]) -> None:
    col = pa.chunked_array(chunks)
    take = np.array([4, 0, 0, 3, 1, 2, 4], dtype=np.int64)
    got = _take(col, take)
    want = col.combine_chunks().take(pa.array(take))
    assert got.type == want.type
    if pa.types.is_floating(col.type):  # NaN (never equal) and -0.0: compare the bytes
        assert got.null_count == want.null_count == 0
        assert got.buffers()[1].to_pybytes() == want.buffers()[1].to_pybytes()
    else:
        assert got.equals(want)
    assert _take(pa.chunked_array([], pa.float64()), np.zeros(3, dtype=np.int64)).equals(pa.nulls(3, pa.float64()))


T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


def _join(config: Config, keys: list[Any], label_keys: list[Any]) -> list[Any]:
    """The view's key column takes the type of the rows written (str: VARCHAR, int: BIGINT)."""
    view = make_view("typed", ["acct"], {"v": "BIGINT"}, ttl=timedelta(hours=1))
    write_rows(config, view, [{"acct": k, "feature_time": T0, "v": i} for i, k in enumerate(keys)])
    labels = pd.DataFrame({"acct": label_keys, "event_timestamp": [T0] * len(label_keys)})
    got = build_training_set(config, labels, features=["typed:v"], views=[view]).to_pandas()
    return [None if pd.isna(v) else int(v) for v in got["v"]]


def test_integer_label_keys_match_a_string_keyed_view(config: Config) -> None:
    assert _join(config, ["7", "8"], [8, 7, 9]) == [1, 0, None]


def test_string_label_keys_are_cast_to_an_integer_keyed_view_and_uncastable_ones_match_nothing(
    config: Config,
) -> None:
    assert _join(config, [7, 8], ["8", "x", None, "7"]) == [1, None, None, 0]


def test_a_failing_view_stops_the_join_with_its_error_while_the_next_view_is_read(config: Config) -> None:
    bad = make_view("bad", ["acct"], {"v": "BIGINT"}, defaults={"v": "zero"})
    good = make_view("good", ["acct"], {"w": "BIGINT"})
    for view, col in ((bad, "v"), (good, "w")):
        write_rows(config, view, [{"acct": "a", "feature_time": T0, col: 1}])
    labels = pd.DataFrame({"acct": ["a", "b"], "event_timestamp": [T0, T0]})
    with pytest.raises(OfflineError, match="declared default 'zero'"):
        build_training_set(config, labels, features=["bad:v", "good:w"], views=[bad, good])
