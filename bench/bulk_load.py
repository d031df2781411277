"""Bench: bulk load to Redis — featurestream's writers vs raw redis-py pipelined HSET (the floor).

    .venv/bin/python bench/bulk_load.py --redis-url redis://127.0.0.1:36379/0 \\
        [--views 5 --entities 100000 --features 10] [--paths floor,columns,fill,fill-nx,columns-par,materialize,rows]

The data of issue 14: ``--views`` views x ``--entities`` entities x ``--features`` float features.
Every path writes all views into an empty database (``new keys``), then again over the loaded data
(``rewrite``: every row a tie of feature_time and created_at, so every row is applied again).
Reported per path: wall time for all views, view-rows/s, the ratio to the floor of the same run,
client CPU µs/row, server CPU µs/row (``INFO cpu`` delta) and the server's busy share of the wall
time (1.0: the single-threaded server is the bottleneck), because wall time is noisy on a shared
machine. ``--commandstats`` prints Redis' per-command cost for each path.

Paths:

* ``floor``       — ``SET key <row> PX ttl`` in redis-py pipelines of
  ``--batch`` rows (the compact row layout of ``online.keys``), arguments encoded before the clock
  starts; no monotonic check, no script.
* ``floor-fields`` — the layout before the compact row: one hash per row with a field per feature
  (``HSET key _ft .. _ct .. f1 v1 ..`` + ``PEXPIRE``), same pipelines.
* ``columns``     — ``RedisOnlineStore.write_columns`` of Arrow columns, one view after the other:
  the monotonic Lua script, encoding included.
* ``fill``        — the same with ``fill=True`` on a store with ``fill_probe="script"``: the rule
  probed with ``SET NX GET`` inside the script (``online.scripts.FILL_LUA``, one script call per chunk).
* ``fill-nx``     — ``fill=True`` with the default ``fill_probe="set-nx"``, as ``materialize``
  writes: a plain pipelined ``SET key row NX PX ttl`` per row (no script), then only the rows whose
  key was held go through ``WRITE_LUA``.
* ``columns-par`` — the same, one thread (and connection) per view, all views at once.
* ``materialize`` — ``offline.materialize.materialize`` per view from the offline Parquet store
  (DuckDB's latest-row query, Arrow batches to ``write_columns``): the whole bulk load.
* ``rows``        — ``RedisOnlineStore.write_rows`` of Python dicts (the row adapter).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import pyarrow as pa
import redis

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.config import load_config
from featurestream.definitions import FeatureView
from featurestream.offline import write_rows as write_offline
from featurestream.offline.materialize import materialize
from featurestream.online.keys import encode_row, encode_value, entity_key
from featurestream.online.store import RedisOnlineStore
from tests.support.views import make_view

NAMESPACE = "bench"
FT = datetime(2026, 11, 1, tzinfo=UTC)


def _views(n: int, features: int) -> list[FeatureView]:
    feats = {f"f{j}": "DOUBLE" for j in range(features)}
    return [make_view(f"bulk_v{i}", ["user_id"], feats, ttl=timedelta(days=1)) for i in range(n)]


def _table(view: FeatureView, entities: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ft = int(FT.timestamp() * 1000)
    cols: dict[str, Any] = {
        "user_id": pa.array([f"u{i}" for i in range(entities)]),
        FEATURE_TIME: pa.array(ft + np.arange(entities) % 60_000),
        CREATED_AT: pa.array(np.full(entities, ft + 120_000)),
    }
    for f in view.feature_names:
        cols[f] = pa.array(rng.random(entities) * 1000)
    return pa.table(cols)


def _server_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


Command = tuple[bytes | int, ...]


def _floor_args(view: FeatureView, table: pa.Table, ttl: int, *, per_field: bool) -> list[Command]:
    """The floor's commands for every row of ``view``, encoded before the clock starts."""
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    out: list[Command] = []
    for i, user in enumerate(cols["user_id"]):
        key = entity_key(NAMESPACE, view.name, view.version, user).encode()
        ft, ct = cols[FEATURE_TIME][i], cols[CREATED_AT][i]
        if per_field:
            flat = [b"_ft", str(ft).encode(), b"_ct", str(ct).encode()]
            for f in view.feature_names:
                # a copy: a kept orjson result pins about 4 KB (5M of them ran this bench out of memory)
                flat += [f.encode(), b"%b" % encode_value(cols[f][i])]
            out += [(b"HSET", key, *flat), (b"PEXPIRE", key, ttl)]
        else:
            out.append((b"SET", key, encode_row(ft, ct, [cols[f][i] for f in view.feature_names]), b"PX", ttl))
    return out


def _floor(client: redis.Redis, encoded: list[list[Command]], batch: int) -> None:
    """Every view's commands in redis-py pipelines of ``batch`` commands."""
    for commands in encoded:
        for s in range(0, len(commands), batch):
            pipe = client.pipeline(transaction=False)
            for cmd in commands[s : s + batch]:
                pipe.execute_command(*cmd)
            pipe.execute()


def _calibration() -> float:
    """ns per ``repr(float)`` in this process now: how fast this shared machine runs at the moment
    (about 100-200 ns on an idle core; ten times that means every figure of the run is slowed as much)."""
    xs = [i * 0.37 for i in range(200_000)]
    t = time.perf_counter()
    for x in xs:
        repr(x)
    return (time.perf_counter() - t) / len(xs) * 1e9


