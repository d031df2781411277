"""The reference for the demo's ``user_clicks_10m`` view (HOP 10 min / 1 min) shared by the
fault and cluster tests: expected rows from what was produced, and the checks that the offline
and online stores equal them (no row lost, none doubled, every value exact)."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from featurestream.config import Config
from featurestream.definitions import FeatureView
from tests.support import window_reference as ref
from tests.support.pipeline import offline_rows, online_rows

__all__ = ["AGGS", "FLUSH_KEY", "SPEC", "assert_offline_equals", "assert_online_equals", "close", "expected", "flush"]

MIN = 60_000
SPEC = ref.WindowSpec("HOP", 10 * MIN, 1 * MIN)
AGGS: dict[str, ref.Agg] = {
    "clicks_10m": ref.count,
    "amount_10m": ref.sum_of("amount"),
    "distinct_items_10m": ref.count_distinct("item_id"),
}
FLUSH_KEY = "__flush__"

Rows = dict[tuple[str, int], dict[str, Any]]


def close(a: Any, b: Any) -> bool:
    """Equal, with floats compared to a relative 1e-9 (sums in another order)."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return bool(a == b)


def flush(event_time_ms: int, event_id: str = "flush") -> bytes:
    """An event far ahead that moves the watermark past every window (its own rows are ignored;
    give each flush of a stream its own ``event_id``, or de-duplication drops the later ones)."""
    return json.dumps({"event_id": event_id, "user_id": FLUSH_KEY, "amount": 0.0, "event_time": event_time_ms}).encode()


def expected(payloads: list[bytes], flush_t: int) -> Rows:
    """``{(user_id, window end ms): row}`` of every window the job must emit for ``payloads``."""
    valid, _ = ref.split_events(payloads, ["event_id", "user_id", "event_time"], numeric=["amount"])
    rows = ref.reference_rows(valid, "user_id", SPEC, AGGS, flush_t - 5000)
    return {k: v for k, v in rows.items() if k[0] != FLUSH_KEY}


def offline(cfg: Config, view: FeatureView) -> list[tuple[tuple[str, int], dict[str, Any]]]:
    """Every committed offline row as ``((user_id, feature_time ms), row)``, duplicates kept (the
    flush events' own rows, emitted once a later flush passes them, left out)."""
    out = []
    for r in offline_rows(cfg, view).to_pylist():
        if r["user_id"] == FLUSH_KEY:
            continue
        ft = int(r["feature_time"].replace(tzinfo=UTC).timestamp() * 1000)
        out.append(((r["user_id"], ft), r))
    return out


def assert_offline_equals(cfg: Config, view: FeatureView, want: Rows) -> None:
    rows = offline(cfg, view)
    keys = [k for k, _ in rows]
    assert len(keys) == len(set(keys)), "duplicate offline rows"
    assert set(keys) == set(want), f"{len(set(want) - set(keys))} missing, {len(set(keys) - set(want))} unexpected"
    for k, r in rows:
        for f in AGGS:
            assert close(r[f], want[k][f]), f"{k} {f}: {r[f]!r} != {want[k][f]!r}"


def online(redis_url: str, view: FeatureView) -> dict[str, dict[str, Any]]:
    rows = online_rows(redis_url, view)
    rows.pop(FLUSH_KEY, None)
    return rows


def assert_online_equals(redis_url: str, view: FeatureView, want: Rows) -> None:
    """Redis holds exactly the latest window of every entity, with its values."""
    latest = ref.latest_per_key(want)
    rows = online(redis_url, view)
    assert set(rows) == set(latest)
    for entity, (end, row) in latest.items():
        assert rows[entity]["_ft"] == end, f"online {entity}: feature_time {rows[entity]['_ft']} != {end}"
        for f in AGGS:
            assert close(rows[entity][f], row[f]), f"online {entity} {f}: {rows[entity][f]!r} != {row[f]!r}"
