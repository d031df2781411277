"""Bench: point-in-time training sets, featurestream (DuckDB ASOF) vs pandas merge_asof vs Feast.

    .venv/bin/python bench/pit_join.py --size small    # 100k labels x 1M feature rows
    .venv/bin/python bench/pit_join.py                 # 1M labels x 3 views x 10M feature rows
    .venv/bin/python bench/pit_join.py --feast /tmp/feastvenv/bin/python

Data is generated once (seeded) into ``--data`` in the offline layout. Every engine runs in its
own subprocess, which reports its wall time and peak RSS (``VmHWM``), so memory is per engine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurestream.config import Config, load_config
from featurestream.definitions import FeatureView
from offline.testing import make_view

SIZES = {  # labels, feature rows per view, entities per view
    "tiny": (10_000, 100_000, 5_000),
    "small": (100_000, 333_333, 20_000),
    "full": (1_000_000, 3_333_334, 200_000),
}
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 30
VIEWS: list[FeatureView] = [
    make_view(
        "user_b",
        ["user_id"],
        {"u_clicks": "BIGINT", "u_amount": "DOUBLE"},
        ttl=timedelta(days=2),
        defaults={"u_clicks": 0, "u_amount": 0.0},
    ),
    make_view(
        "item_b",
        ["item_id"],
        {"i_views": "BIGINT", "i_ctr": "DOUBLE"},
        ttl=timedelta(days=1),
        defaults={"i_views": 0, "i_ctr": 0.0},
    ),
    make_view("card_b", ["card_id"], {"c_spend": "DOUBLE"}, ttl=timedelta(hours=6), defaults={"c_spend": 0.0}),
]
FEATURES = [f"{v.name}:{f}" for v in VIEWS for f in v.feature_names]


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(config: Config, size: str, data: Path) -> None:
    n_labels, n_rows, n_ent = SIZES[size]
    marker = data / f".generated-{size}"
    if marker.exists():
        return
    rng = np.random.default_rng(42)
    span_us = DAYS * 86_400_000_000
    start_us = int(START.timestamp() * 1_000_000)
    for view in VIEWS:
        key = view.entities[0]
        ft = start_us + np.sort(rng.integers(0, span_us, n_rows))
        created = ft + rng.integers(1_000_000, 10_000_000, n_rows)
        cols: dict[str, Any] = {
            key: pa.array(np.char.add("e", rng.integers(0, n_ent, n_rows).astype(str))),
            "feature_time": pa.array(ft, pa.timestamp("us", tz="UTC")),
        }
        for f in view.features:
            cols[f.name] = pa.array(rng.integers(0, 100, n_rows) if f.dtype == "BIGINT" else rng.random(n_rows))
        cols["created_at"] = pa.array(created, pa.timestamp("us", tz="UTC"))
        table = pa.table(cols)
        days = (ft - start_us) // 86_400_000_000
        root = data / "offline" / view.namespace / view.name / f"v{view.version}"
        for d in range(DAYS):
            part = root / f"date={(START + timedelta(days=d)).date().isoformat()}"
            part.mkdir(parents=True, exist_ok=True)
            idx = np.nonzero(days == d)[0]
            pq.write_table(table.take(pa.array(idx)), part / "part-0.parquet", compression="zstd")
    labels = {
        "user_id": np.char.add("e", rng.integers(0, n_ent, n_labels).astype(str)),
        "item_id": np.char.add("e", rng.integers(0, n_ent, n_labels).astype(str)),
        "card_id": np.char.add("e", rng.integers(0, n_ent, n_labels).astype(str)),
        "event_timestamp": pa.array(start_us + rng.integers(0, span_us, n_labels), pa.timestamp("us", tz="UTC")),
        "label": rng.integers(0, 2, n_labels),
    }
    pq.write_table(pa.table(labels), data / "labels.parquet")
    marker.write_text("ok")


def run_ours(config: Config, data: Path) -> dict[str, Any]:
    from offline.training import build_training_set

    t = time.perf_counter()
    ts = build_training_set(config, data / "labels.parquet", features=FEATURES, views=VIEWS)
    wall = time.perf_counter() - t
    return {
        "rows": ts.table.num_rows,
        "wall_s": wall,
        "matched": [v.matched for v in ts.report.views],
        "checksum": float(np.nansum(ts.table["u_amount"].to_numpy())),
    }


def run_pandas(config: Config, data: Path) -> dict[str, Any]:
    import pandas as pd

    t = time.perf_counter()
    labels = pd.read_parquet(data / "labels.parquet")
    labels["__row"] = np.arange(len(labels))
    out = labels.sort_values("event_timestamp", kind="stable")
    for view in VIEWS:
        key = view.entities[0]
        frame = pd.read_parquet(config.offline_path / view.namespace / view.name / f"v{view.version}")
        frame = frame.drop(columns=[c for c in frame.columns if c == "date"])
        frame = frame.sort_values(["feature_time", "created_at"], kind="stable")
        out = pd.merge_asof(
            out,
            frame.drop(columns=["created_at"]).rename(columns={"feature_time": "__ft"}),
            left_on="event_timestamp",
            right_on="__ft",
            by=key,
            direction="backward",
            allow_exact_matches=True,
        )
        stale = out["__ft"].isna() | (out["__ft"] <= out["event_timestamp"] - view.ttl)
        for f in view.features:
            out.loc[stale, f.name] = view.defaults[f.name]
        out = out.drop(columns=["__ft"])
    out = out.sort_values("__row").reset_index(drop=True)
    wall = time.perf_counter() - t
    return {"rows": len(out), "wall_s": wall, "checksum": float(np.nansum(out["u_amount"].to_numpy()))}


ENGINES = {"ours": run_ours, "pandas": run_pandas}


def child(engine: str, data: Path) -> None:
    os.environ["FEATURESTREAM_OFFLINE_PATH"] = str(data / "offline")
    config = load_config(data)
    cpu = time.process_time()
    result = ENGINES[engine](config, data)
    result["cpu_s"] = time.process_time() - cpu  # every thread of the process: robust to a loaded machine
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _spawn(cmd: list[str], timeout: float) -> dict[str, Any]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument("--data", type=Path, default=None, help="data directory (default /tmp/fs_bench_<size>)")
    ap.add_argument("--engines", default="ours,pandas")
    ap.add_argument("--feast", help="python of a venv with feast installed (runs bench/_feast_pit.py)")
    ap.add_argument("--feast-size", choices=sorted(SIZES), default="small")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or Path(f"/tmp/fs_bench_{args.size}")
    if args.child:
        child(args.child, data)
        return
    data.mkdir(parents=True, exist_ok=True)
    os.environ["FEATURESTREAM_OFFLINE_PATH"] = str(data / "offline")
    t = time.perf_counter()
    generate(load_config(data), args.size, data)
    n_labels, n_rows, _ = SIZES[args.size]
    print(
        f"data: {n_labels:,} labels x {len(VIEWS)} views x {n_rows * len(VIEWS):,} feature rows "
        f"(ready in {time.perf_counter() - t:.1f}s); cores: {os.cpu_count()}"
    )
    results: list[tuple[str, str, dict[str, Any]]] = []
    load_before = os.getloadavg()
    for engine in args.engines.split(","):
        res = _spawn(
            [sys.executable, __file__, "--size", args.size, "--data", str(data), "--child", engine], args.timeout
        )
        results.append((engine, args.size, res))
        print(engine, args.size, res, flush=True)
    if args.feast:
        fdata = args.data or Path(f"/tmp/fs_bench_{args.feast_size}")
        os.environ["FEATURESTREAM_OFFLINE_PATH"] = str(fdata / "offline")
        generate(load_config(fdata), args.feast_size, fdata)
        feast_script = str(Path(__file__).with_name("_feast_pit.py"))
        res = _spawn([args.feast, feast_script, str(fdata)], args.timeout)
        results.append(("feast", args.feast_size, res))
        print("feast", args.feast_size, res, flush=True)
    print(f"\nload average before/after: {load_before} / {os.getloadavg()}")
    print("| engine | size | labels | feature rows | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for engine, size, res in results:
        nl, nr, _ = SIZES[size]
        wall = f"{res['wall_s']:.2f}" if "wall_s" in res else res.get("error", "?")
        rss = f"{res['peak_rss_mb']:.0f}" if "peak_rss_mb" in res else "-"
        cpu = f"{res['cpu_s']:.2f}" if "cpu_s" in res else "-"
        print(f"| {engine} | {size} | {nl:,} | {nr * len(VIEWS):,} | {wall} | {cpu} | {rss} |")


if __name__ == "__main__":
    main()