def _measure(client: redis.Redis, fn: Callable[[], object], n: int) -> dict[str, float]:
    client.config_resetstat()
    s_cpu, c_cpu, t = _server_cpu(client), time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    server = _server_cpu(client) - s_cpu
    stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    return {
        "wall": wall,
        "rows_s": n / wall,
        "client_us": (time.process_time() - c_cpu) / n * 1e6,
        "server_us": server / n * 1e6,
        "busy": server / wall,
        **{f"{k.removeprefix('cmdstat_')}_us": float(v["usec_per_call"]) for k, v in stats.items()},
        **{f"{k.removeprefix('cmdstat_')}_calls": float(v["calls"]) for k, v in stats.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", required=True, help="a Redis you own: its database is flushed")
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--batch", type=int, default=10_000, help="rows per pipeline of the floor")
    ap.add_argument("--chunk-rows", type=int, default=None, help="override RedisOnlineStore.chunk_rows")
    ap.add_argument("--pipeline-chunks", type=int, default=None, help="override RedisOnlineStore.pipeline_chunks")
    ap.add_argument("--paths", default="floor,columns,fill,fill-nx,columns-par,materialize")
    ap.add_argument("--repeat", type=int, default=1, help="run the paths this many times, alternating")
    ap.add_argument("--commandstats", action="store_true")
    args = ap.parse_args()

    client = redis.Redis.from_url(args.redis_url)
    tuning = {
        k: v for k, v in (("chunk_rows", args.chunk_rows), ("pipeline_chunks", args.pipeline_chunks)) if v is not None
    }
    store = RedisOnlineStore.from_url(args.redis_url, NAMESPACE, **tuning)
    views = _views(args.views, args.features)
    tables = [_table(v, args.entities, i) for i, v in enumerate(views)]
    columns = [{c: t.column(c) for c in t.column_names} for t in tables]
    n = args.entities * args.views
    ttl = int(views[0].ttl.total_seconds() * 1000)
    paths = args.paths.split(",")
    prepared: dict[str, Callable[[], object]] = {}
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        if "floor" in paths:
            encoded = [_floor_args(v, t, ttl, per_field=False) for v, t in zip(views, tables, strict=True)]
            prepared["floor"] = lambda: _floor(client, encoded, args.batch)
        if "floor-fields" in paths:
            per_field = [_floor_args(v, t, ttl, per_field=True) for v, t in zip(views, tables, strict=True)]
            prepared["floor-fields"] = lambda: _floor(client, per_field, 2 * args.batch)
        if "columns" in paths:
            prepared["columns"] = lambda: [store.write_columns(v, c) for v, c in zip(views, columns, strict=True)]
        if "fill" in paths:
            script_store = RedisOnlineStore.from_url(args.redis_url, NAMESPACE, fill_probe="script", **tuning)
            prepared["fill"] = lambda: [
                script_store.write_columns(v, c, fill=True) for v, c in zip(views, columns, strict=True)
            ]
        if "fill-nx" in paths:
            prepared["fill-nx"] = lambda: [
                store.write_columns(v, c, fill=True) for v, c in zip(views, columns, strict=True)
            ]
        if "columns-par" in paths:
            pool = ThreadPoolExecutor(max_workers=len(views))
            prepared["columns-par"] = lambda: list(pool.map(store.write_columns, views, columns))
        if "materialize" in paths:
            config = load_config(Path(tmp), env={})
            for v, t in zip(views, tables, strict=True):
                frame = t.to_pandas()
                for col in (FEATURE_TIME, CREATED_AT):
                    frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
                write_offline(config, v, frame)
            prepared["materialize"] = lambda: [materialize(config, v, store) for v in views]
        if "rows" in paths:
            rows = [t.to_pylist() for t in tables]
            prepared["rows"] = lambda: [store.write_rows(v, r) for v, r in zip(views, rows, strict=True)]

        print(
            f"{args.views} views x {args.entities:,} entities x {args.features} float features = {n:,} view-rows; "
            f"chunk_rows={store.chunk_rows} pipeline_chunks={store.pipeline_chunks}; load average {os.getloadavg()}; "
            f"repr(float) {_calibration():.0f} ns"
        )
        print(
            f"{'path':<12} {'case':<9} {'wall s':>7} {'rows/s':>10} {'÷ floor':>8} "
            f"{'client µs/row':>14} {'server µs/row':>14} {'server busy':>12}"
        )
        floors: dict[str, float] = {}
        for name in paths * args.repeat:
            # SYNC: with lazyfree-lazy-user-flush (Valkey's default) a plain FLUSHDB frees the last path's
            # keys in a background thread of the server while the next path is measured (its CPU counted
            # in the server's, its cores taken from the writes)
            client.execute_command("FLUSHDB", "SYNC")
            for case in ("new keys", "rewrite"):
                r = _measure(client, prepared[name], n)
                if name == "floor":
                    floors[case] = r["rows_s"]
                ratio = f"{r['rows_s'] / floors[case]:.2f}" if case in floors else "-"
                print(
                    f"{name:<12} {case:<9} {r['wall']:>7.2f} {r['rows_s']:>10,.0f} {ratio:>8} "
                    f"{r['client_us']:>14.2f} {r['server_us']:>14.2f} {r['busy']:>12.2f}"
                )
                if args.commandstats:
                    cmds = sorted(k.removesuffix("_calls") for k in r if k.endswith("_calls"))
                    print(
                        "    commandstats µs/call (calls): "
                        + ", ".join(f"{c} {r[c + '_us']:.2f} ({r[c + '_calls']:,.0f})" for c in cmds)
                    )
            check = store.read(views[-1], [(f"u{args.entities - 1}",)])[0]
            want = tables[-1].column("f0")[args.entities - 1].as_py()
            assert check is not None and check.values["f0"] == want, (name, check)
    print(f"load average after: {os.getloadavg()}; repr(float) {_calibration():.0f} ns")


if __name__ == "__main__":
    main()
