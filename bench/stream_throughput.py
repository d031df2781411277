"""Stream throughput and freshness: Kafka -> Flink SQL -> Redis + Parquet on the local stack.

Phase 1 (throughput): N transaction events are appended to a fresh topic first; then three jobs
drain that same backlog, one after the other, on the same cluster (parallelism 1):

1. the ceiling: the same job shape written as plain Flink SQL (Flink's ``json`` format, TUMBLE 1 h,
   SUM/COUNT/MAX, a blackhole sink);
2. the same plus ``ROW_NUMBER()`` de-duplication by event id (ordered by event time, RocksDB);
3. featurestream's ``card_spend_1h`` job (parse, validate -> DLQ, late -> late topic, dedupe,
   window, Parquet + Redis);
4. the same view over a source without an event id (``card_spend_1h_noid``: the bench's copy of
   ``transactions`` without its ``-- event_id:`` header, on the same topic), the product's path
   without de-duplication, whose ratio to the no-dedupe ceiling is the target (>= 0.9);
5. the no-dedupe ceiling once more, right after 4, so that ratio is also taken next to its
   baseline (the load of a shared machine drifts within one run);
6. the row-wise view ``last_txn`` (latest amount per card, the view of phase 2) over the same
   backlog: every event is a new row for its card (event ids unique, event times ascending), so
   its events/s is the rate of rows the online sink writes into Redis (issue 13: >= 50,000 rows/s).

events/s comes from Flink's own per-vertex record counter of the source while the backlog drains
(start-up excluded); featurestream's rate is printed as a ratio to each ceiling of the same run.
The busy share of each operator (``busyTimeMsPerSecond``) and the backpressure of the source show
where the time goes. The two plain-SQL jobs are baselines of this bench, not part of the product.

Phase 2 (freshness): a row-wise view (latest amount per card) at a fixed event rate; a probe
event every 20 ms, each with its own card id, timed from the producer's acknowledgement to the
moment its key exists in Redis. De-duplication keeps the first copy by arrival, so nothing on the
row-wise path waits for the watermark; the floor is the online sink's flush interval (50 ms, or 500
rows, whichever comes first).

Phase 3 (windowed freshness): a TUMBLE view of ``--window-seconds`` windows (``card_spend_win``,
added to a fresh isolated repo) at the same event rate for ``--windowed-seconds``, every event
stamped ``event_time = now``. Five probe cards get an event every 20 ms in turn, so each has a row
in every window. The reference of a window end W is the producer's acknowledgement of the first
event with ``event_time >= W + watermark delay - 1 ms``: the window operator fires once the
watermark reaches W - 1 ms, and the watermark is the largest event time read minus the delay, so
that event is the one that lets the watermark pass W, and its ack is the first moment the data that
closes the window exists. Everything after it is the platform's (the Kafka fetch, the periodic
watermark emission every 200 ms, the window firing, the sink's flush, Redis). Reading the job's
watermark over Flink's REST API instead would hide the fetch and the emission interval, and the
REST metrics refresh only about once a second, as coarse as the 1 s target. The latency of a
(window, probe) is the first poll (every 5 ms, ``GET`` of the five probe keys) that sees the
probe's row with ``feature_time = W``, minus that ack.

    .venv/bin/python bench/stream_throughput.py [--events 500000] [--rate 2000] [--seconds 30]
        [--window-seconds 1] [--windowed-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support (isolated repos on one stack)

import redis

from featurestream.apply import apply
from featurestream.config import load_config
from featurestream.jobs.control import JobManager
from featurestream.kafka_props import flink_options
from featurestream.naming import source_topic
from featurestream.offline.layout import read_view
from featurestream.online.keys import entity_key, row_times
from featurestream.stack import Stack
from tests.support.pipeline import add_no_id_view, isolated_repo

REPO = Path(__file__).resolve().parents[1]
LAST_TXN = """-- name: last_txn
-- version: 1
-- entities: card_id
-- ttl: 1h
-- freshness_sla: 10s
-- description: The latest transaction amount per card (row-wise, for freshness).
SELECT
    card_id,
    event_time AS feature_time,
    amount AS last_amount
