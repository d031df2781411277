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

from featurestream.config import Config
from featurestream.naming import dlq_topic, late_topic, source_topic
from featurestream.pipeline_testing import offline_rows, online_rows, read_topic

__all__ = ["run_demo"]


def _backfill_history(
    config: Config,
    views: dict,
    now: datetime,
    events: int,  # type: ignore[type-arg]
    echo: Callable[[str], None],
) -> None:
    """Historical events of three days ago (a day no stream partition touches), backfilled per view."""
    import tempfile
    from pathlib import Path

    from featurestream import generator
    from featurestream.jobs.backfill import backfill
    from featurestream.jobs.control import JobManager

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


def run_demo(config: Config, echo: Callable[[str], None], *, events: int = 20_000, wait_s: float = 240) -> None:
    from featurestream import generator
    from featurestream.apply import apply
    from featurestream.jobs.control import JobManager
    from featurestream.stack import Stack

    t_all = time.monotonic()
    echo("== 1/7 local stack")
    Stack(config, log=lambda m: echo(f"   {m}")).up()

    echo("== 2/7 apply the feature repo (validated by Flink's planner)")
    result = apply(config)
    for line in result.summary():
        echo(f"   {line}")
    views = {v.name: v for v in [*result.new_views, *result.unchanged_views]}

    echo("== 3/7 streaming jobs (Kafka -> Flink SQL -> Redis + Parquet)")
    jm = JobManager(config)
    for v in views.values():
        t0 = time.monotonic()
        jid, new = jm.submit(v)
        echo(
            f"   {v.ref:<22} {'submitted' if new else 'already running'} as {jid}"
            + (f" ({time.monotonic() - t0:.0f}s)" if new else "")
        )
    for jid in {j["jid"] for j in jm.running().values()}:
        jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)

    echo(f"== 4/7 produce {events:,} events per source (skewed keys, ~3% duplicates, disorder, malformed)")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=2)
    run = int(now.timestamp())
    sent: dict[str, generator.EventBatch] = {
        "clicks": generator.clicks(events, start, 7200, id_prefix=f"clk-{run}-", seed=run),
        "transactions": generator.transactions(events // 2, start, 7200, id_prefix=f"txn-{run}-", seed=run + 1),
    }
    bootstrap = config.kafka.bootstrap_servers
    for source, batch in sent.items():
        late = [
            json.dumps(
                {
                    "event_id": f"late-{run}-{i}",
                    ("user_id" if source == "clicks" else "card_id"): "u0",
                    "amount": 1.0,
                    "event_time": int(start.timestamp() * 1000),
                }
            ).encode()
            for i in range(3)
        ]
        # a closing event slightly ahead of the rest moves the watermark so the last windows close
        closing = json.dumps(
            {
                "event_id": f"close-{run}-{source}",
                ("user_id" if source == "clicks" else "card_id"): "u-close",
                "amount": 0.0,
                "event_time": int((now + timedelta(minutes=1)).timestamp() * 1000),
            }
        ).encode()
        payloads = batch.payloads + late + [closing]
        t0 = time.monotonic()
        for n in generator.produce(bootstrap, source_topic(config.kafka, source), payloads):
            echo(f"   {source:<13} {n:>7,}/{len(payloads):,} sent")
        echo(
            f"   {source:<13} {batch.duplicates} duplicates, {batch.out_of_order} out of order, "
            f"{batch.malformed} malformed, 3 late; {len(payloads) / (time.monotonic() - t0):,.0f} events/s"
        )

    echo("== 5/7 wait until every view has caught up (online and offline output stable)")
    t5 = time.monotonic()
    deadline = t5 + wait_s
    last: dict[str, tuple[int, int]] = {}
    stable: dict[str, int] = {name: 0 for name in views}
    while time.monotonic() < deadline and min(stable.values()) < 3:
        for name, v in views.items():
            online = online_rows(config.redis.url, v)
            state = (max((r["_ft"] for r in online.values()), default=0), offline_rows(config, v).num_rows)
            if state[0] and state[1] and state == last.get(name):
                stable[name] += 1
                if stable[name] == 3:
                    ft = datetime.fromtimestamp(state[0] / 1000, UTC).strftime("%H:%M:%S")
                    echo(
                        f"   {name:<22} caught up after {time.monotonic() - t5:.0f}s: newest window ends {ft}, "
                        f"{state[1]} offline rows"
                    )
            elif stable[name] < 3:
                stable[name] = 0
            last[name] = state
        time.sleep(3)
    slow = [n for n, k in stable.items() if k < 3]
    if slow:
        echo(
            f"   still processing {sorted(slow)} after {wait_s:.0f}s (the 2-core machine is busy); "
            "the numbers below are a snapshot"
        )

    echo("== 6/7 backfill history three days back with the same SQL (Flink batch mode) -> reference for drift")
    _backfill_history(config, views, now, events, echo)

    echo("== 7/7 what the platform now holds")
    for v in views.values():
        online = online_rows(config.redis.url, v)
        offline = offline_rows(config, v)
        dead = len(read_topic(bootstrap, dlq_topic(v, config.kafka), timeout_ms=2000))
        late_n = len(read_topic(bootstrap, late_topic(v, config.kafka), timeout_ms=2000))
        echo(
            f"   {v.ref:<22} online entities {len(online):>5}  offline rows {offline.num_rows:>7}  "
            f"dead letters {dead:>3}  late {late_n:>3}"
        )
        sample = sorted(online.items())[:2]
        for entity, row in sample:
            ft = datetime.fromtimestamp(row.pop("_ft") / 1000, UTC).strftime("%H:%M:%S")
            echo(f"      {v.entities[0]}={entity} feature_time={ft} {row}")

    from featurestream.store import FeatureStore

    store = FeatureStore(config.root, config=config)
    import pandas as pd

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
    echo(
        f"done in {time.monotonic() - t_all:.0f}s. Jobs keep running: 'featurestream jobs list'; "
        "serve features: 'featurestream serve'; stop everything: 'make down'."
    )
