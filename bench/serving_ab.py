"""Two serving configurations side by side in short alternating blocks: CPU per answer that survives a busy machine.

    .venv/bin/python bench/serving_ab.py [--redis-url URL] [--rate 500] [--blocks 8] [--block-seconds 3]
        [--b-env FEATURESTREAM__SERVING__HTTP_FAST_PATH=false] [--a-env NAME=VALUE ...] [--a-exe / --b-exe PATH]

On a shared 2-core machine the load of other processes moves the server's CPU per answer by more than
a change under test does, from one minute to the next. This bench starts two ``featurestream serve``
processes on the same Redis and rows as ``serving_latency.py`` (A: the environment given by
``--a-env``, default none; B: ``--b-env``, default the plain ASGI protocol,
``serving.http_fast_path: false``; ``--b-exe`` runs another checkout's ``featurestream`` instead, e.g.
main's, to compare two commits) and drives them with the same open-loop generator in alternating
blocks (A, B, B, A, A, B, ...), 1 entity x 50 features at ``--rate``. Per block: the server's CPU per
answer (its whole process, from /proc), p50 / p99. Printed: every block, then per server the median
CPU per answer and p50 / p99 over blocks, and the median of the paired ratios B / A (each pair of
adjacent blocks shares the machine's load of that moment).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving_latency import _bodies, _free_port, _measure, _wait_http, setup_views, start_redis  # noqa: E402


def _env(pairs: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for p in pairs:
        name, _, value = p.partition("=")
        env[name] = value
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url")
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=500.0, help="requests/s, 1 entity x 50 features")
    ap.add_argument("--blocks", type=int, default=8, help="blocks per server")
    ap.add_argument("--block-seconds", type=float, default=3.0)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--a-env", nargs="*", default=[], help="NAME=VALUE for server A")
    ap.add_argument("--b-env", nargs="*", default=["FEATURESTREAM__SERVING__HTTP_FAST_PATH=false"])
    ap.add_argument("--a-exe", help="featurestream executable of server A (default: this checkout's)")
    ap.add_argument(
        "--b-exe", help="featurestream executable of server B, e.g. another checkout's .venv/bin/featurestream"
    )
    a = ap.parse_args()

    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="fs-ab-"))
    try:
        redis_url = a.redis_url
        if not redis_url:
            proc, redis_url = start_redis()
            procs.append(proc)
        refs = setup_views(tmp / "state", redis_url, a.entities)
        (tmp / "featurestream.yaml").write_text(
            f"namespace: bench\nstate_dir: {tmp / 'state'}\nredis:\n  url: {redis_url}\n"
        )
        fs = ROOT / ".venv" / "bin" / "featurestream"
        exe = [str(fs)] if fs.exists() else [sys.executable, "-m", "featurestream.cli"]
        servers: dict[str, tuple[int, int]] = {}
        for label, pairs, other in (("A", a.a_env, a.a_exe), ("B", a.b_env, a.b_exe)):
            port = _free_port()
            cmd = [other] if other else exe
            p = subprocess.Popen([*cmd, "-r", str(tmp), "serve", "--port", str(port)], cwd=str(tmp), env=_env(pairs))
            procs.append(p)
            _wait_http(port, proc=p)
            servers[label] = (port, p.pid)
        print(f"A: {a.a_exe or ' '.join(exe)} {' '.join(a.a_env) or '(defaults)'}")
        print(f"B: {a.b_exe or ' '.join(exe)} {' '.join(a.b_env) or '(defaults)'}")
        print(f"1 entity x 50 features, {a.rate:.0f} req/s, {a.blocks} blocks of {a.block_seconds:g} s per server")
        print(f"{'block':>5} {'server':>6} {'ok':>6} {'fail':>5} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>7} {'load':>5}")
        reqs = _bodies(refs, a.entities, 1)
        res: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for i in range(a.blocks):
            order = ("A", "B") if i % 2 == 0 else ("B", "A")
            for label in order:
                port, pid = servers[label]
                r = _measure(port, pid, reqs, a.rate, a.block_seconds, a.conns)
                res[label].append(r)
                print(
                    f"{i:>5} {label:>6} {r['ok']:>6} {r['failed'] + r['shed']:>5} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                    f"{r['cpu_ms']:>7.3f} {r['load']:>5.2f}",
                    flush=True,
                )
        print()
        for label in ("A", "B"):
            rs = res[label]
            med = {k: statistics.median(r[k] for r in rs) for k in ("cpu_ms", "p50", "p99")}
            print(
                f"{label}: median over blocks: CPU {med['cpu_ms']:.3f} ms per answer, p50 {med['p50']:.2f} ms, "
                f"p99 {med['p99']:.2f} ms; failed or shed {sum(r['failed'] + r['shed'] for r in rs)}"
            )
        ratios = [b["cpu_ms"] / x["cpu_ms"] for x, b in zip(res["A"], res["B"], strict=True)]
        print(f"CPU per answer B / A, median of {len(ratios)} adjacent pairs: {statistics.median(ratios):.2f}")
        print(f"load average after: {os.getloadavg()}")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
