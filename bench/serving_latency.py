"""HTTP lookup latency under an open-loop load, a degraded answer counted as a failure; Feast beside it.

    .venv/bin/python bench/serving_latency.py [--redis-url URL] [--entities 10000] [--duration 5]
        [--rates 500,1000,2000,3000] [--rates-100 30,100,200] [--workers 1] [--max-in-flight N]
        [--feast [PYTHON]] [--feast-workers 2]

Starts its own Redis (the stack's binary, ``featurestream.stack.redis``) on a free port unless
``--redis-url`` is given, registers 5 synthetic views x 10 features, writes ``--entities`` rows per
view, starts ``featurestream serve`` (uvicorn, ``--workers``) as a separate process, and drives it
from another process with a raw-socket **open-loop** generator: requests are due on a fixed
schedule whatever the answers, over a pool of keep-alive connections, and each latency counts from
the request's due time (a slow answer is charged for the requests queued behind it: no coordinated
omission). Each request asks for 50 features of 1 (or 100) random entities.

A request **fails** when it is not answered 200, or when any value in its answer has a status other
than ``PRESENT`` / ``NOT_FOUND`` (a degraded value: the server returned defaults instead of data).
Shed requests (503 + Retry-After) are counted apart, and fail too. Per rate the bench prints the
achieved rate, ok / shed / failed counts (``degr``: the failed ones answered 200 with degraded
values), p50 / p99 / max of every request, the server's CPU per answer (all its processes,
from /proc) and the generator's own send lag (p50 / p99 of how late each request left: part of
its latency, so it must stay far below it); at the end the highest rate answered with no
failure, no shed request and at least 95% of the rate achieved (a server that falls behind its
schedule is not serving that rate).

``--feast`` also starts Feast 0.67's ``feast serve`` (``--feast-workers``) on the same Redis and the
same rows (written with Feast's own ``write_to_online_store``; its venv is the one the Feast-SDK
test caches, built by ``tests.support.feast_env`` when missing) and runs the same schedule against
it; the table then shows Feast's row and the ratios Feast / featurestream. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_VIEWS, N_FEATS = 5, 10
OK_STATUSES = frozenset({"PRESENT", "NOT_FOUND"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(port: int, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout:.0f} s")


def _value(e: int, k: int) -> float:
    """Feature ``k`` of entity ``e``: exact in float32 (Feast stores Float32), so both sides serve equal numbers."""
    return float((e % 4096) * 16 + k) + 0.5


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A throw-away Redis (the stack's binary, no persistence) on a free loopback port: (process, URL)."""
    from featurestream.stack.redis import redis_binary

    port = _free_port()
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )
    _wait_http(port, proc=proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def setup_views(state: Path, redis_url: str, entities: int) -> list[str]:
    """Register 5 views x 10 float features in namespace ``bench`` (registry under ``state``), write
    ``entities`` rows per view to Redis; returns the 50 feature references."""
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
        for start in range(0, entities, 20_000):
            rows = [
                {"user_id": f"u{e}", "feature_time": now, **{n: _value(e, k) for k, n in enumerate(v.feature_names)}}
                for e in range(start, min(entities, start + 20_000))
            ]
            store.write_rows(v, rows)
    store.close()
    return refs


def _tree_cpu_s(pid: int) -> float:
    """user + system CPU seconds of ``pid`` and its live descendants (uvicorn/gunicorn workers), from /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d)] = fields
        children.setdefault(int(fields[1]), []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f is not None:
            total += int(f[11]) + int(f[12])
        todo.extend(children.get(p, ()))
    return total / os.sysconf("SC_CLK_TCK")


def _clean(r: dict[str, Any], rate: float) -> bool:
    """A rate is served cleanly when no request failed or was shed and the answers kept up with the
    schedule (achieved >= 95% of the rate: a server that falls behind is not serving that rate)."""
    return bool(r["failed"] == 0 and r["shed"] == 0 and r["achieved"] >= 0.95 * rate)


def _pct(sorted_lat: list[float], q: float) -> float:
    return sorted_lat[min(len(sorted_lat) - 1, int(q * len(sorted_lat)))] * 1000 if sorted_lat else float("nan")


def _request(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _degraded(body: bytes) -> bool:
    """True when any value of a Feast-format answer has a status other than PRESENT / NOT_FOUND."""
    import orjson

    doc = orjson.loads(body)
    return any(not OK_STATUSES.issuperset(r["statuses"]) for r in doc["results"])


def _precise_timers() -> None:
    """Ask Linux to wake this process on time: its timer slack (how late a timed wait may end so the
    kernel can batch wake-ups; 50 µs by default) becomes 1 ns. Elsewhere, or if refused, nothing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


def open_loop(port: int, requests: list[bytes], rate: float, duration: float, conns: int) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``duration`` s on a fixed schedule over ``conns`` keep-alive
    connections (more open if every one is busy, up to 4x); latency from each request's due time.
    Bounded: after ``2 * duration + 2`` s the rest (unsent or unanswered) counts as failed, each
    with the latency it had reached by then.

    The generator's own lateness (send time - due time) is part of every latency, so it is kept
    small and reported (``lag_p50`` / ``lag_p99``): the waits are ``select(2)``, whose timeout is in
    microseconds -- ``epoll_wait``'s is in milliseconds, and Python rounds a wait up to the next
    one, which sent requests 0-1 ms late (p50 ~0.6 ms at 500/s) and charged that to the server."""
    _precise_timers()

    def connect() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        return s

    sel = selectors.SelectSelector()  # microsecond timeouts (see the docstring); a few dozen sockets
    free: deque[socket.socket] = deque(connect() for _ in range(conns))
    opened = conns
    busy: dict[socket.socket, list[Any]] = {}  # sock -> [due, buffer]
    n = int(rate * duration)
    interval = 1.0 / rate
    backlog: deque[float] = deque()
    lat: list[float] = []
    lag: list[float] = []  # per request sent: how late it left
    counts = {"ok": 0, "shed": 0, "failed": 0, "degraded": 0}
    rnd = random.Random(7)
    sent = done = 0
    late: list[float] = []
    t0 = time.perf_counter() + 0.05
    stop = t0 + 2 * duration + 2
    while done < n:
        now = time.perf_counter()
        if now > stop:
            late = [entry[0] for entry in busy.values()] + list(backlog)
            late += [t0 + i * interval for i in range(sent, n)]
            lat.extend(now - due for due in late)
            counts["failed"] += len(late)
            break
        while sent < n and t0 + sent * interval <= now:
            backlog.append(t0 + sent * interval)
            sent += 1
        while backlog:
            if not free:
                if opened >= 4 * conns:
                    break
                free.append(connect())
                opened += 1
            s = free.popleft()
            due = backlog.popleft()
            s.sendall(requests[rnd.randrange(len(requests))])
            lag.append(time.perf_counter() - due)
            busy[s] = [due, b""]
        wait = (t0 + sent * interval - time.perf_counter()) if sent < n and not backlog else 0.05
        for key, _ in sel.select(max(0.0, wait) if busy else max(0.0, min(wait, 0.05))):
            s = key.fileobj  # type: ignore[assignment]
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                continue
            entry = busy.get(s)
            if entry is None:
                continue
            if not data:  # the server closed the connection: count a failure, reconnect
                sel.unregister(s)
                s.close()
                del busy[s]
                free.append(connect())
                counts["failed"] += 1
                lat.append(time.perf_counter() - entry[0])
                done += 1
                continue
            buf = entry[1] + data
            entry[1] = buf
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = buf[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(buf) < head_end + 4 + length:
                continue
            lat.append(time.perf_counter() - entry[0])
            del busy[s]
            status = int(head.split(b" ", 2)[1])
            if status == 200:
                if _degraded(buf[head_end + 4 : head_end + 4 + length]):
                    counts["degraded"] += 1
                    counts["failed"] += 1
                else:
                    counts["ok"] += 1
            elif status == 503:
                counts["shed"] += 1
            else:
                counts["failed"] += 1
            if b"connection: close" in head.lower():
                sel.unregister(s)
                s.close()
                free.append(connect())
            else:
                free.append(s)
            done += 1
    elapsed = time.perf_counter() - t0
    answered = counts["ok"] + counts["shed"] + counts["failed"] - len(late)
    for s in [*free, *busy]:
        s.close()
    lat.sort()
    lag.sort()
    return {
        "requests": n,
        "answered": answered,
        "achieved": answered / elapsed,
        **counts,
        "p50": _pct(lat, 0.50),
        "p99": _pct(lat, 0.99),
        "max": lat[-1] * 1000 if lat else float("nan"),
        "lag_p50": _pct(lag, 0.50),
        "lag_p99": _pct(lag, 0.99),
    }


def _worker(args: tuple[Any, ...], out: Any) -> None:
    out.put(open_loop(*args))


def _in_process(*args: Any) -> dict[str, Any]:
    """Run the generator in its own process (the bench's own Python work must not share its core)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(args, q))
    p.start()
    deadline = time.monotonic() + 900
    while True:  # a generator that died (its traceback is on stderr) must not leave the bench waiting
        try:
            res = q.get(timeout=1.0)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(f"the load generator exited with code {p.exitcode} before reporting") from None
            if time.monotonic() > deadline:
                p.kill()
                raise RuntimeError("the load generator reported nothing within 900 s") from None
    p.join(timeout=30)
    return res  # type: ignore[no-any-return]


def _rates(ap: argparse.ArgumentParser, flag: str, raw: str) -> list[float]:
    """A comma-separated list of request rates, each a positive number (else a usage error naming it)."""
    try:
        rates = [float(r) for r in raw.split(",") if r.strip()]
    except ValueError:
        ap.error(f"{flag}: {raw!r} is not a comma-separated list of numbers (requests/s)")
    bad = [r for r in rates if not r > 0]
    if bad:
        ap.error(f"{flag}: every rate must be > 0 requests/s, got {bad}; pass {flag} '' to skip the shape")
    return rates


def _bodies(refs: list[str], entities: int, per_request: int, count: int = 256) -> list[bytes]:
    rnd = random.Random(per_request)
    out = []
    for _ in range(count):
        ids = [f"u{rnd.randrange(entities)}" for _ in range(per_request)]
        body = json.dumps({"features": refs, "entities": {"user_id": ids}}).encode()
        out.append(_request("/get-online-features", body))
    return out


def _measure(port: int, pid: int, reqs: list[bytes], rate: float, duration: float, conns: int) -> dict[str, Any]:
    _in_process(port, reqs, min(rate, 200.0), 1.0, conns)  # warm-up (plans, connections)
    cpu0 = _tree_cpu_s(pid)
    res = _in_process(port, reqs, rate, duration, conns)
    res["cpu_ms"] = (_tree_cpu_s(pid) - cpu0) / max(res["answered"], 1) * 1000  # per answer (shed ones too)
    res["load"] = os.getloadavg()[0]
    return res


def _start_feast(python: str, redis_url: str, entities: int, work: Path, port: int, workers: int) -> Any:
    script = str(Path(__file__).with_name("_feast_serve.py"))
    subprocess.run([python, script, "setup", str(work), redis_url, str(entities)], check=True, timeout=1800)
    return subprocess.Popen(
        [python, script, "serve", str(work), str(port), str(workers)], stdout=subprocess.DEVNULL, cwd=str(work)
    )


def _feast_python(arg: str) -> str:
    """The Feast venv's python (``auto``: the cached one of tests.support.feast_env), with Feast's
    Redis extra installed (the SDK test's venv does not need it)."""
    from tests.support.feast_env import FEAST_VERSION, ensure_feast_venv

    python = arg if arg != "auto" else str(ensure_feast_venv((ROOT / ".featurestream").resolve()))
    if subprocess.run([python, "-c", "import redis"], capture_output=True).returncode != 0:
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", f"feast[redis]=={FEAST_VERSION}"]
        subprocess.run(pip, check=True, timeout=1200)
    return python


def _row(label: str, rate: float, r: dict[str, Any]) -> str:
    return (
        f"{label:<26} {rate:>6.0f} {r['achieved']:>7.0f} {r['ok']:>6} {r['shed']:>5} {r['failed']:>6} "
        f"{r['degraded']:>5} "
        f"{r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.1f} {r['cpu_ms']:>7.3f} {r['load']:>5.2f} "
        f"{r['lag_p50']:>5.2f}/{r['lag_p99']:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url")
    ap.add_argument("--entities", type=int, default=10_000, help="rows per view (requests pick random ones)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per rate")
    ap.add_argument("--rates", default="500,1000,2000,3000", help="requests/s, 1 entity x 50 features")
    ap.add_argument("--rates-100", default="30,100,200", help="requests/s, 100 entities x 50 features ('' skips)")
    ap.add_argument("--workers", type=int, default=1, help="featurestream serve --workers")
    ap.add_argument("--max-in-flight", type=int, help="serving.max_in_flight (default: the config's)")
    ap.add_argument("--deadline-ms", type=float, help="serving.deadline_ms (default: the config's)")
    ap.add_argument("--conns", type=int, default=32, help="keep-alive connections of the generator")
    ap.add_argument(
        "--feast", nargs="?", const="auto", help="also run Feast's feature server (python of a Feast venv, or auto)"
    )
    ap.add_argument("--feast-workers", type=int, default=2)
    a = ap.parse_args()
    cases = [(1, _rates(ap, "--rates", a.rates))]  # checked before anything starts
    if a.rates_100:
        cases.append((100, _rates(ap, "--rates-100", a.rates_100)))

    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="fs-bench-"))
    try:
        redis_url = a.redis_url
        if not redis_url:
            proc, redis_url = start_redis()
            procs.append(proc)
        t = time.perf_counter()
        refs = setup_views(tmp / "state", redis_url, a.entities)
        print(f"wrote {a.entities} entities x {N_VIEWS} views in {time.perf_counter() - t:.1f} s", flush=True)
        serving = [f"  {k}: {v}" for k, v in (("deadline_ms", a.deadline_ms), ("max_in_flight", a.max_in_flight)) if v]
        (tmp / "featurestream.yaml").write_text(
            f"namespace: bench\nstate_dir: {tmp / 'state'}\nredis:\n  url: {redis_url}\n"
            + ("serving:\n" + "\n".join(serving) + "\n" if serving else "")
        )
        port = _free_port()
        fs = ROOT / ".venv" / "bin" / "featurestream"
        exe = [str(fs)] if fs.exists() else [sys.executable, "-m", "featurestream.cli"]
        procs.append(
            subprocess.Popen(
                [*exe, "-r", str(tmp), "serve", "--port", str(port), "--workers", str(a.workers)], cwd=str(ROOT)
            )
        )
        servers: list[tuple[str, int, int]] = [(f"featurestream x{a.workers}", port, procs[-1].pid)]
        _wait_http(port, proc=procs[-1])
        if a.feast:
            fport = _free_port()
            procs.append(
                _start_feast(_feast_python(a.feast), redis_url, a.entities, tmp / "feast", fport, a.feast_workers)
            )
            _wait_http(fport, timeout=300, proc=procs[-1])
            servers.append((f"feast serve x{a.feast_workers}", fport, procs[-1].pid))

        results: dict[tuple[str, int, float], dict[str, Any]] = {}
        head = (
            f"{'server':<26} {'rate':>6} {'got/s':>7} {'ok':>6} {'shed':>5} {'failed':>6} {'degr':>5} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu ms':>7} {'load':>5} send lag p50/p99 ms"
        )
        for n, rates in cases:
            reqs = _bodies(refs, a.entities, n)
            print(f"\n{n} entit{'y' if n == 1 else 'ies'} x {N_VIEWS * N_FEATS} features, {a.duration:.0f} s per rate")
            print(head, flush=True)
            for rate in rates:
                for label, p, pid in servers:
                    r = _measure(p, pid, reqs, rate, a.duration, a.conns)
                    results[(label, n, rate)] = r
                    print(_row(label, rate, r), flush=True)
                if len(servers) > 1:
                    ours, feast = results[(servers[0][0], n, rate)], results[(servers[1][0], n, rate)]
                    print(
                        f"{'ratio feast/ours':<26} {'':>6} {feast['achieved'] / ours['achieved']:>7.2f} "
                        f"{'':>6} {'':>5} {'':>6} {'':>5} {feast['p50'] / ours['p50']:>8.1f} "
                        f"{feast['p99'] / ours['p99']:>8.1f} "
                        f"{'':>8} {feast['cpu_ms'] / ours['cpu_ms']:>7.1f}",
                        flush=True,
                    )
            for label, _, _ in servers:
                clean = [rate for rate in rates if _clean(results[(label, n, rate)], rate)]
                print(f"{label}: highest clean rate {max(clean) if clean else 'none'} req/s ({n} x 50)")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