FROM transactions
"""


WINDOWED = """-- name: card_spend_win
-- version: 1
-- entities: card_id
-- ttl: 1h
-- freshness_sla: 10s
-- description: Card spend per short tumbling window (for windowed freshness).
SELECT
    card_id,
    window_end AS feature_time,
    SUM(amount) AS spend_win,
    COUNT(*) AS txn_count_win
FROM TABLE(
    TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '{seconds}' SECOND)
)
GROUP BY
    card_id,
    window_start,
    window_end
"""
PROBES = 5


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _produce_backlog(bootstrap: str, topic: str, n: int) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1, compression_type=None
    )
    rng = random.Random(1)
    t0 = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)
    start = time.monotonic()
    for i in range(n):
        ev = {
            "event_id": f"e{i}",
            "card_id": f"c{rng.randint(0, 9999)}",
            "merchant_id": f"m{i % 97}",
            "amount": round(rng.random() * 100, 2),
            "event_time": t0 + i * 10,
        }
        producer.send(topic, json.dumps(ev).encode())
        if i % 100_000 == 0 and i:
            print(f"  produced {i:,}", flush=True)
    producer.flush()
    producer.close()
    return n / (time.monotonic() - start)


def _vertices(jm: JobManager, jid: str) -> list[dict]:  # type: ignore[type-arg]
    return list(jm.flink.job(jid)["vertices"])


def _ceiling_spec(cfg, topic: str, name: str, *, dedupe: bool) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The plain-Flink-SQL job of the same shape as ``card_spend_1h`` (a baseline of this bench)."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.kafka.bootstrap_servers,
        "properties.group.id": f"{name}-{time.time_ns()}",
        "scan.startup.mode": "earliest-offset",
        "format": "json",
        "json.ignore-parse-errors": "true",
        **flink_options(cfg.kafka.properties),
    }
    with_clause = ", ".join(f"'{k}' = '{v}'" for k, v in options.items())
    source = (
        "CREATE TEMPORARY TABLE txn (event_id STRING, card_id STRING, merchant_id STRING, amount DOUBLE, "
        "event_time BIGINT, ts AS TO_TIMESTAMP_LTZ(event_time, 3), "
        f"WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ({with_clause})"
    )
    rows = "txn_first" if dedupe else "txn"
    statements = [source]
    if dedupe:
        statements.append(
            "CREATE TEMPORARY VIEW txn_first AS SELECT event_id, card_id, merchant_id, amount, event_time, ts FROM ("
            "SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts ASC) AS rn FROM txn) WHERE rn = 1"
        )
    return {
        "name": name,
        "mode": "streaming",
        "config": {
            "parallelism.default": "1",
            "pipeline.auto-watermark-interval": "200 ms",
            "execution.checkpointing.interval": cfg.flink.checkpoint_interval,
        },
        "python_functions": [],
        "statements": [
            *statements,
            "CREATE TEMPORARY TABLE out_1h (card_id STRING, window_end TIMESTAMP(3), spend DOUBLE, "
            "n BIGINT, mx DOUBLE) WITH ('connector' = 'blackhole')",
        ],
        "inserts": [
            "INSERT INTO out_1h SELECT card_id, window_end, SUM(amount), COUNT(*), MAX(amount) "
            f"FROM TABLE(TUMBLE(TABLE {rows}, DESCRIPTOR(ts), INTERVAL '1' HOUR)) "
            "GROUP BY card_id, window_start, window_end"
        ],
    }


def _drain(jm: JobManager, jid: str, n: int, label: str) -> dict:  # type: ignore[type-arg]
    """Follow job ``jid`` until its source has read ``n`` records; its rate, busy and backpressure."""
    jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)
    source_id = _vertices(jm, jid)[0]["id"]
    samples: list[tuple[float, int]] = []
    last_count = 0
    busy: dict[str, list[float]] = {}
    backpressure: list[float] = []
    while True:
        vs = _vertices(jm, jid)
        src = next(v for v in vs if v["id"] == source_id)
        # a source task counts what its reader emitted as read-records (its write-records are what
        # the chain behind it emits, e.g. pre-aggregated rows when a local aggregate is chained)
        count = int(src["metrics"]["read-records"]) or int(src["metrics"]["write-records"])
        now = time.monotonic()
        if count and (not samples or count != samples[-1][1]):
            samples.append((now, min(count, n)))  # a new value of the (periodically refreshed) counter
        for v in vs:
            try:
                m = jm.flink._request(
                    "GET",
                    f"/jobs/{jid}/vertices/{v['id']}/subtasks/metrics?get=busyTimeMsPerSecond,backPressuredTimeMsPerSecond",
                )
                got = {e["id"]: float(e["max"]) for e in m if e.get("max") is not None}
                value = got.get("busyTimeMsPerSecond", float("nan"))
                if value == value:  # not NaN (the metric is NaN until the task has run a while)
                    busy.setdefault(v["name"][:90], []).append(value)
                if v["id"] == source_id and "backPressuredTimeMsPerSecond" in got:
                    backpressure.append(got["backPressuredTimeMsPerSecond"])
            except Exception:
                pass
        if count >= n:
            break
        if count != last_count:
            print(f"  [{label}] read {count:,}/{n:,}", flush=True)
        last_count = count
        time.sleep(0.5)
    drained = time.monotonic()
    # Rate over the samples taken while the backlog drained (start-up and REST polling excluded).
    # Flink refreshes the counter about once a second, so a drain of a few seconds is a coarse rate:
    # the span is reported, and a short one flagged (more --events lengthens every drain alike).
    span = samples[-1][0] - samples[0][0] if len(samples) >= 2 else 0.0
    if len(samples) >= 2:
        rate = (samples[-1][1] - samples[0][1]) / max(span, 1e-9)
    else:
        rate = n / max(drained - (samples[0][0] if samples else drained - 1), 1e-9)
    jm.flink.cancel(jid)
    jm.flink.wait_for_state(jid, ("CANCELED",), timeout=60)  # its slot is free for the next job
    return {
        "events_per_s": rate,
        "span_s": span,
        "counter_values": len(samples),
        "busy_ms_per_s": {k: statistics.mean(v) for k, v in busy.items()},
        "source_backpressured_ms_per_s": statistics.mean(backpressure) if backpressure else float("nan"),
    }


def throughput(cfg, jm: JobManager, n: int, no_id_view: str, *, rowwise_only: bool = False) -> dict:  # type: ignore[no-untyped-def, type-arg]
    bootstrap = cfg.kafka.bootstrap_servers
    topic = source_topic(cfg.kafka, "transactions")
    view = jm.view("card_spend_1h")
    jm.ensure_topics(view, jm.source_of(view))
    print(f"phase 1: appending {n:,} events to {topic} ...", flush=True)
    produce_rate = _produce_backlog(bootstrap, topic, n)
    print(f"  producer (kafka-python): {produce_rate:,.0f} events/s", flush=True)
    runs: dict[str, dict] = {}  # type: ignore[type-arg]
    for label, dedupe in (("ceiling", False), ("ceiling_dedupe", True)):
        if rowwise_only and not dedupe:
            continue
        spec = _ceiling_spec(cfg, topic, f"bench-{label}", dedupe=dedupe)
        runs[label] = _drain(jm, jm.flink.submit(spec), n, label)
        print(f"  {label}: {runs[label]['events_per_s']:,.0f} events/s", flush=True)
    if rowwise_only:
        runs["featurestream_rowwise"] = _rowwise(cfg, jm, n)
        return {"events": n, "runs": runs, "produce_per_s": produce_rate}
    jid, _ = jm.submit(view)
    runs["featurestream"] = _drain(jm, jid, n, "featurestream")
    print(f"  featurestream: {runs['featurestream']['events_per_s']:,.0f} events/s", flush=True)
    # the same SELECT over the same topic through a source without an event id (no dedupe)
    noid = jm.view(no_id_view)
    jid, _ = jm.submit(noid)
    runs["featurestream_noid"] = _drain(jm, jid, n, "featurestream_noid")
    print(f"  featurestream without event id: {runs['featurestream_noid']['events_per_s']:,.0f} events/s", flush=True)
    # the no-dedupe ceiling once more, right after it: on a shared machine the load drifts during a run,
    # so the view without an event id is also compared with the ceiling drained next to it
    spec = _ceiling_spec(cfg, topic, "bench-ceiling-again", dedupe=False)
    runs["ceiling_again"] = _drain(jm, jm.flink.submit(spec), n, "ceiling_again")
    print(f"  ceiling again: {runs['ceiling_again']['events_per_s']:,.0f} events/s", flush=True)
    runs["featurestream_rowwise"] = _rowwise(cfg, jm, n)
    return {
        "events": n,
        "runs": runs,
        "produce_per_s": produce_rate,
        "offline_rows": read_view(cfg, view).num_rows,
    }


def _rowwise(cfg, jm: JobManager, n: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """Online writes: the row-wise view over the same backlog, one row into Redis per event."""
    (Path(cfg.root) / "sql" / "features" / "last_txn.sql").write_text(LAST_TXN)
    rowwise = next(v for v in apply(cfg).new_views if v.name == "last_txn")
    jid, _ = jm.submit(rowwise)
    run = _drain(jm, jid, n, "featurestream_rowwise")
    print(f"  row-wise view: {run['events_per_s']:,.0f} rows/s into Redis", flush=True)
    return run


def _start_view(cfg, jm: JobManager, name: str, sql: str):  # type: ignore[no-untyped-def]
    """Add view ``name`` to the bench's repo, apply, run its job; returns (view, job id, topic,
    producer, Redis client) once the job has been RUNNING for 5 s."""
    from kafka import KafkaProducer

    (Path(cfg.root) / "sql" / "features" / f"{name}.sql").write_text(sql)
    view = next(v for v in apply(cfg).new_views if v.name == name)
    jid, _ = jm.submit(view)
    jm.flink.wait_for_state(jid, ("RUNNING",), timeout=180)
    time.sleep(5)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=0, acks=1)
    return view, jid, source_topic(cfg.kafka, "transactions"), producer, redis.Redis.from_url(cfg.redis.url)


def freshness(cfg, jm: JobManager, rate: int, seconds: float) -> dict:  # type: ignore[no-untyped-def, type-arg]
    view, jid, topic, producer, client = _start_view(cfg, jm, "last_txn", LAST_TXN)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set() or len(seen) < len(sent):
            pending = [k for k in list(sent) if k not in seen]
            if pending:
                pipe = client.pipeline(transaction=False)
                for k in pending:
                    pipe.exists(entity_key(view.namespace, view.name, view.version, k))
                now = time.monotonic()
                for k, ok in zip(pending, pipe.execute(), strict=True):
                    if ok:
                        seen[k] = now
            if stop.is_set() and time.monotonic() > deadline_poll:
                return
            time.sleep(0.01)

    deadline_poll = time.monotonic() + seconds + 60
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    print(f"phase 2: {rate} events/s for {seconds:.0f}s with a probe every 20 ms ...", flush=True)
    start = time.monotonic()
    i = 0
    next_probe = start
    while time.monotonic() - start < seconds:
        now_ms = int(time.time() * 1000)
        t_due = start + i / rate
        if time.monotonic() < t_due:
            time.sleep(max(0.0, t_due - time.monotonic()))
        probe = time.monotonic() >= next_probe
        card = f"probe{i}" if probe else f"c{i % 5000}"
        ev = {"event_id": f"f{i}", "card_id": card, "amount": 1.0, "event_time": now_ms}
        fut = producer.send(topic, json.dumps(ev).encode())
        if probe:
            fut.get(timeout=10)
            sent[card] = time.monotonic()
            next_probe += 0.02
        i += 1
    # Keep the stream moving for the watermark delay + 3 s so the last probes' watermark arrives
    # (event-time operators emit only once the watermark passes; an idle stream holds them back).
    tail_end = time.monotonic() + 8
    while time.monotonic() < tail_end:
        ev = {"event_id": f"f{i}", "card_id": f"c{i % 5000}", "amount": 1.0, "event_time": int(time.time() * 1000)}
        producer.send(topic, json.dumps(ev).encode())
        i += 1
        time.sleep(1 / rate)
    producer.flush()
    stop.set()
    poller.join(timeout=90)
    lat = [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]
    jm.flink.cancel(jid)
    client.close()
    return {
        "events": i,
        "probes": len(sent),
        "visible": len(lat),
        "p50_ms": _pct(lat, 50) if lat else None,
        "p99_ms": _pct(lat, 99) if lat else None,
        "max_ms": max(lat) if lat else None,
    }


def windowed_freshness(cfg, jm: JobManager, rate: int, seconds: float, window_s: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """Phase 3: (row of window end W in Redis) - (ack of the event that lets the watermark pass W)."""
    view, jid, topic, producer, client = _start_view(cfg, jm, "card_spend_win", WINDOWED.format(seconds=window_s))
    delay_ms = int(jm.source_of(view).watermark_delay.total_seconds() * 1000)
    width = window_s * 1000
    probes = [f"wprobe{k}" for k in range(PROBES)]
    keys = [entity_key(view.namespace, view.name, view.version, p) for p in probes]
    closed: dict[int, float] = {}  # window end W (epoch ms) -> monotonic ack of the event closing it
    close_lag: list[float] = []  # that ack - the wall moment W + delay (how late the closing event came)
    seen: dict[tuple[int, int], float] = {}  # (W, probe) -> monotonic first poll showing feature_time == W
    stop = threading.Event()

    def poll() -> None:
        last = [0] * PROBES
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for k in keys:
                pipe.get(k)
            got = pipe.execute()
            now = time.monotonic()
            for p, raw in enumerate(got):
                times = row_times(raw)
                ft = 0 if times is None else times[0]
                if ft > last[p]:
                    last[p] = ft
                    seen.setdefault((ft, p), now)
            time.sleep(0.005)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    print(f"phase 3: {rate} events/s for {seconds:.0f}s, {window_s} s windows, {PROBES} probe cards ...", flush=True)
    start = time.monotonic()
    first_w = (int(time.time() * 1000) // width + 2) * width  # the first whole window after warm-up
    next_w = first_w  # the next window end whose closing event is still to come
    i = n_probes = 0
    next_probe = start
    tail = delay_ms / 1000 + window_s + 3  # after the measured span: close its last windows
    while (elapsed := time.monotonic() - start) < seconds + tail:
        t_due = start + i / rate
        if time.monotonic() < t_due:
            time.sleep(max(0.0, t_due - time.monotonic()))
        now_ms = int(time.time() * 1000)
        probe = time.monotonic() >= next_probe
        card = probes[n_probes % PROBES] if probe else f"c{i % 5000}"
        if probe:
            next_probe += 0.02
            n_probes += 1
        ev = {"event_id": f"w{i}", "card_id": card, "amount": 1.0, "event_time": now_ms}
        fut = producer.send(topic, json.dumps(ev).encode())
        if now_ms >= next_w + delay_ms - 1 and elapsed < seconds + delay_ms / 1000 + 1:
            fut.get(timeout=10)  # this event lets the watermark pass every window end <= now_ms - delay + 1
            acked = time.monotonic()
            wall = time.time() * 1000
            while next_w <= now_ms - delay_ms + 1:
                closed[next_w] = acked
                close_lag.append(wall - (next_w + delay_ms))
                next_w += width
        i += 1
    producer.flush()
    time.sleep(2)
    stop.set()
    poller.join(timeout=10)
    last_w = first_w + int(seconds * 1000) // width * width  # window ends inside the measured span
    windows = [w for w in sorted(closed) if w <= last_w]
    lat = [(seen[(w, p)] - closed[w]) * 1000 for w in windows for p in range(PROBES) if (w, p) in seen]
    jm.flink.cancel(jid)
    client.close()
    return {
        "events": i,
        "windows": len(windows),
        "pairs": len(windows) * PROBES,
        "visible": len(lat),
        "p50_ms": _pct(lat, 50) if lat else None,
        "p99_ms": _pct(lat, 99) if lat else None,
        "max_ms": max(lat) if lat else None,
        "close_lag_p50_ms": _pct(close_lag, 50) if close_lag else None,
        "delay_ms": delay_ms,
    }


def _profile(label: str, r: dict) -> None:  # type: ignore[type-arg]
    short = " -- TOO SHORT for a rate, raise --events" if r["span_s"] < 5 else ""
    print(
        f"\nwhere the time goes in {label} (rate over {r['span_s']:.1f} s, "
        f"{r['counter_values']} counter values{short}; busy ms per second, per operator chain; "
        f"source back-pressured {r['source_backpressured_ms_per_s']:.0f} ms/s):"
    )
    for name, ms in sorted(r["busy_ms_per_s"].items(), key=lambda kv: -kv[1]):
        print(f"  {ms:6.0f}  {name}")


def _report_rowwise(t: dict, loads: list[float]) -> None:  # type: ignore[type-arg]
    runs = t["runs"]
    rows, ceiling_dedupe = runs["featurestream_rowwise"]["events_per_s"], runs["ceiling_dedupe"]["events_per_s"]
    print(f"\n## online writes, {t['events']:,} events, parallelism 1, load {os.getloadavg()[0]:.1f}")
    print("| path | events/s |\n|---|---|")
    print(f"| plain Flink SQL + ROW_NUMBER dedupe (blackhole) | {ceiling_dedupe:,.0f} |")
    print(f"| last_txn (row-wise: one row into Redis per event) | {rows:,.0f} rows/s (target >= 50,000) |")
    for label, r in runs.items():
        _profile(label, r)
    print(f"load average (1 min) at the start and after the phase: {', '.join(f'{x:.1f}' for x in loads)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--window-seconds", type=int, default=1, help="window size of the phase-3 TUMBLE view")
    ap.add_argument("--windowed-seconds", type=float, default=30, help="measured span of phase 3")
    ap.add_argument(
        "--only-rowwise",
        action="store_true",
        help="phase 1 with only the dedupe ceiling and the row-wise view (rows/s into Redis), no phases 2-3",
    )
    args = ap.parse_args()
    if args.window_seconds < 1:
        ap.error(f"--window-seconds must be at least 1, got {args.window_seconds}")
    base = load_config(REPO)
    Stack(base, log=print).up()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = isolated_repo(REPO, Path(tmp) / "throughput", base, partitions=1)
        no_id_view = add_no_id_view(Path(cfg.root))
        apply(cfg)
        loads = [os.getloadavg()[0]]
        t = throughput(cfg, JobManager(cfg), args.events, no_id_view, rowwise_only=args.only_rowwise)
        loads.append(os.getloadavg()[0])
        if args.only_rowwise:
            _report_rowwise(t, loads)
            return
        # a fresh topic for phase 2, so the backlog of phase 1 does not count as latency
        cfg2 = isolated_repo(REPO, Path(tmp) / "freshness", base, partitions=1)
        f = freshness(cfg2, JobManager(cfg2), args.rate, args.seconds)
        loads.append(os.getloadavg()[0])
        # and one for phase 3 (its windows must not see phase 2's events)
        cfg3 = isolated_repo(REPO, Path(tmp) / "windowed", base, partitions=1)
        w = windowed_freshness(cfg3, JobManager(cfg3), args.rate, args.windowed_seconds, args.window_seconds)
        loads.append(os.getloadavg()[0])
    runs = t["runs"]
    fs = runs["featurestream"]["events_per_s"]
    print(f"\n## stream throughput, {t['events']:,} events, parallelism 1, load {os.getloadavg()[0]:.1f}")
    print("| path | events/s | featurestream / this |\n|---|---|---|")
    for label, title in (
        ("ceiling", "plain Flink SQL: json format, TUMBLE 1 h, SUM/COUNT/MAX, blackhole"),
        ("ceiling_dedupe", "the same + ROW_NUMBER dedupe by event id"),
        ("featurestream", "featurestream card_spend_1h (validate, DLQ, late, dedupe, Parquet + Redis)"),
    ):
        r = runs[label]["events_per_s"]
        print(f"| {title} | {r:,.0f} | {fs / r:.2f} |")
    ceiling, ceiling_dedupe = runs["ceiling"]["events_per_s"], runs["ceiling_dedupe"]["events_per_s"]
    again = runs["ceiling_again"]["events_per_s"]
    print(f"(the no-dedupe ceiling drained again after the view without an event id: {again:,.0f} events/s)")
    print(
        "\n| featurestream view | events/s | / ceiling | / dedupe ceiling | / ceiling drained next to it |\n"
        "|---|---|---|---|---|"
    )
    for label, title, target, next_to in (
        ("featurestream", "card_spend_1h (event id: dedupe)", "target >= 1.5 x dedupe ceiling", ceiling_dedupe),
        ("featurestream_noid", "card_spend_1h_noid (no event id: no dedupe)", "target >= 0.90 x ceiling", again),
    ):
        r = runs[label]["events_per_s"]
        print(f"| {title} | {r:,.0f} | {r / ceiling:.2f} | {r / ceiling_dedupe:.2f} | {r / next_to:.2f} | ({target})")
    rows = runs["featurestream_rowwise"]["events_per_s"]
    print(
        f"| last_txn (row-wise: one row into Redis per event) | {rows:,.0f} rows/s | {rows / ceiling:.2f} | "
        f"{rows / ceiling_dedupe:.2f} | {rows / ceiling_dedupe:.2f} | (target >= 50,000 rows/s into Redis)"
    )
    print(
        f"(input: kafka-python producer {t['produce_per_s']:,.0f} events/s; {t['offline_rows']} offline rows "
        "committed when the job was cancelled: the Parquet sink commits on checkpoints, so this is not the "
        "rows the job produced)"
    )
    for label, r in runs.items():
        _profile(label, r)
    print(
        f"\n## freshness (row-wise view, {f['events']:,} events at {args.rate}/s, {f['probes']} probes, "
        f"{f['visible']} seen)"
    )
    print(
        f"append -> visible in Redis: p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, max {f['max_ms']:.0f} ms "
        "(target: p99 <= 1000 ms; the online sink's flush interval, 50 ms, is the floor)"
    )
    print(
        f"\n## freshness (windowed view, TUMBLE {args.window_seconds} s, {w['events']:,} events at {args.rate}/s, "
        f"{w['windows']} windows x {PROBES} probes, {w['visible']} of {w['pairs']} rows seen)"
    )
    if w["visible"]:
        print(
            f"watermark passed the window end (ack of the closing event) -> row in Redis: p50 {w['p50_ms']:.0f} ms, "
            f"p99 {w['p99_ms']:.0f} ms, max {w['max_ms']:.0f} ms (target: <= 1000 ms)"
        )
    print(
        f"(the closing event's ack came p50 {w['close_lag_p50_ms']:.0f} ms after the wall moment "
        f"window end + {w['delay_ms']} ms watermark delay)"
    )
    print(f"load average (1 min) at the start and after each phase: {', '.join(f'{x:.1f}' for x in loads)}")


if __name__ == "__main__":
    main()
