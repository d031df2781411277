"""The offline store, backfill inputs and the registry on S3 (a private moto server), and the
partition commit rule (manifest) under injected crashes, on a local disk and on S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestream import storage
from featurestream.config import Config, load_config
from featurestream.jobs.backfill import stage_events
from featurestream.offline import build_training_set, layout, swap, write_rows
from featurestream.offline.layout import MANIFEST, data_files, delete_partitions, partition_dir, read_view
from featurestream.registry import Registry
from tests.support.remote_cluster import MotoS3
from tests.support.s3 import TEST_CREDENTIALS, moto_s3_with_credentials, s3_config
from tests.support.views import clicks_source, make_view

BUCKET = "fs-unit"
VIEW = make_view("clicks", ["user_id"], {"n": "BIGINT", "amount": "DOUBLE"}, ttl=timedelta(days=2), defaults={"n": 0})
T0 = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)
SOURCE = clicks_source()


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_s3_with_credentials(tmp_path_factory.mktemp("moto"), (BUCKET,)) as store:
        yield store


@pytest.fixture
def s3_cfg(moto: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    for k, v in TEST_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    prefix = f"s3://{BUCKET}/{tmp_path.name}/offline"
    return Config(root=tmp_path, offline={"path": prefix}, s3=s3_config(moto))


@pytest.fixture
def local_cfg(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


def _rows(n: int, shift: int = 0) -> list[dict[str, object]]:
    return [
        {"user_id": f"u{i % 7}", "feature_time": T0 + timedelta(minutes=23 * i), "n": i + shift, "amount": i / 4}
        for i in range(n)
    ]


def _sorted(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(table[c].to_pylist() for c in ("user_id", "feature_time", "n", "amount")), strict=True))


def test_s3_offline_store_writes_and_reads_the_layout(s3_cfg: Config, moto: MotoS3) -> None:
    assert s3_cfg.offline_location.startswith(f"s3://{BUCKET}/")
    assert read_view(s3_cfg, VIEW).num_rows == 0
    written = write_rows(s3_cfg, VIEW, _rows(200))
    assert all(f.startswith(f"s3://{BUCKET}/") and "/default/clicks/v1/date=" in f for f in written)
    expected = sorted((r["user_id"], r["feature_time"], r["n"], r["amount"]) for r in _rows(200))
    assert _sorted(read_view(s3_cfg, VIEW)) == expected
    days = sorted({r["feature_time"].date() for r in _rows(200)})  # type: ignore[attr-defined]
    assert layout.partition_dates(s3_cfg, VIEW) == days and len(days) == 5
    keys = moto.keys(BUCKET, s3_cfg.offline_location.split(f"{BUCKET}/", 1)[1])
    assert keys and all("/date=2024-03-0" in k for k in keys)
    late = [d for d in days if d >= date(2024, 3, 4)]
    assert read_view(s3_cfg, VIEW, start=date(2024, 3, 4)).num_rows == len(
        [r for r in _rows(200) if r["feature_time"].date() in late]  # type: ignore[attr-defined]
    )


def test_training_set_from_s3_equals_the_same_from_local(s3_cfg: Config, local_cfg: Config) -> None:
    for cfg in (s3_cfg, local_cfg):
        write_rows(cfg, VIEW, _rows(300))
        write_rows(cfg, VIEW, _rows(40, shift=1000)[::3], replace=True)  # one partition replaced
    labels = pd.DataFrame(
        {
            "user_id": [f"u{i % 9}" for i in range(120)],
            "event_timestamp": [T0 + timedelta(minutes=37 * i) for i in range(120)],
        }
    )
    sets = [
        build_training_set(cfg, labels, features=["clicks:n", "clicks:amount"], views=[VIEW]).to_pandas()
        for cfg in (s3_cfg, local_cfg)
    ]
    pd.testing.assert_frame_equal(sets[0], sets[1])
    assert sets[0]["n"].notna().all() and (sets[0]["n"] >= 1000).any()


def test_flink_style_files_on_s3_are_read_when_visible(s3_cfg: Config) -> None:
    part = partition_dir(s3_cfg, VIEW, "2024-03-01")
    fs, root = storage.filesystem(s3_cfg.s3, part)
    table = pa.table(
        {"user_id": ["a"], "feature_time": pa.array([datetime(2024, 3, 1, 10)], pa.timestamp("ms")), "n": [5]}
    )
    pq.write_table(table, f"{root}/part-0-0", filesystem=fs, use_deprecated_int96_timestamps=True)
    pq.write_table(table.set_column(2, "n", pa.array([99])), f"{root}/.part-0-1.inprogress", filesystem=fs)
    storage.write_bytes(s3_cfg.s3, storage.join(part, "_SUCCESS"), b"")
    assert read_view(s3_cfg, VIEW)["n"].to_pylist() == [5]
    labels = pa.table({"user_id": ["a"], "event_timestamp": pa.array([datetime(2024, 3, 1, 11)], pa.timestamp("us"))})
    df = build_training_set(s3_cfg, labels, features=["clicks:n", "clicks:amount"], views=[VIEW]).to_pandas()
    assert df["n"].tolist() == [5] and df["amount"].isna().all()  # a column the file lacks reads as NULL


class Crash(Exception):
    """The injected crash."""


@pytest.mark.parametrize("where", ["local", "s3"])
def test_partition_replace_is_atomic_under_a_crash(
    where: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg: Config = request.getfixturevalue("local_cfg" if where == "local" else "s3_cfg")
    old = [{"user_id": "a", "feature_time": T0, "n": 1, "amount": 1.0}]
    new = [{"user_id": "b", "feature_time": T0 + timedelta(minutes=1), "n": 2, "amount": 2.0}]
    write_rows(cfg, VIEW, old)  # a partition without a manifest, as the streaming sink leaves it
    part = partition_dir(cfg, VIEW, T0.date())

    def users() -> list[str]:
        table = read_view(cfg, VIEW)
        return sorted(table["user_id"].to_pylist()) if table.num_rows else []

    publish = swap._publish
    calls: list[dict[str, Any]] = []

    def crash_before_new_manifest(s3: object, location: str, doc: dict[str, Any]) -> None:
        calls.append(doc)
        if len(calls) == 2:  # 1st: begin (freeze the old list); 2nd: commit the new one
            raise Crash
        publish(s3, location, doc)  # type: ignore[arg-type]

    monkeypatch.setattr(swap, "_publish", crash_before_new_manifest)
    with pytest.raises(Crash):
        write_rows(cfg, VIEW, new, replace=True)
    assert users() == ["a"]  # the new file exists but is not read: the old partition stays
    assert len([e for e in storage.list_files(cfg.s3, part) if e.name != MANIFEST]) == 2
    monkeypatch.setattr(swap, "_publish", publish)
    assert layout.repair(cfg, VIEW) == [T0.date()]  # rolled back: the staged file is gone
    assert users() == ["a"] and [e.name for e in storage.list_files(cfg.s3, part) if e.name == MANIFEST] == []
    assert len(storage.list_files(cfg.s3, part)) == 1

    delete = storage.delete

    def crash_before_delete(s3: object, locations: list[str]) -> None:
        raise Crash

    monkeypatch.setattr(storage, "delete", crash_before_delete)
    with pytest.raises(Crash):
        write_rows(cfg, VIEW, new, replace=True)
    assert users() == ["b"]  # the manifest is committed: exactly the new partition
    manifest = json.loads(storage.read_bytes(cfg.s3, storage.join(part, MANIFEST)))
    assert manifest["state"] == "committed" and len(manifest["files"]) == 1 and len(manifest["replaced"]) == 1

    monkeypatch.setattr(storage, "delete", delete)
    write_rows(cfg, VIEW, new, replace=True)  # recovers (finishes the last swap), then swaps again
    assert users() == ["b"]
    left = [e.name for e in storage.list_files(cfg.s3, part)]
    assert len(left) == 1 and left[0].startswith("part-") and MANIFEST not in left  # exactly what is read

    write_rows(cfg, VIEW, old)  # an append to a partition adds one visible file
    assert users() == ["a", "b"]
    assert len(data_files(cfg, VIEW)) == 2
    delete_partitions(cfg, VIEW, [T0.date()])
    assert users() == [] and storage.list_files(cfg.s3, part) == []


def test_registry_on_s3_round_trips_and_a_stale_apply_merges_instead_of_losing(s3_cfg: Config, tmp_path: Path) -> None:
    cfg = s3_cfg.model_copy(update={"registry_path": f"s3://{BUCKET}/{tmp_path.name}/registry.json"})
    assert cfg.registry_location == f"s3://{BUCKET}/{tmp_path.name}/registry.json"
    first = Registry.open(cfg)
    second = Registry.open(cfg)
    assert first.views() == [] and first.revision == 0
    assert first.save(views=[VIEW]) == 1
    assert Registry.open(cfg).get_view("default", "clicks", 1).features == VIEW.features
    v2 = make_view("clicks", ["user_id"], {"n": "BIGINT"}, version=2)
    # `second` read revision 0; its save reads what is stored now and merges: v1 is not lost
    assert second.save(views=[v2]) == 2
    assert {v.version for v in second.views()} == {1, 2}
    assert first.reload() and {v.version for v in first.views()} == {1, 2}
    assert not first.reload()  # unchanged: nothing re-read


def test_backfill_inputs_are_read_from_s3(s3_cfg: Config, tmp_path: Path) -> None:
    prefix = f"s3://{BUCKET}/{tmp_path.name}/events"
    lines = b"".join(
        json.dumps({"event_id": f"e{i}", "user_id": "u", "ts": 1000 * i}).encode() + b"\n" for i in range(5)
    )
    storage.write_bytes(s3_cfg.s3, storage.join(prefix, "a.jsonl"), lines)
    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "user_id": ["u", "v"],
            "ts": pa.array([datetime(2024, 1, 1)] * 2, pa.timestamp("ms")),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(s3_cfg.s3, storage.join(prefix, "day=1/b.parquet"), sink.getvalue().to_pybytes())
    storage.write_bytes(s3_cfg.s3, storage.join(prefix, "_SUCCESS"), b"")
    assert stage_events(s3_cfg.s3, SOURCE, prefix, tmp_path / "staged") == 7
    staged = [json.loads(x) for x in (tmp_path / "staged" / "events.jsonl").read_text().splitlines()]
    assert {e["event_id"] for e in staged} == {"e0", "e1", "e2", "e3", "e4", "p1", "p2"}
    assert stage_events(s3_cfg.s3, SOURCE, storage.join(prefix, "a.jsonl"), tmp_path / "one") == 5


@pytest.mark.parametrize("where", ["local", "s3"])
def test_backfill_swaps_the_jobs_partitions_in_under_the_commit_rule(
    where: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The backfill's swap, with a stand-in for the Flink batch job (it writes the job's output
    layout where the compiled job would): on S3 the job's input and output live under the offline
    store's hidden ``_backfill`` prefix (a remote cluster reaches them), locally in the state folder."""
    from featurestream.jobs import backfill as bf
    from featurestream.jobs import compiler, flink

    cfg: Config = request.getfixturevalue("local_cfg" if where == "local" else "s3_cfg")
    write_rows(cfg, VIEW, [{"user_id": "old", "feature_time": T0, "n": 1, "amount": 1.0}])
    write_rows(cfg, VIEW, [{"user_id": "kept", "feature_time": T0 - timedelta(days=3), "n": 1, "amount": 1.0}])
    paths: dict[str, str] = {}

    def fake_compile(view: object, source: object, config: Config, **kw: str) -> dict[str, str]:
        paths.update(kw)
        return {"mode": "batch"}

    def fake_submit(self: object, spec: object) -> str:
        assert paths["input_path"].startswith("s3://" if where == "s3" else "file://")
        out = paths["output_path"].removeprefix("file://")
        table = pa.table({"user_id": ["new"], "feature_time": pa.array([T0], pa.timestamp("ms")), "n": [7]})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        storage.write_bytes(cfg.s3, storage.join(out, f"date={T0.date()}", "part-0-0"), sink.getvalue().to_pybytes())
        storage.write_bytes(cfg.s3, storage.join(out, f"date={T0.date()}", "_SUCCESS"), b"")
        dead = paths["dead_letter_path"].removeprefix("file://")
        storage.write_bytes(cfg.s3, storage.join(dead, "dead", "part-1"), b'{"payload": "x"}\n{"payload": "y"}\n')
        return "job-1"

    def fake_wait(self: object, job_id: str, *, on_progress: Any, timeout: float) -> flink.JobProgress:
        done = flink.JobProgress(job_id, "backfill", "FINISHED", 2.0, 1, 1, 2, 2)
        on_progress(done)
        return done

    monkeypatch.setattr(compiler, "compile_batch_job", fake_compile)
    monkeypatch.setattr(flink.FlinkClient, "submit", fake_submit)
    monkeypatch.setattr(flink.FlinkClient, "wait_until_done", fake_wait)
    monkeypatch.setattr(flink.FlinkClient, "jobs", lambda self: [])  # no streaming job of the view runs
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"event_id": "e", "user_id": "new", "ts": 1}) + "\n")
    polls: list[tuple[str, int, int]] = []
    result = bf.backfill(
        cfg, VIEW, SOURCE, events, progress=lambda p, total: polls.append((p.state, p.records_read, total))
    )
    assert polls == [("FINISHED", 1, 1)]  # each poll of the job, with the staged events as the total
    assert (result.input_events, result.dead_letters, result.replaced) == (1, 2, [f"date={T0.date()}"])
    table = read_view(cfg, VIEW)
    assert sorted(zip(table["user_id"].to_pylist(), table["n"].to_pylist(), strict=True)) == [("kept", 1), ("new", 7)]
    assert result.partitions == [str(T0.date() - timedelta(days=3)), str(T0.date())]
    if where == "s3":
        assert paths["output_path"].startswith(storage.join(cfg.offline_location, "_backfill"))
        left = storage.list_files(cfg.s3, storage.join(cfg.offline_location, "_backfill"), recursive=True)
        assert not [e for e in left if "/input/" in e.location or e.name.startswith("part-0")]


