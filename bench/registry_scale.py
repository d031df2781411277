"""Registry at catalog scale: apply and feature resolution with 10,000+ features.

Generates V views x F features (TUMBLE aggregates over the demo's clicks source) in each of
N namespaces, then measures: the first apply (every view planned by Flink), a second apply
(nothing changed: no planner), loading the registry, and resolving every feature reference.

    .venv/bin/python bench/registry_scale.py [--views 100] [--features 50] [--namespaces 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from featurestream.apply import apply
from featurestream.config import load_config
from featurestream.jobs.planner import FlinkPlanner
from featurestream.registry import Registry

REPO = Path(__file__).resolve().parents[1]


def _view(i: int, n_features: int) -> str:
    feats = ",\n".join(f"    {'SUM(amount)' if j % 2 else 'COUNT(*)'} * {j + 1} AS f{j}" for j in range(n_features))
    return (
        f"-- name: view_{i}\n-- version: 1\n-- entities: user_id\n-- ttl: 1d\n"
        f"SELECT\n    user_id,\n    window_end AS feature_time,\n{feats}\n"
        f"FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '{i % 59 + 1}' MINUTE))\n"
        "GROUP BY user_id, window_start, window_end\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=100)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--namespaces", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sql" / "features").mkdir(parents=True)
        shutil.copytree(REPO / "sql" / "sources", root / "sql" / "sources")
        for i in range(args.views):
            (root / "sql" / "features" / f"view_{i}.sql").write_text(_view(i, args.features))
        t0 = time.perf_counter()
        planner = FlinkPlanner(load_config(REPO))
        t_jvm = time.perf_counter() - t0
        first = again = 0.0
        for n in range(args.namespaces):
            (root / "featurestream.yaml").write_text(f"namespace: ns{n}\nregistry_path: registry.json\n")
            cfg = load_config(root, env={})
            t0 = time.perf_counter()
            result = apply(cfg, planner=planner)
            first += time.perf_counter() - t0
            assert len(result.new_views) == args.views
            t0 = time.perf_counter()
            result = apply(cfg, planner=planner)
            again += time.perf_counter() - t0
            assert not result.new_views
        t0 = time.perf_counter()
        reg = Registry(root / "registry.json")
        t_load = time.perf_counter() - t0
        refs = [f"view_{i}:f{j}" for i in range(args.views) for j in range(args.features)]
        t0 = time.perf_counter()
        for n in range(args.namespaces):
            assert len(reg.resolve(f"ns{n}", refs)) == len(refs)
        t_resolve = time.perf_counter() - t0
    total = args.views * args.features * args.namespaces
    print(f"| {total:,} features ({args.views} views x {args.features} x {args.namespaces} namespaces) | seconds |")
    print("|---|---|")
    print(f"| start Flink's planner (JVM) | {t_jvm:.1f} |")
    per_view_ms = first / (args.views * args.namespaces) * 1000
    print(f"| first apply, every view planned by Flink | {first:.1f} ({per_view_ms:.0f} ms/view) |")
    print(f"| second apply, nothing changed | {again:.2f} |")
    print(f"| load the registry | {t_load:.3f} |")
    print(f"| resolve all {total:,} references | {t_resolve:.3f} ({t_resolve / total * 1e6:.1f} us each) |")


if __name__ == "__main__":
    main()
