"""Instructions per lookup of ``featurestream serve``, counted by callgrind: a CPU figure a busy machine cannot move.

    .venv/bin/python bench/serving_instructions.py [--b-exe PATH] [--requests 500] [--warmup 300]
        [--entities 10000] [--per-request 1] [--keep DIR]

On a shared 2-core machine the CPU per answer of ``serving_latency.py`` / ``serving_ab.py`` moves by
5-10 % from one minute to the next, more than most single changes to the lookup path. This bench
counts instructions instead: each server (A: this checkout's ``featurestream``; B: ``--b-exe``, e.g.
another checkout's, to compare two commits) runs under ``valgrind --tool=callgrind`` on the same
Redis and rows as ``serving_latency.py``, takes ``--warmup`` lookups (plans, connections, caches),
then its counters are zeroed (``callgrind_control -z``) and ``--requests`` lookups are sent one
after the other on one keep-alive connection, 1 (``--per-request``) entity x 50 features, and the
counters dumped. Printed: user-space instructions per lookup of each server and the ratio B / A;
``--keep DIR`` keeps the dumps (``callgrind_annotate --inclusive=yes DIR/callgrind.A``).
The count is repeatable to 0.1 % (hash seed fixed); it leaves out the kernel (socket reads and
writes, wake-ups) and the cost of cache misses, which the wall-clock benches see. Slow: the server
runs ~50x slower under callgrind, ~1.5 min per server.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving_latency import _bodies, _free_port, _wait_http, setup_views, start_redis  # noqa: E402

_LENGTH = re.compile(rb"content-length: (\d+)", re.I)


def _lookups(sock: socket.socket, bodies: list[bytes], n: int) -> None:
    """``n`` requests, each sent when the previous answer is in whole; an answer other than 200 stops it."""
    for i in range(n):
        sock.sendall(bodies[i % len(bodies)])
        buf = b""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            buf += chunk
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            m = _LENGTH.search(buf[:end])
            if m is not None and len(buf) >= end + 4 + int(m.group(1)):
                break
        if not buf.startswith(b"HTTP/1.1 200") or b"x-featurestream-degraded" in buf[:end]:
            raise RuntimeError(f"lookup answered {buf[:300]!r}")


def _count(exe: str, repo: Path, bodies: list[bytes], requests: int, warmup: int, keep: Path | None = None) -> float:
    """Instructions per lookup of the server ``exe`` serving ``repo``; the counted dump is copied to
    ``keep`` (a file path) when given."""
    out = repo / f"callgrind.{os.getpid()}.{time.monotonic_ns()}"
    port = _free_port()
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", exe, "-r", str(repo), "serve"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_http(port, timeout=600, proc=proc)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _lookups(sock, bodies, warmup)
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
            _lookups(sock, bodies, requests)
            before = set(repo.glob(out.name + "*"))
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while not (dumps := set(repo.glob(out.name + "*")) - before) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        (dump,) = dumps
        if keep is not None:
            shutil.copyfile(dump, keep)
        for line in dump.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1]) / requests
        raise RuntimeError(f"no summary line in {dump}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--b-exe", help="featurestream executable of server B (e.g. another checkout's)")
    ap.add_argument("--requests", type=int, default=500, help="lookups counted per server")
    ap.add_argument("--warmup", type=int, default=300, help="lookups before the count starts")
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--per-request", type=int, default=1, help="entities per lookup (x 50 features)")
    ap.add_argument(
        "--keep",
        type=Path,
        help="a directory: keep each server's counted callgrind dump there (callgrind.A, callgrind.B) for "
        "callgrind_annotate",
    )
    a = ap.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH: install valgrind (Debian: apt-get install valgrind)")
    fs = ROOT / ".venv" / "bin" / "featurestream"
    servers = [("A", str(fs))] + ([("B", a.b_exe)] if a.b_exe else [])
    redis, redis_url = start_redis()
    repo = Path(tempfile.mkdtemp(prefix="fs-bench-ir-"))
    try:
        refs = setup_views(repo / "state", redis_url, a.entities)
        (repo / "featurestream.yaml").write_text(
            f"namespace: bench\nstate_dir: {repo / 'state'}\nredis:\n  url: {redis_url}\n"
            "serving:\n  deadline_ms: 60000\n"  # ~50x slower under callgrind: no lookup may be shed or degraded
        )
        bodies = _bodies(refs, a.entities, a.per_request)
        counts = {}
        for label, exe in servers:
            print(f"{label}: {exe} under callgrind, {a.warmup} + {a.requests} lookups ...", flush=True)
            keep = None
            if a.keep is not None:
                a.keep.mkdir(parents=True, exist_ok=True)
                keep = a.keep / f"callgrind.{label}"
            counts[label] = _count(exe, repo, bodies, a.requests, a.warmup, keep)
            print(f"{label}: {counts[label] / 1000:.1f} k instructions per lookup ({a.per_request} x 50)", flush=True)
        if "B" in counts:
            print(f"instructions per lookup B / A: {counts['B'] / counts['A']:.3f}")
    finally:
        redis.terminate()
        redis.wait(timeout=30)
        shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    main()
