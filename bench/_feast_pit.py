"""Feast's offline retrieval on bench/pit_join.py's data; run with a Python that has feast installed.

    /tmp/feastvenv/bin/python bench/_feast_pit.py /tmp/fs_bench_small [--store duckdb|file] [--out x.parquet]

Prints one JSON line: rows, label_rows, wall_s (get_historical_features(...).to_df(), rows put
back in label order), cpu_s, peak_rss_mb, checksum. ``--out`` also writes the result (with the
label row number ``__row``) for bench/pit_join.py to compare against featurestream's.

Offline store: ``duckdb`` (default, needs ``feast[duckdb]``) or ``file`` (Feast's dask store).
The ``file`` store cannot answer this request correctly. It left-joins every feature row of the
entity onto each label row and then *drops* the joined rows outside ``[t - ttl, t]``
(``dask.py: _filter_ttl``). A label row whose entity has rows, none of them in that window,
therefore disappears instead of getting NULL features; with three views that keeps ~3.5% of
the small size's labels. It also collapses label rows with equal keys and event time
(``_drop_duplicates``). The DuckDB store (``ibis.py: point_in_time_join``) inner-joins within
the window, keeps the latest row per label row and LEFT-joins back, so every label row is kept,
duplicates included, with NULLs where nothing is in the window.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

VIEWS = [  # name, entity, features, ttl (same as bench/pit_join.py)
    ("user_b", "user_id", ["u_clicks", "u_amount"], timedelta(days=2)),
    ("item_b", "item_id", ["i_views", "i_ctr"], timedelta(days=1)),
    ("card_b", "card_id", ["c_spend"], timedelta(hours=6)),
]
ROW = "__row"  # label row number: Feast's output order is not the label order


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64, Int64
    from feast.value_type import ValueType

    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--store", choices=["duckdb", "file"], default="duckdb")
    ap.add_argument("--out", type=Path, help="write the retrieved frame here (Parquet)")
    args = ap.parse_args()
    data: Path = args.data
    work = Path(tempfile.mkdtemp(prefix="feastbench-"))
    try:
        objs = []
        for name, key, feats, ttl in VIEWS:
            # Feast's file source reads one Parquet path; flatten the partitions into one file.
            src_dir = data / "offline" / "default" / name / "v1"
            flat = work / f"{name}.parquet"
            pq.write_table(pq.read_table(src_dir).drop_columns(["date"]), flat)
            ent = Entity(name=key, join_keys=[key], value_type=ValueType.STRING)
            src = FileSource(path=str(flat), timestamp_field="feature_time", created_timestamp_column="created_at")
            fields = [Field(name=f, dtype=Int64 if "clicks" in f or "views" in f else Float64) for f in feats]
            objs += [ent, FeatureView(name=name, entities=[ent], ttl=ttl, schema=fields, source=src)]
        config = RepoConfig(
            project="bench",
            registry=str(work / "registry.db"),
            provider="local",
            offline_store={"type": args.store},
            online_store={"type": "sqlite", "path": str(work / "online.db")},
            entity_key_serialization_version=3,
        )
        store = FeatureStore(config=config)
        store.apply(objs)
        # Same label rows as ours: string keys, ``event_timestamp`` as datetime64[us, UTC] (Feast's
        # default entity-timestamp column name, so no inference), plus the row number.
        labels = pd.read_parquet(data / "labels.parquet")
        labels[ROW] = np.arange(len(labels), dtype=np.int64)
        refs = [f"{n}:{f}" for n, _, feats, _ in VIEWS for f in feats]
        cpu = time.process_time()
        t = time.perf_counter()
        df = store.get_historical_features(entity_df=labels, features=refs).to_df()
        df = df.sort_values(ROW, kind="stable").reset_index(drop=True)  # ours and pandas return label order
        wall = time.perf_counter() - t
        cpu_s = time.process_time() - cpu
        peak = _peak_rss_mb()  # before --out, which is not part of the measurement
        if args.out:
            df[[ROW, *(f for _, _, feats, _ in VIEWS for f in feats)]].to_parquet(args.out)
        result = {
            "rows": len(df),
            "label_rows": len(labels),
            "wall_s": wall,
            "cpu_s": cpu_s,
            "peak_rss_mb": peak,
            "store": args.store,
            "checksum": float(np.nansum(df["u_amount"].to_numpy(dtype=np.float64, na_value=np.nan))),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
