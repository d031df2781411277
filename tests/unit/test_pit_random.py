"""Randomised comparison of the DuckDB point-in-time join with the brute-force reference."""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestream.config import load_config
from featurestream.offline import build_training_set, write_rows
from tests.support.pit_reference import ReferenceView, reference_pit_join
from tests.support.views import make_view

T0 = datetime(2024, 6, 30, 23, 50, tzinfo=UTC)  # rows straddle a date partition boundary
MIN = timedelta(minutes=1)

_row_keys = st.tuples(
    st.sampled_from(["a", "b", "c"]),  # entity
    st.integers(0, 20),  # feature_time minute
    st.one_of(st.none(), st.integers(0, 30)),  # created_at delay in minutes (None = backfilled)
)
_rows = st.lists(st.tuples(_row_keys, st.integers(-5, 5)), max_size=25, unique_by=lambda r: r[0])
_labels = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(-2, 45)), min_size=1, max_size=20)


def _feature_rows(spec: list[tuple[tuple[str, int, int | None], int]], key: str) -> list[dict[str, Any]]:
    out = []
    for (entity, minute, delay), value in spec:
        ft = T0 + minute * MIN
        out.append(
            {key: entity, "feature_time": ft, "created_at": None if delay is None else ft + delay * MIN, "v": value}
        )
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    users=_rows,
    items=_rows,
    labels=_labels,
    ttl_minutes=st.sampled_from([1, 3, 10, 60]),
    as_served=st.booleans(),
    delay_s=st.sampled_from([0, 5, 90]),
)
def test_random_joins_match_reference(
    users: Any, items: Any, labels: Any, ttl_minutes: int, as_served: bool, delay_s: int
) -> None:
    ttl = ttl_minutes * MIN
    delay = timedelta(seconds=delay_s)
    user_view = make_view("u_view", ["user_id"], {"v": "BIGINT"}, ttl=ttl, defaults={"v": -100})
    item_view = make_view("i_view", ["item_id"], {"v": "BIGINT"}, ttl=2 * ttl)
    user_rows = _feature_rows(users, "user_id")
    item_rows = _feature_rows(items, "item_id")
    label_rows = [
        {"user_id": e, "item_id": e, "event_timestamp": (T0 + m * MIN + timedelta(seconds=m % 3 * 20)), "i": i}
        for i, (e, m) in enumerate(labels)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(tmp), env={})
        if user_rows:
            write_rows(config, user_view, user_rows)
        if item_rows:
            write_rows(config, item_view, item_rows)
        got = build_training_set(
            config,
            pd.DataFrame(label_rows),
            features=["u_view:v", "i_view:v"],
            views=[user_view, item_view],
            full_feature_names=True,
            as_served=as_served,
            watermark_delays={"u_view": delay, "i_view": delay},
        ).to_pandas()
    expected = reference_pit_join(
        label_rows,
        "event_timestamp",
        [
            ReferenceView("u_view", ["user_id"], user_rows, ["v"], ttl, {"v": -100}, delay),
            ReferenceView("i_view", ["item_id"], item_rows, ["v"], 2 * ttl, {}, delay),
        ],
        as_served=as_served,
    )
    assert got["i"].tolist() == list(range(len(label_rows)))
    for i, exp in enumerate(expected):
        for col, value in exp.items():
            actual = got[col].iloc[i]
            if value is None:
                assert actual is None or (isinstance(actual, float) and math.isnan(actual)), (i, col, actual)
            else:
                assert actual == value, (i, col, actual, value)
