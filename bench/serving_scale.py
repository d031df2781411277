"""Aggregate CLEAN lookups/s with 1 and 2 API processes against a 3-master Redis Cluster: the
per-process figures docs/scale.md builds its capacity model from.

    .venv/bin/python bench/serving_scale.py [--base-port 47000] [--api-port 46566] [--step-seconds 5]
        [--rates 250,500,...] [--p99-ms 5] [--entities 20000]

What it does, all on loopback and stopped by pid at the end:

1. starts a private 3-master Redis Cluster (featurestream.stack's ``redis-cluster`` service, its
   ``stack.redis_cluster.base_port`` overridden to ``--base-port``; state in a temp dir);
2. registers 5 views x 10 DOUBLE features and loads ``--entities`` rows per view with the online
   store writer (the monotonic Lua writer the jobs and ``materialize`` use), so keys spread over
   every slot;
3. starts 1, then 2 API processes through featurestream/entrypoints/api.sh (the serving image's
   entrypoint: ``featurestream serve``, ONE worker each) on ``--api-port`` and the next port;
4. drives each API process from its own load-generator process, OPEN loop: requests are sent on a
   fixed schedule whatever the answers do (a pool of keep-alive connections; latency counts from
   the scheduled send time, so a backlog is charged to the server: no coordinated omission). Each
   request is 1 entity x 50 features (5 views; ``--entities-per-request`` for batches), a random
   entity, ~3% of them unknown (NOT_FOUND);
5. steps the offered rate up until p99 exceeds ``--p99-ms``, a request fails, or the clean rate
   falls below 95% of the offered one. A request is CLEAN only if it answered 200 and every value's
   status is PRESENT or NOT_FOUND (a degraded answer -- a deadline default, an error status -- is not).

Per step it prints: offered and clean lookups/s, p50/p99, unclean answers, CPU per lookup of the
API processes and of Redis (from /proc), Redis commands per lookup and per second per shard
(``INFO commandstats`` deltas), and once: bytes per feature row online (``MEMORY USAGE``).
The code measured is whatever the checkout holds (the API hot path was being optimised by another
change while these numbers were taken: see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_VIEWS, N_FEATS, NAMESPACE = 5, 10, "bench"
CLEAN = {"PRESENT", "NOT_FOUND"}
WARMUP = 20  # requests per load generator before its timed run


# ---------------------------------------------------------------------------- setup


def _views() -> list[Any]:
    from featurestream.definitions import Column, parse_feature_view

    sql = ROOT / "sql" / "features" / "user_sessions.sql"
    base = parse_feature_view(sql.read_text(), str(sql), namespace=NAMESPACE)
    out = []
    for i in range(N_VIEWS):
        names = [f"f{i}_{j}" for j in range(N_FEATS)]
        out.append(
            replace(base, name=f"scale_view_{i}", defaults={}).with_features(
                [Column("user_id", "STRING"), *(Column(n, "DOUBLE") for n in names)]
            )
        )
    return out


def _load(redis_url: str, views: list[Any], entities: int) -> float:
    """Write ``entities`` rows per view with the online store writer; returns rows/s."""
    from featurestream.online.generation import ensure_generation
    from featurestream.online.store import RedisOnlineStore

    store = RedisOnlineStore.from_url(redis_url, NAMESPACE)
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    try:
        ensure_generation(store.client)  # what materialize writes first: without it /readyz says "lost data"
        for v in views:
            for start in range(0, entities, 5000):
                rows = [
                    {"user_id": f"u{e}", "feature_time": now, **{n: e + k / 10 for k, n in enumerate(v.feature_names)}}
                    for e in range(start, min(entities, start + 5000))
                ]
                store.write_rows(v, rows)
    finally:
        store.close()
    return len(views) * entities / (time.perf_counter() - t0)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _commandstats(client: Any) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


# ---------------------------------------------------------------------------- load generator


async def _open_loop(port: int, bodies: list[bytes], rate: float, seconds: float, conns: int) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``seconds`` on schedule over up to ``conns`` keep-alive connections."""
    import orjson

    head = b"POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    reqs = [head + f"Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]
    # (reader, writer, last used): a connection idle longer than uvicorn's keep-alive timeout (5 s)
    # has been closed by the server, so it is replaced before use instead of failing a request
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait((*await asyncio.open_connection("127.0.0.1", port), time.perf_counter()))
    lat: list[float] = []
    res = {"ok": 0, "unclean": 0, "errors": 0}
    seen: set[str] = set()  # the statuses that made an answer unclean, and the errors

    async def one(req: bytes, due: float) -> None:
        reader, writer, used = await idle.get()
        if time.perf_counter() - used > 4.0:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(req)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header.split(b" ", 2)[1])
            length = next(
                int(ln.split(b":")[1]) for ln in header.split(b"\r\n") if ln.lower().startswith(b"content-length")
            )
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - due)
            if status != 200:
                res["errors"] += 1
                seen.add(f"HTTP {status}: {body[:120].decode(errors='replace')}")
            else:
                statuses = {s for r in orjson.loads(body)["results"] for s in r["statuses"]}
                if statuses <= CLEAN:
                    res["ok"] += 1
                else:
                    res["unclean"] += 1
                    seen.update(statuses - CLEAN)
        except (OSError, asyncio.IncompleteReadError) as exc:
            res["errors"] += 1
            seen.add(type(exc).__name__)
            lat.append(time.perf_counter() - due)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            idle.put_nowait((reader, writer, time.perf_counter()))

    rnd = random.Random(port)
    for _ in range(WARMUP):  # warm-up, closed loop (counted in the CPU and ops deltas: see main)
        await one(rnd.choice(reqs), time.perf_counter())
    lat.clear()
    res.update(ok=0, unclean=0, errors=0)
    n = int(rate * seconds)
    tasks = []
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(rnd.choice(reqs), due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    lat.sort()
    pct = {q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 for q in (0.5, 0.99)} if lat else {0.5: 0, 0.99: 0}
    return {"sent": n, "elapsed": elapsed, "p50": pct[0.5], "p99": pct[0.99], "unclean_statuses": sorted(seen), **res}


def _generator(port: int, bodies: list[bytes], rate: float, seconds: float, conns: int, out: Any) -> None:
    out.put(asyncio.run(_open_loop(port, bodies, rate, seconds, conns)))


# ---------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix="fs-scale-"))
        self.apis: list[subprocess.Popen[bytes]] = []
        self.stack: Any = None

    def start_cluster(self) -> str:
        from featurestream.config import load_config
        from featurestream.stack import Stack

        cfg = load_config(
            self.tmp,
            env={
                "FEATURESTREAM__STACK__REDIS_CLUSTER__BASE_PORT": str(self.a.base_port),
                "FEATURESTREAM_STATE_DIR": str(self.tmp / "state"),
            },
        )
        self.stack = Stack(cfg, log=lambda m: print(f"[scale] {m}", flush=True))
        self.stack.up(("redis-cluster",))
        return str(self.stack.redis_cluster.url)

    def start_api(self, port: int, redis_url: str) -> subprocess.Popen[bytes]:
        from featurestream import entrypoints

        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "FEATURESTREAM_REPO": str(self.tmp),
            "FEATURESTREAM_SERVING_HOST": "127.0.0.1",
            "FEATURESTREAM_SERVING_PORT": str(port),
            "FEATURESTREAM_REDIS_URL": redis_url,
        }
        log = open(self.tmp / f"api-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            ["bash", str(entrypoints.script("api"))], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp
        )
        end = time.time() + 60
        import urllib.request

        while time.time() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return proc
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None:
                break
        proc.terminate()  # never leave a half-started API behind
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise RuntimeError(f"the API on {port} did not become ready; see {self.tmp / f'api-{port}.log'}")

    def stop(self) -> None:
        for p in self.apis:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.stack is not None:
            self.stack.down(("redis-cluster",))


