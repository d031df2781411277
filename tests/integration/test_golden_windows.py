"""Golden tests: the demo's four window kinds on the real stack, against a brute-force reference.

One isolated repo runs all four demo views (HOP, TUMBLE, SESSION, CUMULATE) as streaming jobs on
the shared cluster. The events carry duplicates, out-of-order rows within the watermark delay,
ties, malformed payloads, both timestamp encodings, a UTC day boundary, a session gap exactly at
the boundary, and — after the watermark has provably passed them — late events. Redis and Parquet
must equal the reference computed from the very same payloads.

A fifth job runs ``card_spend_1h`` over a copy of ``transactions`` without an event id (the same
topic): the product's path without de-duplication, whose job is planned differently (its branches
share the source, not an optimised block; #13). There every copy counts, and a copy of a counted
event that arrives behind the watermark is a late event.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from featurestream import generator
from featurestream.apply import apply
from featurestream.definitions import FeatureView
from featurestream.jobs.control import JobManager
from featurestream.monitoring.jobs import job_health
from featurestream.naming import dlq_topic, late_topic, source_topic
from tests.support import window_reference as ref
from tests.support.pipeline import add_no_id_view, isolated_repo, offline_rows, online_rows, read_topic, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)  # the CUMULATE day boundary falls inside
MIN = 60_000
DELAY = 5_000

SPECS: dict[str, tuple[str, str, ref.WindowSpec, dict[str, ref.Agg]]] = {
    "user_clicks_10m": (
        "clicks",
        "user_id",
        ref.WindowSpec("HOP", 10 * MIN, 1 * MIN),
        {
            "clicks_10m": ref.count,
            "amount_10m": ref.sum_of("amount"),
            "distinct_items_10m": ref.count_distinct("item_id"),
        },
    ),
    "card_spend_1h": (
        "transactions",
        "card_id",
        ref.WindowSpec("TUMBLE", 60 * MIN),
        {"spend_1h": ref.sum_of("amount"), "txn_count_1h": ref.count, "max_amount_1h": ref.max_of("amount")},
    ),
    "user_sessions": (
        "clicks",
        "user_id",
        ref.WindowSpec("SESSION", 15 * MIN),
        {"session_clicks": ref.count, "session_amount": ref.sum_of("amount")},
    ),
    "card_spend_today": (
        "transactions",
        "card_id",
        ref.WindowSpec("CUMULATE", 1440 * MIN, 10 * MIN),
        {"spend_today": ref.sum_of("amount"), "txn_count_today": ref.count},
    ),
    "card_spend_1h_noid": (
        "transactions",
        "card_id",
        ref.WindowSpec("TUMBLE", 60 * MIN),
        {"spend_1h": ref.sum_of("amount"), "txn_count_1h": ref.count, "max_amount_1h": ref.max_of("amount")},
    ),
}
NO_EVENT_ID = {"card_spend_1h_noid"}  # over transactions_noid: nothing de-duplicates
REQUIRED = {
    "clicks": ["event_id", "user_id", "event_time"],
    "transactions": ["event_id", "card_id", "amount", "event_time"],
}
KEY = {"clicks": "user_id", "transactions": "card_id"}


def _edge_cases(source: str, t0: int) -> list[bytes]:
    """Ties, a session gap exactly 15 min, and a cross-midnight pair, for key <k>-edge."""
    key = KEY[source]
    k = "u-edge" if source == "clicks" else "c-edge"
    other = "item_id" if source == "clicks" else "merchant_id"
    evs = [
        {"event_id": f"{source}-tie-1", key: k, other: "x1", "amount": 1.5, "event_time": t0 + 30_000},
        {"event_id": f"{source}-tie-2", key: k, other: "x2", "amount": 2.5, "event_time": t0 + 30_000},
        {"event_id": f"{source}-gap", key: k, other: "x1", "amount": 4.0, "event_time": t0 + 30_000 + 15 * MIN},
        {"event_id": f"{source}-mid-1", key: k, other: "x3", "amount": 8.0, "event_time": "2026-03-07T23:59:59.999Z"},
        {"event_id": f"{source}-mid-2", key: k, other: "x3", "amount": 16.0, "event_time": "2026-03-08T00:00:00.000Z"},
    ]
    return [json.dumps(e).encode() for e in evs]


def _merge_in_time(payloads: list[bytes], extra: list[bytes]) -> list[bytes]:
    """Insert each extra event before the first payload with a later event time (so none is late)."""
    out = list(payloads)
    for p in extra:
        t = ref.parse_event_time(json.loads(p)["event_time"])
        for i, q in enumerate(out):
            try:
                tq = ref.parse_event_time(json.loads(q)["event_time"])
            except (ValueError, KeyError, TypeError):
                continue
            if tq is not None and t is not None and tq > t:
                out.insert(i, p)
                break
        else:
            out.append(p)
    return out


def _event_time_ms(payload: bytes) -> int | None:
    try:
        ev = json.loads(payload)
    except ValueError:
        return None
    return ref.parse_event_time(ev.get("event_time")) if isinstance(ev, dict) else None


def _online_reached(redis_url: str, view: FeatureView, end_ms: int) -> bool:
    """True once some online row of ``view`` has a window ending at or after ``end_ms``."""
    return any(r["_ft"] >= end_ms for r in online_rows(redis_url, view).values())


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


@pytest.fixture(scope="module")
def golden(stack, tmp_path_factory):  # type: ignore[no-untyped-def]
    base = stack.config
    cfg = isolated_repo(REPO, tmp_path_factory.mktemp("golden"), base)
    add_no_id_view(Path(cfg.root))
    applied = apply(cfg)
    views = {v.name: v for v in applied.new_views}
    jm = JobManager(cfg)
    jobs = {}
    try:
        for name in SPECS:
            jobs[name] = jm.submit(views[name])[0]
        for jid in jobs.values():
            jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)

        t0 = int(START.timestamp() * 1000)
        phase1 = {
            "clicks": generator.clicks(2500, START, 3 * 3600, n_keys=60, id_prefix="c1-"),
            "transactions": generator.transactions(1500, START, 3 * 3600, n_keys=30, id_prefix="t1-"),
        }
        sent: dict[str, list[bytes]] = {}
        for source, batch in phase1.items():
            sent[source] = _merge_in_time(batch.payloads, _edge_cases(source, t0))
            list(generator.produce(base.kafka.bootstrap_servers, source_topic(cfg.kafka, source), sent[source]))

        # Wait until every job's watermark provably passed phase 1: its last phase-1 window is in Redis.
        for name, (source, key, spec, aggs) in SPECS.items():
            valid, _ = ref.split_events(sent[source], REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
            wm1 = max(e["_t"] for e in valid) - DELAY
            last_end = max(end for (_, end) in ref.reference_rows(valid, key, spec, aggs, wm1))
            wait_for(partial(_online_reached, base.redis.url, views[name], last_end), 300, f"{name}: phase 1 in Redis")

        # Phase 2: late events (far behind the watermark), then more on-time events, then a flush.
        late = {
            source: [
                json.dumps(
                    {
                        "event_id": f"{source}-late-{i}",
                        KEY[source]: f"late-{i % 3}",
                        "amount": 100.0,
                        "event_time": t0 + i * MIN,
                    }
                ).encode()
                for i in range(5)
            ]
            for source in sent
        }
        # Copies of counted phase-1 events, far behind the watermark now: duplicates, not late events
        # (#15 item 12). And events whose entity key is blank: dead letters, never an online key ""
        # (#15 item 10).
        copies: dict[str, list[bytes]] = {}
        for source in sent:
            valid, _ = ref.split_events(sent[source], REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
            wm1 = max(e["_t"] for e in valid) - DELAY
            old = [p for p in sent[source] if _event_time_ms(p) is not None and _event_time_ms(p) < wm1 - 30 * MIN]
            copies[source] = old[-3:]  # the last ones sent: their ids are surely still in the job's state
        blank = {
            source: [
                json.dumps(
                    {"event_id": f"{source}-blank-{i}", KEY[source]: k, "amount": 1.0, "event_time": t0 + MIN}
                ).encode()
                for i, k in enumerate(["", "   "])
            ]
            for source in sent
        }
        t_end = t0 + 3 * 3600 * 1000
        behind: dict[str, tuple[int, int]] = {}  # source -> (first index, count) of its events sent late
        more = {
            "clicks": generator.clicks(
                300, datetime.fromtimestamp(t_end / 1000, UTC), 1800, n_keys=60, id_prefix="c2-", malformed=2
            ),
            "transactions": generator.transactions(
                200, datetime.fromtimestamp(t_end / 1000, UTC), 1800, n_keys=30, id_prefix="t2-", malformed=2
            ),
        }
        flush_t = t_end + 3 * 86_400_000
        for source in sent:
            flush = json.dumps(
                {"event_id": f"{source}-flush", KEY[source]: "__flush__", "amount": 0.0, "event_time": flush_t}
            ).encode()
            payloads = late[source] + copies[source] + blank[source] + more[source].payloads + [flush]
            list(generator.produce(base.kafka.bootstrap_servers, source_topic(cfg.kafka, source), payloads))
            # without de-duplication, the copies behind the watermark are late events too
            behind[source] = (len(sent[source]), len(late[source]) + len(copies[source]))
            sent[source] = sent[source] + payloads
        dump = Path(cfg.root) / "sent.json"  # kept for debugging a failure
        dump.write_text(json.dumps({k: [p.decode(errors="replace") for p in v] for k, v in sent.items()}))
        yield cfg, views, sent, late, flush_t - DELAY, behind
    finally:
        for jid in jobs.values():
            with contextlib.suppress(Exception):
                jm.flink.cancel(jid)


def _sent_late(source: str, sent: list[bytes], behind: tuple[int, int]) -> list[bytes]:
    """The valid payloads sent behind the watermark (late events, late copies of counted ones); a
    malformed copy is a dead letter wherever it arrives."""
    first, count = behind
    valid = partial(ref.valid_events, required=REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
    return [p for p in sent[first : first + count] if valid([p])]


def _expected(
    name: str,
    sent: dict[str, list[bytes]],
    late: dict[str, list[bytes]],
    final_wm: int,
    behind: dict[str, tuple[int, int]],
) -> dict[tuple[Any, int], dict[str, Any]]:
    source, key, spec, aggs = SPECS[name]
    if name in NO_EVENT_ID:  # every copy counts, except those that arrived behind the watermark
        first, count = behind[source]
        on_time = sent[source][:first] + sent[source][first + count :]
        valid = ref.valid_events(on_time, REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
    else:
        late_ids = {json.loads(p)["event_id"] for p in late[source]}
        valid, _ = ref.split_events(sent[source], REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
        valid = [e for e in valid if e["event_id"] not in late_ids]
    rows = ref.reference_rows(valid, key, spec, aggs, final_wm)
    if name == "user_sessions":
        for (_, end), row in rows.items():
            row["session_minutes"] = ((end - row["_window_start"]) // 1000) / 60.0
    return {k: v for k, v in rows.items() if k[0] != "__flush__"}


@pytest.mark.parametrize("name", list(SPECS))
def test_online_and_offline_equal_reference(golden, name: str) -> None:  # type: ignore[no-untyped-def]
    cfg, views, sent, late, final_wm, behind = golden
    view = views[name]
    expected = _expected(name, sent, late, final_wm, behind)
    feature_names = [f.name for f in view.features]

    def offline() -> dict[tuple[Any, int], dict[str, Any]]:
        table = offline_rows(cfg, view).to_pylist()
        out: dict[tuple[Any, int], dict[str, Any]] = {}
        for r in table:
            ft = r["feature_time"].replace(tzinfo=UTC)
            k = (r[view.entities[0]], int(ft.timestamp() * 1000))
            assert k not in out, f"duplicate offline row {k}"
            out[k] = {f: r[f] for f in feature_names}
        return out

    wait_for(lambda: len(offline()) >= len(expected), 240, f"{name}: {len(expected)} offline rows")
    got = offline()
    assert set(got) == set(expected), (
        f"missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]}"
    )
    for k, row in expected.items():
        for f in feature_names:
            assert _close(got[k][f], row[f]), f"{name} {k} {f}: offline {got[k][f]!r} != reference {row[f]!r}"

    latest = ref.latest_per_key(expected)
    online = online_rows(cfg.redis.url, view)
    online.pop("__flush__", None)
    assert set(online) == set(latest)
    for entity, (end, row) in latest.items():
        assert online[entity]["_ft"] == end, f"{name} {entity}: online feature_time"
        for f in feature_names:
            assert _close(online[entity][f], row[f]), f"{name} {entity} {f}: online {online[entity][f]!r}"


@pytest.mark.parametrize("name", list(SPECS))
def test_dead_letters_and_late_events_are_kept(golden, name: str) -> None:  # type: ignore[no-untyped-def]
    cfg, views, sent, late, _, behind = golden
    source = SPECS[name][0]
    _, malformed = ref.split_events(sent[source], REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
    bootstrap = cfg.kafka.bootstrap_servers
    dlq: list[bytes] = []

    def all_dead_letters_read() -> bool:
        if not dlq:
            dlq.extend(read_topic(bootstrap, dlq_topic(views[name], cfg.kafka)))
        return len(dlq) >= malformed

    wait_for(all_dead_letters_read, 120, "dead letters")
    records = [json.loads(r) for r in dlq]
    assert len(records) == malformed
    assert all(r["reason"] and r["payload"] is not None for r in records)
    reasons = " ".join(r["reason"] for r in records)
    assert "invalid JSON" in reasons and "missing required field" in reasons
    blank = [r for r in records if r["reason"] == f"entity key {KEY[source]} is blank"]
    assert sorted(json.loads(r["payload"])["event_id"] for r in blank) == [f"{source}-blank-0", f"{source}-blank-1"]
    late_records = [json.loads(r) for r in read_topic(bootstrap, late_topic(views[name], cfg.kafka))]
    late_sent = _sent_late(source, sent[source], behind[source]) if name in NO_EVENT_ID else late[source]
    assert sorted(json.loads(r["payload"])["event_id"] for r in late_records) == sorted(
        json.loads(p)["event_id"] for p in late_sent
    )
    if name in NO_EVENT_ID:  # the late topic keeps each event's own line, byte for byte
        assert sorted(r["payload"] for r in late_records) == sorted(p.decode() for p in late_sent)


@pytest.mark.parametrize("name", [n for n in SPECS if n not in NO_EVENT_ID])
def test_duplicates_are_counted_as_duplicates(golden, name: str) -> None:  # type: ignore[no-untyped-def]
    """Every copy of a valid event id (the generator's on-time copies and the late copies of phase 1)
    is dropped by the job and reported by monitoring as a duplicate; none reached the late topic (the
    late-topic test above checks that side)."""
    cfg, views, sent, _, _, _ = golden
    source = SPECS[name][0]
    expected = ref.duplicate_copies(sent[source], REQUIRED[source], numeric=["amount"], keys=[KEY[source]])
    assert expected >= 3
    client = JobManager(cfg).flink
    seen: list[int | None] = []

    def counted() -> bool:
        seen[:] = [job_health(client, [views[name]])[0].duplicates]
        return seen[0] == expected

    wait_for(counted, 120, f"{name}: {expected} duplicates reported (last seen {seen})")
