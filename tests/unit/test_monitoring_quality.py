"""Quality statistics, freshness rules and report rendering (no services)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from featurestream.monitoring.audit import values_equal
from featurestream.monitoring.deadletter import count_records
from featurestream.monitoring.drift import feature_drift
from featurestream.monitoring.freshness import freshness_of, human_seconds
from featurestream.monitoring.quality import column_stats
from featurestream.monitoring.report import MonitorReport, ViewHealth, render_table, render_text
from tests.support.views import make_view

VIEW = replace(
    make_view("clicks", ["user_id"], {"clicks": "BIGINT", "amount": "DOUBLE"}, defaults={"clicks": 0}),
    freshness_sla=timedelta(minutes=5),
)


def test_numeric_stats_with_nulls_nans_and_defaults() -> None:
    q = column_stats("amount", pa.array([1.0, None, float("nan"), 0.0, 0.0, 5.0]), 0.0)
    assert (q.rows, q.nulls, q.defaults, q.distinct) == (6, 2, 2, 3)
    assert q.null_rate == pytest.approx(2 / 6) and q.default_rate == pytest.approx(2 / 6)
    assert (q.min, q.max, q.mean) == (0.0, 5.0, pytest.approx(1.5))


def test_integer_bool_string_and_list_columns() -> None:
    assert column_stats("n", [3, 1, None, 3]).to_dict()["distinct"] == 2
    b = column_stats("flag", [True, False, True, None])
    assert (b.mean, b.min, b.max, b.nulls) == (pytest.approx(2 / 3), 0.0, 1.0, 1)
    s = column_stats("country", ["de", "fr", "de", None], "de")
    assert (s.min, s.mean, s.distinct, s.defaults) == (None, None, 2, 2)
    lst = column_stats("emb", [[0.1, 0.2], [0.1, 0.2], None])
    assert (lst.distinct, lst.nulls) == (1, 1)


def test_empty_column_and_filled_override_and_threshold() -> None:
    e = column_stats("x", pa.array([], pa.float64()))
    assert (e.rows, e.null_rate, e.mean, e.breached) == (0, 0.0, None, False)
    served = column_stats("x", [1, 2, 0, 0], filled=2, null_rate_threshold=0.05)
    assert served.default_rate == 0.5 and not served.breached
    assert column_stats("x", [None, 1.0], null_rate_threshold=0.05).breached


def test_freshness_rules() -> None:
    now = 1_000_000_000
    fresh = freshness_of(VIEW, [now - 1000, now - 5000], [now - 500, now - 4000], now)
    assert not fresh.breached and fresh.newest_age_s == 1.0 and fresh.lag_p50_s == pytest.approx(0.75)
    stale = freshness_of(VIEW, [now - 2 * 3600_000], [now - 2 * 3600_000 + 900], now)
    assert stale.breached and "2h old" in stale.reasons[0]
    assert freshness_of(VIEW, [], [], now).reasons == ("no online rows",)
    slow = freshness_of(VIEW, [now - 1000] * 10, [now + 3 * 3600_000] * 10, now)
    assert any("visibility lag" in r for r in slow.reasons)
    assert human_seconds(0.25) == "250ms" and human_seconds(7200) == "2.0h" and human_seconds(None) == "-"


def test_values_equal_tolerates_round_trips() -> None:
    assert values_equal(1, 1.0) and values_equal(0.1 + 0.2, 0.3) and values_equal(None, None)
    assert values_equal([1.0, 2.0], (1, 2)) and values_equal(float("nan"), float("nan"))
    assert not values_equal(1, 2) and not values_equal(None, 0) and not values_equal(True, 1)
    assert not values_equal([1.0], [1.0, 2.0]) and not values_equal("a", "b")


def test_dead_letter_records_are_counted_by_reason() -> None:
    n, reasons, examples = count_records(
        [
            b'{"reason": "invalid JSON: not a JSON object", "payload": "x"}',
            b'{"reason": "missing required field card_id", "payload": "{}"}',
            b'{"reason": "invalid JSON: not a JSON object", "payload": "y"}',
            b"garbage",
            None,
        ],
        examples=2,
    )
    assert n == 5 and reasons == {"invalid JSON": 2, "missing required field card_id": 1} and len(examples) == 2


def test_render_table_marks_bad_rows() -> None:
    text = render_table(["a", "bb"], [["1", "2"], ["333", "4"]], bad=[False, True])
    lines = text.splitlines()
    assert lines[0] == "  a    bb" and lines[2].startswith("  1") and lines[3].startswith("! 333")


def test_report_renders_breaches_and_json() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    stale = ViewHealth("clicks@1", freshness=freshness_of(VIEW, [now_ms - 3600_000], [now_ms - 3599_000], now_ms))
    drifted = ViewHealth(
        "other@1",
        freshness=freshness_of(VIEW, [now_ms - 1000], [now_ms - 500], now_ms),
        drift=[feature_drift("x", list(range(100)), [v + 50 for v in range(100)])],
        quality=[column_stats("x", [None] * 3 + [1.0] * 7, null_rate_threshold=0.05)],
    )
    ok = ViewHealth("fine@1", freshness=freshness_of(VIEW, [now_ms - 1000], [now_ms - 500], now_ms))
    report = MonitorReport("default", now, [stale, drifted, ok])
    text = render_text(report)
    assert report.breached and not ok.breaches
    assert "! clicks@1" in text and "BREACH" in text and "DRIFT" in text
    assert "clicks@1: freshness: newest row is 1h old, SLA 5m" in text
    assert "other@1: quality: x null rate 30.0%" in text
    d = report.to_dict()
    assert d["breached"] and d["views"][0]["breaches"] and d["views"][2]["breached"] is False
    assert "no breaches" in render_text(MonitorReport("default", now, [ok]))
