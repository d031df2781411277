"""#15 item 11, the quiet-window rule (featurestream.semantics.validity): a window row is live until
the window that would replace it has closed (its end + the window step + the watermark delay + the
freshness SLA), a CUMULATE row also until its period ends, and never longer than the view's TTL.
Checked against a naive model that enumerates the windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from featurestream.definitions import FeatureView, window_params
from featurestream.semantics import max_age, validity
from tests.support.registry import demo_views

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def _view(name: str, **kw: object) -> FeatureView:
    v = next(v for v in demo_views("default") if v.name == name)
    return replace(v, watermark_delay=timedelta(seconds=5), **kw)  # type: ignore[arg-type]


def test_window_parameters_are_read_from_the_tvf_call() -> None:
    params = {v.name: window_params(v.sql) for v in demo_views("default")}
    assert params["user_clicks_10m"].step == timedelta(minutes=1)  # type: ignore[union-attr]
    assert params["card_spend_1h"].step == timedelta(hours=1)  # type: ignore[union-attr]
    assert params["user_sessions"].step == timedelta(minutes=15)  # type: ignore[union-attr]
    cum = params["card_spend_today"]
    assert cum is not None and (cum.step, cum.period) == (timedelta(minutes=10), timedelta(days=1))
    sql = "SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' HOUR, INTERVAL '15' MINUTE)) WHERE x > 1"
    assert window_params(sql).offset == timedelta(minutes=15)  # type: ignore[union-attr]
    assert window_params("SELECT a, ts AS feature_time FROM t") is None


def test_each_demo_window_is_live_for_its_step_plus_the_grace() -> None:
    grace = 5_000  # the watermark delay; plus each view's freshness SLA
    assert validity(_view("user_clicks_10m")).horizon_ms == MIN + grace + 2 * MIN
    assert validity(_view("card_spend_1h")).horizon_ms == HOUR + grace + 5 * MIN
    assert validity(_view("user_sessions")).horizon_ms == 15 * MIN + grace + 30 * MIN
    cum = validity(_view("card_spend_today"))
    assert (cum.horizon_ms, cum.period_ms, cum.grace_ms) == (10 * MIN + grace + 15 * MIN, DAY, grace + 15 * MIN)
    assert max_age(_view("user_clicks_10m")) == timedelta(minutes=3, seconds=5)


def test_the_ttl_still_caps_and_other_views_keep_it() -> None:
    assert validity(_view("card_spend_1h", ttl=timedelta(minutes=30))).horizon_ms == 30 * MIN
    rowwise = _view("card_spend_1h", sql="SELECT card_id, event_time AS feature_time, amount FROM transactions")
    assert validity(rowwise).horizon_ms == DAY
    # feature_time is not the window end: the rule does not apply, the TTL does
    start = _view("card_spend_1h")
    start = replace(start, sql=start.sql.replace("window_end AS feature_time", "window_start AS feature_time"))
    assert validity(start).horizon_ms == DAY
    # registered before the delay was recorded: no delay counted
    assert validity(replace(_view("card_spend_1h"), watermark_delay=None)).horizon_ms == HOUR + 5 * MIN


def test_a_cumulate_row_dies_with_its_period() -> None:
    v = validity(_view("card_spend_today"))
    d = 20_000 * DAY  # a UTC midnight
    final = d + DAY  # the last row of day d: [d, d + 1 day)
    assert v.fresh_after(final + v.grace_ms - 1) < final  # still live just before the grace ends
    assert v.fresh_after(final + v.grace_ms) >= final  # the next day began (+ grace): default
    morning = d + 3 * HOUR  # an intra-day row, the day's cumulation so far
    assert v.fresh_after(morning + 5 * MIN) < morning


def _naive_expiry(kind: str, ft: int, step: int, period: int, offset: int, grace: int, ttl: int) -> int:
    """The first instant a row with window end ``ft`` is not live, by enumerating windows."""
    expiry = min(ft + ttl, ft + step + grace)  # the next window of the key ends ft + step, closes + grace
    if kind == "CUMULATE":
        end = offset - period * 10**6
        while end < ft:  # the period boundary at or after ft: the end of the row's cumulation
            end += period
        expiry = min(expiry, end + grace)
    return expiry


@given(
    kind=st.sampled_from(["TUMBLE", "HOP", "SESSION", "CUMULATE"]),
    k=st.integers(-500, 500),
    dt=st.integers(0, 3 * DAY),
    ttl_h=st.integers(1, 72),
    delay_s=st.integers(0, 120),
    sla_m=st.integers(1, 60),
    offset_m=st.integers(0, 59),
)
def test_fresh_after_matches_the_naive_model(
    kind: str, k: int, dt: int, ttl_h: int, delay_s: int, sla_m: int, offset_m: int
) -> None:
    step, period = 10 * MIN, (DAY if kind == "CUMULATE" else 0)
    offset = offset_m * MIN if kind in ("TUMBLE", "CUMULATE") else 0
    tvf = {
        "TUMBLE": f"TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' MINUTE, INTERVAL '{offset_m}' MINUTE)",
        "HOP": "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '10' MINUTE, INTERVAL '1' HOUR)",
        "SESSION": "SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '10' MINUTE)",
        "CUMULATE": f"CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' MINUTE, INTERVAL '1' DAY, "
        f"INTERVAL '{offset_m}' MINUTE)",
    }[kind]
    sql = f"SELECT k, window_end AS feature_time, COUNT(*) AS n FROM TABLE({tvf}) GROUP BY k, window_start, window_end"
    view = replace(
        _view("card_spend_1h"),
        sql=sql,
        ttl=timedelta(hours=ttl_h),
        freshness_sla=timedelta(minutes=sla_m),
        watermark_delay=timedelta(seconds=delay_s),
    )
    ft = 20_000 * DAY + offset + k * step  # a window end
    at = ft + dt
    grace = delay_s * 1000 + sla_m * MIN
    live = at < _naive_expiry(kind, ft, step, period, offset, grace, ttl_h * HOUR)
    assert (ft > validity(view).fresh_after(at)) == live
