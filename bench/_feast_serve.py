"""Feast's feature server on bench/serving_latency.py's data; run with a Python that has feast installed.

    <feast-venv>/bin/python bench/_feast_serve.py setup WORK REDIS_URL ENTITIES
    <feast-venv>/bin/python bench/_feast_serve.py serve WORK PORT WORKERS

``setup`` writes a Feast repo under WORK (5 views x 10 Float32 features keyed by ``user_id``, the
same names and values as the featurestream side), applies it, and writes every row into the same
Redis with Feast's own ``write_to_online_store`` (Feast's key and value encoding; its keys never
collide with featurestream's ``{bench:...}`` ones). ``serve`` runs ``feast serve`` on it, tuned as
the issue measured it: no access log, no worker recycling, the registry cached for an hour.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

N_VIEWS, N_FEATS = 5, 10


def _value(e: int, k: int) -> float:  # the same as bench/serving_latency.py
    return float((e % 4096) * 16 + k) + 0.5


def setup(work: Path, redis_url: str, entities: int) -> None:
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float32
    from feast.value_type import ValueType

    u = urlsplit(redis_url)
    db = (u.path or "/0").strip("/") or "0"
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    (work / "feature_store.yaml").write_text(
        "project: bench\nprovider: local\nregistry: data/registry.db\n"
        f"online_store:\n  type: redis\n  connection_string: {u.hostname}:{u.port},db={db}\n"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    now = pd.Timestamp.now(tz="UTC").floor("s")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    views, frames = [], []
    for i in range(N_VIEWS):
        names = [f"f{i}_{j}" for j in range(N_FEATS)]
        df = pd.DataFrame({"user_id": [f"u{e}" for e in range(entities)], "event_timestamp": now})
        for k, n in enumerate(names):
            df[n] = pd.Series([_value(e, k) for e in range(entities)], dtype="float32")
        path = work / "data" / f"bench_view_{i}.parquet"
        df.to_parquet(path)
        src = FileSource(name=f"src_{i}", path=str(path), timestamp_field="event_timestamp")
        views.append(
            FeatureView(
                name=f"bench_view_{i}",
                entities=[user],
                ttl=timedelta(days=1),
                schema=[Field(name=n, dtype=Float32) for n in names],
                source=src,
                online=True,
            )
        )
        frames.append(df)
    store = FeatureStore(repo_path=str(work))
    store.apply([user, *views])
    t = time.perf_counter()
    for v, df in zip(views, frames, strict=True):
        store.write_to_online_store(v.name, df)
    print(f"feast: wrote {entities} entities x {N_VIEWS} views in {time.perf_counter() - t:.1f} s", flush=True)


def serve(work: Path, port: int, workers: int) -> None:
    feast = Path(sys.executable).with_name("feast")
    cmd = [str(feast), "serve", "-p", str(port), "-w", str(workers), "--no-access-log"]
    cmd += ["--max-requests", "0", "--max-requests-jitter", "0", "-r", "3600"]
    os.chdir(work)
    os.execv(cmd[0], cmd)  # the bench stops this pid: it must be feast itself, not a wrapper


def main() -> None:
    cmd, work = sys.argv[1], Path(sys.argv[2])
    if cmd == "setup":
        setup(work, sys.argv[3], int(sys.argv[4]))
    elif cmd == "serve":
        serve(work, int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(f"expected 'setup' or 'serve', found {cmd!r}")


if __name__ == "__main__":
    main()