def test_serving_catalog_follows_an_s3_registry_off_the_request_path(s3_cfg: Config, tmp_path: Path) -> None:
    import time

    from featurestream.api.catalog import Catalog
    from featurestream.ondemand import OnDemandRegistry

    cfg = s3_cfg.model_copy(update={"registry_path": f"s3://{BUCKET}/{tmp_path.name}/catalog/registry.json"})
    Registry.open(cfg).save(views=[VIEW])
    catalog = Catalog(Registry.open(cfg), OnDemandRegistry(), check_interval_s=0)
    assert catalog.registry.remote and catalog.revision == 1
    Registry.open(cfg).save(views=[make_view("clicks", ["user_id"], {"n": "BIGINT"}, version=2)])
    deadline = time.monotonic() + 60
    while catalog.revision != 2 and time.monotonic() < deadline:
        catalog.maybe_refresh()  # returns at once; the check runs in a background thread
        time.sleep(0.05)
    assert catalog.revision == 2
    assert {v.version for v in catalog.registry.views()} == {1, 2}


def test_errors_name_the_location_never_the_credentials(s3_cfg: Config) -> None:
    with pytest.raises(storage.StorageError) as err:
        storage.write_bytes(s3_cfg.s3, "s3://no-such-bucket-fs/x.json", b"{}")
    text = f"{err.value} {err.value.hint}"
    assert "s3://no-such-bucket-fs/x.json" in text and "AWS_" in text
    assert all(secret not in text for secret in TEST_CREDENTIALS.values())
