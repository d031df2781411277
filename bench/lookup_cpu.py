"""CPU per lookup inside the serving process, beside raw redis-py reading the same rows.

    .venv/bin/python bench/lookup_cpu.py [--redis-url URL] [--entities 10000] [--requests 3000]

The HTTP bench (``serving_latency.py``) charges the server's whole CPU to its answers: uvicorn's
parsing, the event loop and fixed per-second costs included. This one isolates what a lookup costs
in featurestream's code: the serving app (``api.main.create_app``, fast lane and all) is called as an
ASGI app in this process, with no socket in front of it, against a real Redis holding the same data
as ``serving_latency.py`` (5 views x 10 float features). Per request shape (1 entity x 50 features,
100 entities x 50 features), in alternating rounds:

* ``featurestream`` — ``POST /get-online-features`` (Feast's shape) through the app: validation,
  plan, keys, the read script on the pipelined connection, decoding, statuses, the JSON answer;
* ``redis-py``     — the floor: the same keys read by a redis-py pipeline (``GET key`` each,
  one round trip) and each row parsed by ``orjson.loads``; no statuses, no answer.

Reported: CPU ms per request (``time.process_time``: every thread of this process, so Redis' own
CPU is not in it) and wall p50 / p99 ms, with the ratio featurestream / floor. Starts its own Redis
(the stack's binary) on a free port unless ``--redis-url`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving_latency import N_FEATS, N_VIEWS, setup_views, start_redis  # noqa: E402  (bench/, the script's folder)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


async def _app_round(app: Any, bodies: list[bytes]) -> tuple[float, list[float]]:
    """Every body through the ASGI app once; (CPU s, wall s per request)."""
    out: list[float] = []
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    cpu0 = time.process_time()
    for body in bodies:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/get-online-features",
            "raw_path": b"/get-online-features",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
            "state": {},
        }
        msgs = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive(msgs: list[Any] = msgs) -> Any:
            return msgs.pop() if msgs else {"type": "http.disconnect"}

        t0 = time.perf_counter()
        await app(scope, receive, send)
        out.append(time.perf_counter() - t0)
        status = sent[0]["status"]
        if status != 200:
            raise RuntimeError(f"answer {status}: {sent[1].get('body', b'')[:300]!r}")
        sent.clear()
    return time.process_time() - cpu0, out


def _floor_round(client: Any, key_lists: list[list[str]]) -> tuple[float, list[float]]:
    out: list[float] = []
    loads = orjson.loads
    cpu0 = time.process_time()
    for keys in key_lists:
        t0 = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        rows = [None if r is None else loads(r) for r in pipe.execute()]
        out.append(time.perf_counter() - t0)
        assert rows[0] is not None
    return time.process_time() - cpu0, out


async def _main(args: argparse.Namespace, redis_url: str, work: Path) -> None:
    import redis

    from featurestream.api.main import create_app
    from featurestream.config import load_config
    from featurestream.online.keys import encode_entity, entity_key

    refs = setup_views(work / "state", redis_url, args.entities)
    (work / "featurestream.yaml").write_text(f"namespace: bench\nstate_dir: state\nredis:\n  url: {redis_url}\n")
    cfg = load_config(work, env={})
    app = create_app(cfg)
    client = redis.Redis.from_url(redis_url)
    rnd = random.Random(7)
    views = [f"bench_view_{i}" for i in range(N_VIEWS)]
    shapes = {"1 x 50": 1, "100 x 50": 100}
    print(
        f"{N_VIEWS} views x {N_FEATS} features, {args.entities:,} entities, {args.requests} requests per shape "
        f"and round, {args.rounds} rounds; load average {os.getloadavg()}"
    )
    print(f"{'shape':<9} {'path':<14} {'CPU ms/req':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ratio':>9}")
    async with app.router.lifespan_context(app):
        for shape, n in shapes.items():
            count = max(50, args.requests // n)
            picks = [[f"u{rnd.randrange(args.entities)}" for _ in range(n)] for _ in range(count)]
            bodies = [orjson.dumps({"features": refs, "entities": {"user_id": p}}) for p in picks]
            keys = [[entity_key("bench", v, 1, encode_entity([u])) for v in views for u in p] for p in picks]
            await _app_round(app, bodies[:50])  # warm-up: plans, script load, connection
            _floor_round(client, keys[:50])
            ours: list[float] = []
            floor: list[float] = []
            cpu_ours = cpu_floor = 0.0
            for _ in range(args.rounds):
                c, w = await _app_round(app, bodies)
                cpu_ours += c
                ours += w
                c, w = _floor_round(client, keys)
                cpu_floor += c
                floor += w
            per_ours, per_floor = cpu_ours / len(ours) * 1000, cpu_floor / len(floor) * 1000
            print(
                f"{shape:<9} {'featurestream':<14} {per_ours:>10.3f} {_pct(ours, 0.5):>8.3f} {_pct(ours, 0.99):>8.3f} "
                f"{per_ours / per_floor:>9.2f}"
            )
            print(f"{'':<9} {'redis-py':<14} {per_floor:>10.3f} {_pct(floor, 0.5):>8.3f} {_pct(floor, 0.99):>8.3f}")
    client.close()
    print(f"load average after: {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", help="a Redis you own (default: start one on a free port)")
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=3000, help="1 x 50 requests per round (100 x 50: a 100th)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of both paths")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lookup-cpu-") as tmp:
        work = Path(tmp)
        if args.redis_url:
            asyncio.run(_main(args, args.redis_url, work))
            return
        proc, url = start_redis()
        try:
            asyncio.run(_main(args, url, work))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