def _bodies(refs: list[str], entities: int, per_request: int) -> list[bytes]:
    """2000 request bodies of ``per_request`` random entities each (~3% of them unknown: NOT_FOUND)."""
    rnd = random.Random(7)
    out = []
    for i in range(2000):
        ids = [f"u{rnd.randrange(entities)}" if (i + j) % 33 else f"unknown-{i}-{j}" for j in range(per_request)]
        out.append(json.dumps({"features": refs, "entities": {"user_id": ids}}).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-port", type=int, default=47000, help="first Redis Cluster master port (3 masters)")
    ap.add_argument("--api-port", type=int, default=46566, help="first API port (the second API uses the next)")
    ap.add_argument("--entities", type=int, default=20000)
    ap.add_argument("--step-seconds", type=float, default=5.0)
    ap.add_argument(
        "--rates",
        default="250,500,750,1000,1250,1500,2000,2500,3000,4000",
        help="per-step offered request rates (requests/s)",
    )
    ap.add_argument("--p99-ms", type=float, default=5.0, help="a step breaks when p99 exceeds this")
    ap.add_argument("--conns", type=int, default=32, help="keep-alive connections per API process")
    ap.add_argument("--apis", default="1,2")
    ap.add_argument(
        "--entities-per-request", type=int, default=1, help="entities per request; rates count lookups = entities"
    )
    ap.add_argument(
        "--deadline-ms",
        type=float,
        default=None,
        help="serving.deadline_ms of the API processes (default: the product's); raise it only to find the "
        "saturation throughput on an overloaded machine, where deadline misses are the machine's, not the code's",
    )
    a = ap.parse_args()

    import redis

    from featurestream.registry import Registry

    bench = Bench(a)
    try:
        redis_url = bench.start_cluster()
        views = _views()
        Registry(bench.tmp / "state" / "registry.json").save(views=views)
        deadline = f"  deadline_ms: {a.deadline_ms}\n" if a.deadline_ms else ""
        (bench.tmp / "featurestream.yaml").write_text(
            f"namespace: {NAMESPACE}\nstate_dir: {bench.tmp / 'state'}\nserving:\n  workers: 1\n{deadline}"
        )
        rows_s = _load(redis_url, views, a.entities)
        refs = [f"{v.name}:{n}" for v in views for n in v.feature_names]
        bodies = _bodies(refs, a.entities, a.entities_per_request)
        rc = bench.stack.redis_cluster
        masters = [redis.Redis(host="127.0.0.1", port=p) for p in rc.ports]
        redis_pids = [p.pid() for p in rc.procs]
        from featurestream.online.keys import entity_key

        sample = [entity_key(NAMESPACE, views[0].name, views[0].version, f"u{e}") for e in range(0, a.entities, 97)]
        rcl = redis.RedisCluster.from_url(redis_url.replace("redis+cluster://", "redis://"))
        mem = [rcl.memory_usage(k, samples=0) for k in sample[:200]]
        keys_per_shard = [m.dbsize() for m in masters]
        used = [int(m.info("memory")["used_memory"]) for m in masters]  # type: ignore[index]
        print(
            f"[scale] loaded {N_VIEWS} views x {a.entities} entities ({rows_s:,.0f} rows/s); keys per shard "
            f"{keys_per_shard}; MEMORY USAGE per feature row (compact row of {N_FEATS} DOUBLE features): "
            f"mean {sum(mem) / len(mem):.0f} B (min {min(mem)}, max {max(mem)}); used_memory per shard "
            f"{used}"
        )
        results = []
        for n_api in [int(x) for x in a.apis.split(",")]:
            while len(bench.apis) < n_api:
                bench.apis.append(bench.start_api(a.api_port + len(bench.apis), redis_url))
            ports = [a.api_port + i for i in range(n_api)]
            for rate in [float(x) for x in a.rates.split(",")]:
                per = rate / n_api
                api_cpu0 = [_cpu_s(p.pid) for p in bench.apis[:n_api]]
                redis_cpu0 = [_cpu_s(p) for p in redis_pids if p]
                stats0 = [_commandstats(m) for m in masters]
                ctx = mp.get_context("spawn")
                q = ctx.Queue()
                gens = [
                    ctx.Process(target=_generator, args=(port, bodies, per, a.step_seconds, a.conns, q))
                    for port in ports
                ]
                for g in gens:
                    g.start()
                runs = [q.get(timeout=600) for _ in gens]
                for g in gens:
                    g.join(timeout=30)
                api_cpu = sum(_cpu_s(p.pid) for p in bench.apis[:n_api]) - sum(api_cpu0)
                redis_cpu = sum(_cpu_s(p) for p in redis_pids if p) - sum(redis_cpu0)
                stats1 = [_commandstats(m) for m in masters]
                ops = [
                    sum(
                        v - s0.get(k, 0)
                        for k, v in s1.items()
                        if not k.startswith(("info", "cluster", "memory", "dbsize"))
                    )
                    for s0, s1 in zip(stats0, stats1, strict=True)
                ]
                elapsed = max(r["elapsed"] for r in runs)
                clean = sum(r["ok"] for r in runs)
                sent = sum(r["sent"] for r in runs)
                # entity lookups served while the CPU and ops deltas were taken (warm-ups included)
                lookups = max(1, (sent + WARMUP * n_api) * a.entities_per_request)
                row = {
                    "apis": n_api,
                    "offered": rate * a.entities_per_request,
                    "clean_per_s": clean * a.entities_per_request / elapsed,
                    "p50": max(r["p50"] for r in runs),
                    "p99": max(r["p99"] for r in runs),
                    "unclean": sum(r["unclean"] for r in runs),
                    "unclean_statuses": sorted({s for r in runs for s in r["unclean_statuses"]}),
                    "errors": sum(r["errors"] for r in runs),
                    "api_cpu_us": api_cpu / lookups * 1e6,
                    "redis_cpu_us": redis_cpu / lookups * 1e6,
                    "ops_per_lookup": sum(ops) / lookups,
                    "ops_per_s_shard": [o / elapsed for o in ops],
                    "load": os.getloadavg()[0],
                }
                results.append(row)
                print(
                    f"[scale] apis {n_api} offered {row['offered']:>6.0f}/s clean {row['clean_per_s']:>7.0f}/s "
                    f"p50 {row['p50']:6.2f} p99 {row['p99']:7.2f} ms "
                    f"unclean {row['unclean']} {row['unclean_statuses'] or ''} "
                    f"err {row['errors']} "
                    f"api cpu {row['api_cpu_us']:4.0f} µs/lookup redis cpu {row['redis_cpu_us']:4.0f} µs/lookup "
                    f"redis ops/lookup {row['ops_per_lookup']:.2f} ops/s/shard "
                    f"{[round(o) for o in row['ops_per_s_shard']]} load {row['load']:.1f}",
                    flush=True,
                )
                if (
                    row["p99"] > a.p99_ms
                    or row["errors"]
                    or row["unclean"]
                    or row["clean_per_s"] < 0.95 * row["offered"]
                ):
                    break
        print(f"\n[scale] summary: best step per API count with p99 <= {a.p99_ms:.1f} ms and every answer clean")
        for n_api in sorted({r["apis"] for r in results}):
            good = [
                r
                for r in results
                if r["apis"] == n_api
                and r["p99"] <= a.p99_ms
                and not r["errors"]
                and not r["unclean"]
                and r["clean_per_s"] >= 0.95 * r["offered"]
            ]
            top = max((r["clean_per_s"] for r in results if r["apis"] == n_api), default=0)
            best = max(good, key=lambda r: r["clean_per_s"]) if good else None
            print(
                f"  {n_api} API process(es): {best['clean_per_s'] if best else 0:,.0f} clean lookups/s within the "
                f"bound (p99 {best['p99'] if best else float('nan'):.2f} ms); highest clean rate seen {top:,.0f}/s; "
                f"API CPU {best['api_cpu_us'] if best else float('nan'):.0f} µs/lookup "
                f"(= {1e6 / best['api_cpu_us'] if best else 0:,.0f} lookups per API core-second)"
            )
        (bench.tmp / "results.json").write_text(json.dumps(results, indent=1))
        print(f"  raw steps: {bench.tmp / 'results.json'}; load average now {os.getloadavg()}")
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
