"""Golden point-in-time tests: the DuckDB join against the brute-force reference, case by case."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from featurestream.config import Config, load_config
from featurestream.definitions import FeatureView
from featurestream.offline import build_training_set, write_rows
from tests.support.pit_reference import ReferenceView, reference_pit_join
from tests.support.views import make_view

T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


USER = make_view(
    "user_stats",
    ["user_id"],
    {"clicks": "BIGINT", "amount": "DOUBLE"},
    ttl=timedelta(hours=1),
    defaults={"clicks": 0, "amount": -1.0},
)
ITEM = make_view("item_stats", ["item_id"], {"views": "BIGINT"}, ttl=timedelta(minutes=30), defaults={"views": 7})
PAIR = make_view("pair_stats", ["user_id", "item_id"], {"score": "DOUBLE"}, ttl=timedelta(hours=2))


def _row(keys: dict[str, Any], ft: datetime, created: datetime | None = None, **feats: Any) -> dict[str, Any]:
    return {**keys, "feature_time": ft, "created_at": created, **feats}


def _check(
    config: Config,
    views: list[tuple[FeatureView, list[dict[str, Any]]]],
    labels: pd.DataFrame,
    *,
    as_served: bool = False,
    delays: dict[str, timedelta] | None = None,
    expiries: dict[str, Any] | None = None,
) -> pd.DataFrame:
    for view, rows in views:
        if rows:
            write_rows(config, view, rows)
    refs = [f"{v.name}:{f}" for v, _ in views for f in v.feature_names]
    ts = build_training_set(
        config,
        labels,
        features=refs,
        views=[v for v, _ in views],
        full_feature_names=True,
        as_served=as_served,
        watermark_delays=delays,
    )
    got = ts.to_pandas()
    assert len(got) == len(labels)
    assert ts.report.leakage_free
    ref_labels = [
        {**{str(k): v for k, v in r.items()}, "event_timestamp": pd.Timestamp(r["event_timestamp"]).to_pydatetime()}
        for r in labels.to_dict("records")
    ]
    expected = reference_pit_join(
        ref_labels,
        "event_timestamp",
        [
            ReferenceView(
                v.name,
                v.entities,
                rows,
                v.feature_names,
                v.ttl,
                v.defaults,
                (delays or {}).get(v.name, timedelta(0)),
                (expiries or {}).get(v.name),
            )
            for v, rows in views
        ],
        as_served=as_served,
    )
    for i, exp in enumerate(expected):
        for col, value in exp.items():
            actual = got[col].iloc[i]
            if value is None:
                assert actual is None or (isinstance(actual, float) and math.isnan(actual)), (i, col, actual)
            else:
                assert actual == value, (i, col, actual, value)
    return got


def _labels(rows: list[tuple[Any, ...]], cols: tuple[str, ...] = ("user_id", "event_timestamp")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(cols))


def test_exact_time_match_is_included(config: Config) -> None:
    rows = [_row({"user_id": "u"}, T0, T0, clicks=1, amount=1.0)]
    got = _check(config, [(USER, rows)], _labels([("u", T0), ("u", T0 - timedelta(microseconds=1))]))
    assert list(got["user_stats__clicks"]) == [1, 0]


def test_ttl_boundary_both_sides(config: Config) -> None:
    rows = [_row({"user_id": "u"}, T0, T0, clicks=5, amount=5.0)]
    ttl = USER.ttl
    labels = _labels(
        [
            ("u", T0 + ttl - timedelta(microseconds=1)),  # just inside: value
            ("u", T0 + ttl),  # exactly ttl old: expired (lower bound exclusive)
            ("u", T0 + ttl + MIN),  # beyond: default
        ]
    )
    got = _check(config, [(USER, rows)], labels)
    assert list(got["user_stats__clicks"]) == [5, 0, 0]
    assert list(got["user_stats__amount"]) == [5.0, -1.0, -1.0]


def test_created_at_breaks_feature_time_ties(config: Config) -> None:
    rows = [
        _row({"user_id": "u"}, T0, T0 + 2 * MIN, clicks=2, amount=2.0),
        _row({"user_id": "u"}, T0, T0 + 3 * MIN, clicks=3, amount=3.0),  # latest created_at wins
        _row({"user_id": "u"}, T0, T0 + 1 * MIN, clicks=1, amount=1.0),
        _row({"user_id": "u"}, T0, None, clicks=9, amount=9.0),  # no created_at ranks lowest
    ]
    got = _check(config, [(USER, rows)], _labels([("u", T0), ("u", T0 + MIN)]))
    assert list(got["user_stats__clicks"]) == [3, 3]


def test_no_match_gives_declared_default_and_null_without_one(config: Config) -> None:
    rows = [_row({"user_id": "u"}, T0, T0, clicks=1, amount=1.0)]
    pair_rows = [_row({"user_id": "u", "item_id": "i"}, T0, T0, score=0.5)]
    labels = _labels([("other", T0, "i"), ("u", T0, "i")], ("user_id", "event_timestamp", "item_id"))
    got = _check(config, [(USER, rows), (PAIR, pair_rows)], labels)
    assert list(got["user_stats__clicks"]) == [0, 1]
    assert got["pair_stats__score"].isna().tolist() == [True, False]


def test_duplicated_label_rows_keep_order_and_count(config: Config) -> None:
    rows = [_row({"user_id": u}, T0 - i * MIN, T0, clicks=i, amount=float(i)) for i, u in enumerate("abcab")]
    labels = _labels([("b", T0), ("a", T0), ("b", T0), ("zz", T0), ("a", T0), ("b", T0)])
    labels["y"] = range(len(labels))
    got = _check(config, [(USER, rows)], labels)
    assert got["y"].tolist() == list(range(6))
    assert got["user_id"].tolist() == ["b", "a", "b", "zz", "a", "b"]


def test_two_entity_types_and_a_composite_key_in_one_set(config: Config) -> None:
    users = [_row({"user_id": "u1"}, T0 - 10 * MIN, T0, clicks=1, amount=1.0)]
    items = [
        _row({"item_id": "i1"}, T0 - 5 * MIN, T0, views=10),
        _row({"item_id": "i1"}, T0 + 5 * MIN, T0 + 5 * MIN, views=11),
    ]
    pairs = [_row({"user_id": "u1", "item_id": "i2"}, T0 - 90 * MIN, T0, score=0.25)]
    labels = _labels(
        [("u1", T0, "i1"), ("u1", T0 + 6 * MIN, "i1"), ("u1", T0, "i2"), ("u2", T0, "i1")],
        ("user_id", "event_timestamp", "item_id"),
    )
    got = _check(config, [(USER, users), (ITEM, items), (PAIR, pairs)], labels)
    assert got["item_stats__views"].tolist() == [10, 11, 7, 10]
    assert got["pair_stats__score"].tolist()[2] == 0.25


def test_out_of_order_feature_rows_across_files(config: Config) -> None:
    rows = [_row({"user_id": "u"}, T0 - k * MIN, T0, clicks=k, amount=float(k)) for k in (5, 1, 9, 3, 0, 7)]
    for r in rows:  # one file per row, in scrambled order
        write_rows(config, USER, [r])
    labels = _labels([("u", T0 - k * MIN) for k in range(10)])
    ts = build_training_set(config, labels, features=["user_stats:clicks"], views=[USER])
    assert ts.to_pandas()["clicks"].tolist() == [0, 1, 3, 3, 5, 5, 7, 7, 9, 9]


@pytest.mark.parametrize(
    "zone",
    [None, UTC, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")],
    ids=["naive", "utc", "plus0530", "dst"],
)
def test_label_timezones(config: Config, zone: Any) -> None:
    # 2024-03-10 is the US spring-forward day: 07:00 UTC == 03:00 EDT, 06:59 UTC == 01:59 EST.
    base = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    rows = [_row({"user_id": "u"}, base, base, clicks=1, amount=1.0)]
    instants = [base - MIN, base, base + 30 * MIN]
    if zone is None:
        stamps: list[Any] = [t.replace(tzinfo=None) for t in instants]
    else:
        stamps = [t.astimezone(zone) for t in instants]
    labels = pd.DataFrame({"user_id": ["u"] * 3, "event_timestamp": pd.Series(stamps)})
    got = _check(config, [(USER, rows)], labels)
    assert got["user_stats__clicks"].tolist() == [0, 1, 1]
    assert str(got["event_timestamp"].dt.tz) == "UTC"
    assert got["event_timestamp"].tolist() == [pd.Timestamp(t) for t in instants]


def test_string_label_times_with_mixed_offsets(config: Config) -> None:
    rows = [_row({"user_id": "u"}, T0, T0, clicks=1, amount=1.0)]
    labels = _labels([("u", "2024-03-10T17:30:00+05:30"), ("u", "2024-03-10 11:59:00"), ("u", "2024-03-10T12:00:00Z")])
    got = _check(config, [(USER, rows)], labels)
    assert got["user_stats__clicks"].tolist() == [1, 0, 1]


def test_as_served_uses_availability_and_monotonic_writes(config: Config) -> None:
    delay = timedelta(seconds=5)
    rows = [
        _row({"user_id": "u"}, T0, T0 + 10 * MIN, clicks=1, amount=1.0),  # streamed, visible late
        _row({"user_id": "u"}, T0 - MIN, None, clicks=2, amount=2.0),  # backfilled: ft + delay
        _row({"user_id": "u"}, T0 - 2 * MIN, T0 + 20 * MIN, clicks=3, amount=3.0),  # older, arrives last
    ]
    labels = _labels([("u", T0), ("u", T0 - MIN + delay), ("u", T0 + 10 * MIN), ("u", T0 + 30 * MIN)])
    got = _check(config, [(USER, rows)], labels, as_served=True, delays={"user_stats": delay})
    assert got["user_stats__clicks"].tolist() == [2, 2, 1, 1]
    pit = build_training_set(config, labels, features=["user_stats:clicks"], views=[USER]).to_pandas()
    assert pit["clicks"].tolist() == [1, 2, 1, 1]


def test_report_counts_matches_expired_and_missing(config: Config) -> None:
    write_rows(config, USER, [_row({"user_id": "u"}, T0, T0, clicks=1, amount=1.0)])
    labels = _labels([("u", T0), ("u", T0 + 2 * USER.ttl), ("v", T0), ("u", T0 - MIN)])
    ts = build_training_set(config, labels, features=["user_stats:clicks"], views=[USER], include_feature_times=True)
    (rep,) = ts.report.views
    assert (rep.matched, rep.expired, rep.missing, rep.leaked) == (1, 1, 2, 0)
    assert "leakage check: ok" in ts.report.summary()
    df = ts.to_pandas()
    assert df["user_stats__feature_time"].notna().tolist() == [True, False, False, False]
    assert (df["user_stats__feature_time"].dropna() <= df["event_timestamp"][0]).all()


def test_empty_store_gives_defaults(config: Config) -> None:
    ts = build_training_set(config, _labels([("u", T0)]), features=["user_stats:clicks"], views=[USER])
    assert ts.to_pandas()["clicks"].tolist() == [0]
    assert ts.report.views[0].missing == 1


def _windowed(name: str, tvf: str) -> FeatureView:
    base = make_view(name, ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(hours=6), defaults={"clicks": 0})
    sql = (
        f"SELECT user_id, window_end AS feature_time, COUNT(*) AS clicks FROM TABLE({tvf}) "
        "GROUP BY user_id, window_start, window_end"
    )
    return replace(base, sql=sql, freshness_sla=2 * MIN, watermark_delay=timedelta(seconds=5))


def test_a_quiet_hop_row_falls_back_to_the_default_after_the_next_window_closed(config: Config) -> None:
    """#15 item 11: live until its end + slide (1 min) + watermark delay (5 s) + freshness SLA (2 min)."""
    view = _windowed("hop_clicks", "HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '10' MINUTE)")
    horizon = MIN + timedelta(seconds=5) + 2 * MIN
    rows = [_row({"user_id": "u"}, T0, T0 + timedelta(seconds=6), clicks=4)]
    us = timedelta(microseconds=1)
    labels = _labels([("u", T0), ("u", T0 + horizon - us), ("u", T0 + horizon), ("u", T0 + 2 * timedelta(hours=1))])
    got = _check(config, [(view, rows)], labels, expiries={view.name: lambda ft: ft + horizon})
    assert list(got["hop_clicks__clicks"]) == [4, 4, 0, 0]  # 2 h is inside the 6 h TTL, still the default


