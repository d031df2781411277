"""Feast's offline retrieval on bench/pit_join.py's data; run with a Python that has feast installed.

    /tmp/feastvenv/bin/python bench/_feast_pit.py /tmp/fs_bench_small

Prints one JSON line: rows, wall_s (get_historical_features(...).to_df()), peak_rss_mb.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

VIEWS = [  # name, entity, features, ttl (same as bench/pit_join.py)
    ("user_b", "user_id", ["u_clicks", "u_amount"], timedelta(days=2)),
    ("item_b", "item_id", ["i_views", "i_ctr"], timedelta(days=1)),
    ("card_b", "card_id", ["c_spend"], timedelta(hours=6)),
]


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64, Int64
    from feast.value_type import ValueType

    data = Path(sys.argv[1])
    work = Path(tempfile.mkdtemp(prefix="feastbench-"))
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
        offline_store={"type": "file"},
        online_store={"type": "sqlite", "path": str(work / "online.db")},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    store.apply(objs)
    labels = pd.read_parquet(data / "labels.parquet")
    refs = [f"{n}:{f}" for n, _, feats, _ in VIEWS for f in feats]
    t = time.perf_counter()
    df = store.get_historical_features(entity_df=labels, features=refs).to_df()
    wall = time.perf_counter() - t
    print(json.dumps({"rows": len(df), "wall_s": wall, "peak_rss_mb": _peak_rss_mb()}))


if __name__ == "__main__":
    main()
