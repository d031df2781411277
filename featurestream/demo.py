"""``featurestream demo``: the whole pipeline end to end on the local stack, narrated.

stack up -> apply the demo repo -> submit every view's streaming job -> produce realistic click
and transaction events (skewed keys, duplicates, disorder, malformed, late) -> wait for Redis and
Parquet -> print online values, offline row counts, dead letters and a point-in-time training set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from featurestream import generator
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.naming import source_topic
from featurestream.offline.layout import read_view
from featurestream.online.keys import encode_entity
from featurestream.online.scan import scan_rows
from featurestream.online.store import RedisOnlineStore
from featurestream.registry import Registry

__all__ = ["run_demo"]

Echo = Callable[[str], None]
_STABLE_POLLS = 3  # a view has caught up when its output is unchanged over this many polls


def _start_stack(config: Config, echo: Echo) -> None:
    """Step 1: the local stack (Kafka, Redis, Flink) up; a no-op for parts already running."""
    from featurestream.stack import Stack

    echo("== 1/7 local stack")
    Stack(config, log=lambda m: echo(f"   {m}")).up()


def _apply_repo(config: Config, echo: Echo) -> dict[str, FeatureView]:
    """Step 2: register the repo's views (validated by Flink's planner); the registered views by name."""
    from featurestream.apply import apply

    echo("== 2/7 apply the feature repo (validated by Flink's planner)")
    result = apply(config)
    for line in result.summary():
        echo(f"   {line}")
    return {v.name: v for v in [*result.new_views, *result.unchanged_views]}


def _submit_jobs(config: Config, views: dict[str, FeatureView], echo: Echo) -> None:
    """Step 3: one streaming job per view (already running ones are kept); returns once all run."""
    from featurestream.jobs.control import JobManager

    echo("== 3/7 streaming jobs (Kafka -> Flink SQL -> Redis + Parquet)")
    jm = JobManager(config)
    t0 = time.monotonic()
    results = jm.submit_many(list(views.values()))  # one Flink client start-up for every job
    for r in results:
        if r.error is not None:
            raise r.error
        echo(f"   {r.view.ref:<22} {'submitted' if r.submitted else 'already running'} as {r.job_id}")
    echo(f"   ({time.monotonic() - t0:.0f}s)")
    for jid in {j["jid"] for j in jm.running().values()}:
        jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)


def _edge_events(source: str, run: int, start: datetime, now: datetime) -> list[bytes]:
    """Three late events (at ``start``, behind the watermark by the time they arrive), then a closing
    event one minute ahead of the rest, which moves the watermark so the last windows close."""
    key = "user_id" if source == "clicks" else "card_id"
    late = [
        json.dumps(
            {"event_id": f"late-{run}-{i}", key: "u0", "amount": 1.0, "event_time": int(start.timestamp() * 1000)}
        ).encode()
        for i in range(3)
    ]
    closing = json.dumps(
        {
            "event_id": f"close-{run}-{source}",
            key: "u-close",
            "amount": 0.0,
            "event_time": int((now + timedelta(minutes=1)).timestamp() * 1000),
        }
    ).encode()
    return [*late, closing]


def _produce_events(config: Config, events: int, now: datetime, echo: Echo) -> None:
    """Step 4: two hours of clicks and transactions up to ``now``, plus late and closing events."""
    echo(f"== 4/7 produce {events:,} events per source (skewed keys, ~3% duplicates, disorder, malformed)")
    start = now - timedelta(hours=2)
    run = int(now.timestamp())
    sent: dict[str, generator.EventBatch] = {
        "clicks": generator.clicks(events, start, 7200, id_prefix=f"clk-{run}-", seed=run),
        "transactions": generator.transactions(events // 2, start, 7200, id_prefix=f"txn-{run}-", seed=run + 1),
    }
    topics = {s["name"]: s["topic"] for s in Registry.open(config).sources(config.namespace)}
    for source, batch in sent.items():
        payloads = batch.payloads + _edge_events(source, run, start, now)
        t0 = time.monotonic()
        topic = source_topic(config.kafka, topics.get(source, source))
        for n in generator.produce(config.kafka.bootstrap_servers, topic, payloads, properties=config.kafka.properties):
            echo(f"   {source:<13} {n:>7,}/{len(payloads):,} sent")
        echo(
            f"   {source:<13} {batch.duplicates} duplicates, {batch.out_of_order} out of order, "
            f"{batch.malformed} malformed, 3 late; {len(payloads) / (time.monotonic() - t0):,.0f} events/s"
        )


def _output_state(config: Config, online: RedisOnlineStore, view: FeatureView) -> tuple[int, int]:
    """(newest online ``feature_time`` in epoch ms, 0 when none; offline row count) of one view."""
    rows = scan_rows(online, view)
    return max((r.feature_time_ms for r in rows.values()), default=0), read_view(config, view).num_rows


def _wait_until_caught_up(
    config: Config, online: RedisOnlineStore, views: dict[str, FeatureView], wait_s: float, echo: Echo
) -> None:
    """Step 5: poll every 3 s until each view's output is non-empty and unchanged over
    ``_STABLE_POLLS`` polls, or ``wait_s`` passes (then say which views are still processing)."""
    echo("== 5/7 wait until every view has caught up (online and offline output stable)")
    t5 = time.monotonic()
    deadline = t5 + wait_s
    last: dict[str, tuple[int, int]] = {}
    stable: dict[str, int] = {name: 0 for name in views}
    while time.monotonic() < deadline and min(stable.values()) < _STABLE_POLLS:
        for name, v in views.items():
            state = _output_state(config, online, v)
            if state[0] and state[1] and state == last.get(name):
                stable[name] += 1
                if stable[name] == _STABLE_POLLS:
                    ft = datetime.fromtimestamp(state[0] / 1000, UTC).strftime("%H:%M:%S")
                    echo(
                        f"   {name:<22} caught up after {time.monotonic() - t5:.0f}s: newest window ends {ft}, "
                        f"{state[1]} offline rows"
                    )
            elif stable[name] < _STABLE_POLLS:
                stable[name] = 0
            last[name] = state
        time.sleep(3)
    slow = [n for n, k in stable.items() if k < _STABLE_POLLS]
    if slow:
        echo(
            f"   still processing {sorted(slow)} after {wait_s:.0f}s (the 2-core machine is busy); "
            "the numbers below are a snapshot"
        )


def _backfill_history(config: Config, views: dict[str, FeatureView], now: datetime, events: int, echo: Echo) -> None:
    """Step 6: historical events of three days ago (a day no stream partition touches), backfilled per view."""
    import tempfile
    from pathlib import Path

    from featurestream.jobs.backfill import backfill
    from featurestream.jobs.control import JobManager

    echo("== 6/7 backfill history three days back with the same SQL (Flink batch mode) -> reference for drift")
    day = (now - timedelta(days=3)).replace(hour=8, minute=0, second=0)
    jm = JobManager(config)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for kind in ("clicks", "transactions"):
            # a slightly different world: fewer keys and a different seed, so drift has something to see
            batch = generator.events(
                kind, events // 2, day, 4 * 3600, seed=42, n_keys=150, malformed=0, id_prefix=f"hist-{kind}-"
            )
            path = Path(tmp) / f"{kind}.jsonl"
            path.write_bytes(b"\n".join(batch.payloads) + b"\n")
            files[kind] = path
        for v in views.values():
            src = jm.source_of(v)
            t0 = time.monotonic()
            result = backfill(config, v, src, files[src.name], start=day.date(), end=day.date() + timedelta(days=1))
            echo(
                f"   {v.ref:<22} {result.input_events:,} events -> partitions {', '.join(result.replaced)} "
                f"in {time.monotonic() - t0:.0f}s"
            )


def _report_holdings(config: Config, online: RedisOnlineStore, views: dict[str, FeatureView], echo: Echo) -> None:
    """Step 7, first half: per view, online entities, offline rows, dead letters, late events and
    two sample online rows."""
    from featurestream.monitoring.deadletter import dead_letter_counts

    echo("== 7/7 what the platform now holds")
    sinks = dead_letter_counts(config.kafka, list(views.values()))
    for v, sink in zip(views.values(), sinks, strict=True):
        rows = scan_rows(online, v)
        offline = read_view(config, v)
        echo(
            f"   {v.ref:<22} online entities {len(rows):>5}  offline rows {offline.num_rows:>7}  "
            f"dead letters {sink.dead_lettered:>3}  late {sink.late:>3}"
        )
        sample = sorted((encode_entity(ent), row) for ent, row in rows.items())[:2]
        for entity, row in sample:
            ft = datetime.fromtimestamp(row.feature_time_ms / 1000, UTC).strftime("%H:%M:%S")
            echo(f"      {v.entities[0]}={entity} feature_time={ft} {row.values}")


def _report_training_set(config: Config, now: datetime, echo: Echo) -> None:
    """Step 7, second half: a small point-in-time training set through the SDK facade."""
    import pandas as pd

    from featurestream.store import FeatureStore

    store = FeatureStore(config.root, config=config)
    labels = pd.DataFrame(
        {
            "user_id": ["u0", "u1", "u2", "u0"],
            "card_id": ["c0", "c1", "c2", "c0"],
            "event_timestamp": [now - timedelta(minutes=m) for m in (5, 30, 60, 90)],
        }
    )
    try:
        ts = store.get_training_set(
            labels, features=["user_clicks_10m:clicks_10m", "user_clicks_10m:amount_10m", "card_spend_1h:spend_1h"]
        )
        echo("   point-in-time training set (FeatureStore.get_training_set):")
        for line in ts.to_string(index=False).splitlines():
            echo(f"      {line}")
    except Exception as exc:
        echo(f"   training set: {exc}")


def run_demo(config: Config, echo: Echo, *, events: int = 20_000, wait_s: float = 240) -> None:
    """The seven narrated steps, in order; each step's output goes through ``echo``."""
    t_all = time.monotonic()
    _start_stack(config, echo)
    views = _apply_repo(config, echo)
    _submit_jobs(config, views, echo)
    now = datetime.now(UTC).replace(microsecond=0)
    _produce_events(config, events, now, echo)
    online = RedisOnlineStore.from_url(config.redis.url, config.namespace)
    try:
        _wait_until_caught_up(config, online, views, wait_s, echo)
        _backfill_history(config, views, now, events, echo)
        _report_holdings(config, online, views, echo)
    finally:
        online.close()
    _report_training_set(config, now, echo)
    echo(
        f"done in {time.monotonic() - t_all:.0f}s. Jobs keep running: 'featurestream jobs list'; "
        "serve features: 'featurestream serve'; stop everything: 'make down'."
    )