def test_a_cumulate_row_falls_back_to_the_default_when_its_day_is_over(config: Config) -> None:
    view = _windowed("today_clicks", "CUMULATE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' MINUTE, INTERVAL '1' DAY)")
    grace = timedelta(seconds=5) + 2 * MIN
    midnight = datetime(2024, 3, 11, tzinfo=UTC)
    final = midnight  # the last row of 2024-03-10: the whole day
    morning = midnight - timedelta(hours=20)  # 04:00 on 2024-03-10
    rows = [
        _row({"user_id": "a"}, final, final + timedelta(seconds=6), clicks=9),
        _row({"user_id": "b"}, morning, morning + timedelta(seconds=6), clicks=2),
    ]

    def expires(ft: datetime) -> datetime:  # the day boundary at or after ft, plus the grace
        end = datetime(ft.year, ft.month, ft.day, tzinfo=UTC)
        return min(ft + 10 * MIN + grace, (end if end >= ft else end + timedelta(days=1)) + grace)

    us = timedelta(microseconds=1)
    labels = _labels(
        [
            ("a", final + grace - us),  # yesterday's total, still within the grace
            ("a", final + grace),  # the new day has begun: default
            ("b", morning + 10 * MIN + grace - us),  # no row since 04:00 for b: live until the next
            ("b", morning + 10 * MIN + grace),  # 10-min step would have closed, then the default
        ]
    )
    got = _check(config, [(view, rows)], labels, expiries={view.name: expires})
    assert list(got["today_clicks__clicks"]) == [9, 0, 2, 0]
