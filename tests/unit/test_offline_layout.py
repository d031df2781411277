"""The offline layout: paths, the atomic writer, partition replacement, Flink-style files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestream.config import Config, load_config
from featurestream.offline import build_training_set, partition_dir, write_rows
from featurestream.offline.layout import data_files, partition_dates, read_view
from tests.support.views import make_view

VIEW = make_view("v", ["k"], {"x": "DOUBLE"}, ttl=timedelta(days=2), defaults={"x": 0.0})
T0 = datetime(2024, 1, 1, 23, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


def test_partition_dir_follows_the_contract(config: Config) -> None:
    assert partition_dir(config, VIEW, date(2024, 1, 2)) == str(config.offline_path / "default/v/v1/date=2024-01-02")


def test_writer_splits_by_utc_date_and_normalises_time(config: Config) -> None:
    rows = [{"k": "a", "feature_time": T0 + timedelta(hours=h), "x": float(h)} for h in range(3)]
    files = write_rows(config, VIEW, rows)
    assert len(files) == 2
    assert partition_dates(config, VIEW) == [date(2024, 1, 1), date(2024, 1, 2)]
    table = pq.read_table(files[0])
    assert table.schema.field("feature_time").type == pa.timestamp("us", tz="UTC")
    assert table.column_names == ["k", "feature_time", "x", "created_at"]
    assert not any(p.name.startswith(".") for p in config.offline_path.rglob("*"))


def test_replace_swaps_only_touched_partitions(config: Config) -> None:
    write_rows(
        config,
        VIEW,
        [{"k": "a", "feature_time": T0, "x": 1.0}, {"k": "a", "feature_time": T0 + timedelta(hours=2), "x": 2.0}],
    )
    write_rows(config, VIEW, [{"k": "a", "feature_time": T0 + timedelta(hours=3), "x": 3.0}], replace=True)
    files = data_files(config, VIEW)
    values = sorted(v for f in files for v in pq.read_table(f)["x"].to_pylist())
    assert values == [1.0, 3.0]


def test_read_view_reads_every_committed_row_and_nothing_for_an_empty_view(config: Config) -> None:
    assert read_view(config, VIEW).num_rows == 0
    rows = [{"k": k, "feature_time": T0 + timedelta(hours=h), "x": float(h)} for h in range(3) for k in "ab"]
    write_rows(config, VIEW, rows)
    table = read_view(config, VIEW)
    assert sorted(zip(table["k"].to_pylist(), table["x"].to_pylist(), strict=True)) == sorted(
        (r["k"], r["x"]) for r in rows
    )
    assert read_view(config, VIEW, start=date(2024, 1, 2)).num_rows == 4


def test_flink_style_files_hidden_files_and_naive_int96_times(config: Config) -> None:
    part = Path(partition_dir(config, VIEW, "2024-01-01"))
    part.mkdir(parents=True)
    naive = pa.table(
        {
            "k": ["a"],
            "feature_time": pa.array([datetime(2024, 1, 1, 10)], pa.timestamp("ms")),
            "x": [5.0],
            "created_at": pa.array([datetime(2024, 1, 1, 10, 0, 5)], pa.timestamp("ms")),
        }
    )
    pq.write_table(naive, part / "part-0-0", use_deprecated_int96_timestamps=True)
    pq.write_table(naive.set_column(2, "x", pa.array([99.0])), part / ".part-0-1.inprogress")
    pq.write_table(naive.set_column(2, "x", pa.array([98.0])), part / "_SUCCESS_tmp")
    (part / "part-empty").write_bytes(b"")
    assert read_view(config, VIEW)["x"].to_pylist() == [5.0]  # committed files only
    labels = pa.table({"k": ["a"], "event_timestamp": pa.array([datetime(2024, 1, 1, 11)], pa.timestamp("us"))})
    df = build_training_set(config, labels, features=["v:x"], views=[VIEW], include_feature_times=True).to_pandas()
    assert df["x"].tolist() == [5.0]
    assert [t.isoformat() for t in df["v__feature_time"]] == ["2024-01-01T10:00:00+00:00"]


@pytest.mark.parametrize("scale", [1000, 1])
def test_raw_epoch_int64_times_millis_or_micros(config: Config, scale: int) -> None:
    part = Path(partition_dir(config, VIEW, "2024-01-01"))
    part.mkdir(parents=True)
    ms = 1704103200000  # 2024-01-01T10:00:00Z
    epoch = pa.table({"k": ["b"], "feature_time": pa.array([ms * scale], pa.int64()), "x": [6.0]})
    pq.write_table(epoch, part / "part-1-0")
    labels = pa.table({"k": ["b"], "event_timestamp": pa.array([datetime(2024, 1, 1, 11)], pa.timestamp("us"))})
    df = build_training_set(config, labels, features=["v:x"], views=[VIEW], include_feature_times=True).to_pandas()
    assert df["x"].tolist() == [6.0]
    assert df["v__feature_time"][0].isoformat() == "2024-01-01T10:00:00+00:00"
