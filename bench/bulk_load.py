"""Bench: bulk load to Redis, featurestream's writers vs raw redis-py pipelined HSET (the floor).

    .venv/bin/python bench/bulk_load.py --redis-url redis://127.0.0.1:6394/0 [--rows 200000]

Every path writes the same rows (``--rows`` entities x 5 features) into an empty database, then
again over the loaded data (every row a tie: all rewritten), so both the "new key" and the
"existing key" cases are measured. Reported per path: rows/s (wall), client CPU µs/row and server
CPU µs/row (``INFO cpu`` delta), because wall time is noisy on a shared machine.

Paths:

* ``floor``  — ``HSET key _ft .. _ct .. f1 v1 ..`` + ``PEXPIRE`` in redis-py pipelines of
  ``--batch`` rows, arguments encoded before the clock starts; no monotonic check.
* ``lua``    — ``RedisOnlineStore.write_rows`` (``write_bulk`` is the same path): the atomic Lua
  script, encoding included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from featurestream.definitions import FeatureView
from featurestream.online.keys import encode_value, entity_key
from featurestream.online.store import RedisOnlineStore
from tests.support.views import make_view

FEATURES = {"clicks": "BIGINT", "amount": "DOUBLE", "ctr": "DOUBLE", "country": "STRING", "active": "BOOLEAN"}
VIEW: FeatureView = make_view("bulk_bench", ["user_id"], FEATURES, ttl=timedelta(days=1))
FT = 1_717_000_000_000


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "user_id": f"u{i}",
            "feature_time": FT + i % 1000,
            "created_at": FT + 5000,
            "clicks": i % 97,
            "amount": i * 0.25,
            "ctr": (i % 100) / 100,
            "country": "DE" if i % 3 else "FR",
            "active": bool(i % 2),
        }
        for i in range(n)
    ]


def _server_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _floor_args(rows: list[dict[str, Any]]) -> list[tuple[bytes, list[bytes]]]:
    out = []
    for r in rows:
        flat = [b"_ft", str(r["feature_time"]).encode(), b"_ct", str(r["created_at"]).encode()]
        for f in VIEW.feature_names:
            flat += [f.encode(), encode_value(r[f])]
        out.append((entity_key("bench", VIEW.name, VIEW.version, r["user_id"]).encode(), flat))
    return out


def _floor(client: redis.Redis, encoded: list[tuple[bytes, list[bytes]]], batch: int) -> None:
    ttl = int(VIEW.ttl.total_seconds() * 1000)
    for s in range(0, len(encoded), batch):
        pipe = client.pipeline(transaction=False)
        for key, flat in encoded[s : s + batch]:
            pipe.execute_command("HSET", key, *flat)
            pipe.execute_command("PEXPIRE", key, ttl)
        pipe.execute()


def _measure(client: redis.Redis, fn: Any, n: int) -> dict[str, float]:
    s_cpu, c_cpu, t = _server_cpu(client), time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    return {
        "rows_s": n / wall,
        "client_us": (time.process_time() - c_cpu) / n * 1e6,
        "server_us": (_server_cpu(client) - s_cpu) / n * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", required=True, help="a Redis you own: its database is flushed")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--paths", default="floor,lua")
    ap.add_argument("--repeat", type=int, default=2, help="alternate the paths this many times")
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    store = RedisOnlineStore(client, "bench")
    rows = _rows(args.rows)
    encoded = _floor_args(rows)
    n = len(rows)
    paths = {
        "floor": lambda: _floor(client, encoded, args.batch),
        "lua": lambda: store.write_rows(VIEW, rows),
    }
    print(f"{n:,} rows x {len(FEATURES)} features; load average {os.getloadavg()}")
    print(f"{'path':<6} {'case':<9} {'rows/s':>10} {'client µs/row':>14} {'server µs/row':>14}")
    for name in args.paths.split(",") * args.repeat:
        client.flushdb()
        for case in ("new keys", "rewrite"):
            r = _measure(client, paths[name], n)
            print(f"{name:<6} {case:<9} {r['rows_s']:>10,.0f} {r['client_us']:>14.2f} {r['server_us']:>14.2f}")
        check = store.read(VIEW, [(f"u{n - 1}",)])[0]
        assert check is not None and check.values["amount"] == (n - 1) * 0.25, check
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
