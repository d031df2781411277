"""Registry at catalog scale: apply and feature resolution with 10,000+ features.

Generates V views x F features (TUMBLE aggregates over the demo's clicks source) in each of
N namespaces, then measures: the first apply (every view planned by Flink), a second apply
(nothing changed: no planner), loading the registry, and resolving every feature reference; the first
apply also prints the CPU seconds of the planner's JVM (Linux), steadier than wall time on a shared machine.

Baseline in the same run (``--baseline-views N``, default 10): N more views with SQL not seen
before, each planned both ways in turn on the same JVM — by ``FlinkPlanner.output_columns`` and
by the code before issue 14 (Flink's default code splitting, the schema read column by column
over py4j, no reuse) — so both see the same load; it prints ms/view of each and the ratio.

    .venv/bin/python bench/registry_scale.py [--views 100] [--features 50] [--namespaces 2] [--baseline-views 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from featurestream.apply import apply, load_repo
from featurestream.config import load_config
from featurestream.definitions import Column, FeatureView
from featurestream.jobs import planner_cds
from featurestream.jobs.planner import FlinkPlanner, _columns_one_by_one
from featurestream.registry import Registry

REPO = Path(__file__).resolve().parents[1]


def _view(i: int, n_features: int, salt: int = 0) -> str:
    feats = ",\n".join(
        f"    {'SUM(amount)' if j % 2 else 'COUNT(*)'} * {j + 1 + salt} AS f{j}" for j in range(n_features)
    )
    return (
        f"-- name: view_{i}\n-- version: 1\n-- entities: user_id\n-- ttl: 1d\n"
        f"SELECT\n    user_id,\n    window_end AS feature_time,\n{feats}\n"
        f"FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '{i % 59 + 1}' MINUTE))\n"
        "GROUP BY user_id, window_start, window_end\n"
    )


def _before_issue_14(planner: FlinkPlanner, view: FeatureView) -> list[Column]:
    """What ``output_columns`` did before issue 14: Flink's default code splitting, the schema read
    column by column over py4j, and no reuse of an earlier plan."""
    conf = planner.t_env.get_config()
    conf.set("table.generated-code.max-length", "4000")
    try:
        table = planner.t_env.sql_query(view.sql)
        columns = _columns_one_by_one(table._j_table.getResolvedSchema())
        table.explain()
    finally:
        conf.set("table.generated-code.max-length", str(2**31 - 1))
    return columns


def _baseline(planner: FlinkPlanner, root: Path, n_views: int, n_features: int) -> tuple[float, float]:
    """ms/view of (output_columns, the code before issue 14) on the same fresh views, interleaved."""
    features = root / "sql" / "features"
    shutil.rmtree(features)
    features.mkdir()
    for i in range(n_views):
        (features / f"view_{i}.sql").write_text(_view(i, n_features, salt=1000))
    (root / "featurestream.yaml").write_text("namespace: baseline\nregistry_path: registry.json\n")
    repo = load_repo(load_config(root, env={}))
    sources = {s.name: s for s in repo.sources}
    now = before = 0.0
    for v in repo.views:
        for name in v.sources:
            planner.register_source(sources[name], v)
        t0 = time.perf_counter()
        old = _before_issue_14(planner, v)
        before += time.perf_counter() - t0
        t0 = time.perf_counter()
        new = planner.output_columns(v)
        now += time.perf_counter() - t0
        assert new == old, (new, old)
    return now / n_views * 1000, before / n_views * 1000


def _children_cpu() -> float | None:
    """CPU seconds (user + system) used so far by this process's children: the planner's JVM. On this
    shared machine the wall time moves with the other tenants' load; the CPU seconds much less."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=100)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--namespaces", type=int, default=2)
    ap.add_argument("--baseline-views", type=int, default=10)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sql" / "features").mkdir(parents=True)
        shutil.copytree(REPO / "sql" / "sources", root / "sql" / "sources")
        for i in range(args.views):
            (root / "sql" / "features" / f"view_{i}.sql").write_text(_view(i, args.features))
        archive = "on" if planner_cds.jvm_args(load_config(REPO)) else "off (not built, or planner_cds: false)"
        t0 = time.perf_counter()
        planner = FlinkPlanner(load_config(REPO))
        t_jvm = time.perf_counter() - t0
        cpu_jvm = _children_cpu()
        first = again = 0.0
        per_ns: list[float] = []
        cpu_ns: list[float | None] = []
        py_ns: list[float] = []
        for n in range(args.namespaces):
            (root / "featurestream.yaml").write_text(f"namespace: ns{n}\nregistry_path: registry.json\n")
            cfg = load_config(root, env={})
            cpu0 = _children_cpu()
            py0 = time.process_time()
            t0 = time.perf_counter()
            result = apply(cfg, planner=planner)
            per_ns.append(time.perf_counter() - t0)
            py_ns.append(time.process_time() - py0)
            cpu1 = _children_cpu()
            cpu_ns.append(None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
            first += per_ns[-1]
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
        base_now, base_before = (
            _baseline(planner, root, args.baseline_views, args.features) if args.baseline_views else (0.0, 0.0)
        )
    total = args.views * args.features * args.namespaces
    print(f"| {total:,} features ({args.views} views x {args.features} x {args.namespaces} namespaces) | seconds |")
    print("|---|---|")
    cpu_start = "" if cpu_jvm is None else f" ({cpu_jvm:.1f} CPU-s of the JVM)"
    print(f"| start Flink's planner (JVM; class archive {archive}) | {t_jvm:.1f}{cpu_start} |")
    per_view_ms = first / (args.views * args.namespaces) * 1000
    each = ", ".join(f"{t:.1f}" for t in per_ns)
    print(
        f"| first apply, every view planned by Flink | {first:.1f} ({per_view_ms:.0f} ms/view; per namespace {each}) |"
    )
    if all(c is not None for c in cpu_ns):
        cpus = ", ".join(f"{c:.1f}" for c in cpu_ns if c is not None)
        print(f"| first apply, CPU seconds of the planner's JVM per namespace | {cpus} |")
    print(
        f"| first apply, CPU seconds of Python (this process) per namespace | {', '.join(f'{c:.1f}' for c in py_ns)} |"
    )
    print(f"| second apply, nothing changed | {again:.2f} |")
    print(f"| load the registry | {t_load:.3f} |")
    print(f"| resolve all {total:,} references | {t_resolve:.3f} ({t_resolve / total * 1e6:.1f} us each) |")
    if args.baseline_views:
        print(
            f"| baseline, {args.baseline_views} new views planned both ways in turn | {base_now:.0f} ms/view now, "
            f"{base_before:.0f} ms/view before issue 14: {base_before / base_now:.1f}x |"
        )
    print(f"\nload average before/after: {load_before} / {os.getloadavg()}")


if __name__ == "__main__":
    main()
