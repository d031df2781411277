"""The emit guard of a job started without state (issue 15 item 2, :mod:`featurestream.jobs.restore`):
the job writes only rows with ``feature_time`` after the newest one already stored (offline or
online), so its partial first windows never replace a correct row; the guard is one filter on the
rows view feeding both sinks, leaves the job-graph fingerprint unchanged, and is recorded with the
run so a resume from its state compiles the same graph again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from featurestream.config import Config, FlinkConfig
from featurestream.definitions import FeatureView, parse_source
from featurestream.jobs.compiler import compile_streaming_job, emit_guard_clause, without_emit_guard
from featurestream.jobs.control import JobManager
from featurestream.jobs.flink import Submitted
from featurestream.jobs.restore import EmitGuard, RunLog, choose, emit_guard, graph_fingerprint
from featurestream.naming import job_name
from featurestream.offline.layout import write_rows
from featurestream.online.keys import encode_row, key_pattern
from featurestream.online.store import RedisOnlineStore
from tests.support.registry import REPO_ROOT, demo_registry, demo_views

W = datetime(2026, 5, 1, 8, 29, tzinfo=UTC)


def _cfg(tmp_path: Path) -> Config:
    return Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        offline={"path": str(tmp_path / "offline")},  # type: ignore[arg-type]
        flink=FlinkConfig(rest_url="http://127.0.0.1:1", checkpoints_dir=str(tmp_path / "ckpt")),
    )


def _clicks() -> FeatureView:
    return next(v for v in demo_views() if v.name == "user_clicks_10m")


def _source(view: FeatureView) -> Any:
    (name,) = view.sources
    return parse_source((REPO_ROOT / "sql" / "sources" / f"{name}.sql").read_text())


def _rows_view(spec: dict[str, Any]) -> str:
    (stmt,) = [s for s in spec["statements"] if s.startswith("CREATE TEMPORARY VIEW fs_rows")]
    return str(stmt)


# ---------------------------------------------------------------------------- the compiled job


def test_the_guard_filters_the_rows_view_that_feeds_both_sinks(tmp_path: Path) -> None:
    view, cfg = _clicks(), _cfg(tmp_path)
    plain = compile_streaming_job(view, _source(view), cfg)
    guarded = compile_streaming_job(view, _source(view), cfg, emit_after=W + timedelta(milliseconds=250))
    assert "WHERE" not in _rows_view(plain).split(view.sql)[-1] and "emit_after" not in plain
    assert _rows_view(guarded).endswith(
        "\nWHERE /* featurestream emit guard */ "
        "CAST(`feature_time` AS TIMESTAMP(3)) > TIMESTAMP '2026-05-01 08:29:00.250'"
    )
    assert guarded["emit_after"] == "2026-05-01T08:29:00.250000+00:00"
    # nothing else changes, and both the offline and the online insert read the guarded rows view
    assert [without_emit_guard(s) for s in guarded["statements"]] == plain["statements"]
    assert guarded["inserts"] == plain["inserts"]
    sinks = [i for i in guarded["inserts"] if i.startswith(("INSERT INTO fs_offline", "INSERT INTO fs_online"))]
    assert len(sinks) == 2 and all("FROM fs_rows" in i for i in sinks)


def test_the_guard_is_utc_and_refuses_a_naive_time() -> None:
    paris = datetime(2026, 5, 1, 10, 29, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert "TIMESTAMP '2026-05-01 10:29:00.000'" in emit_guard_clause(paris)
    with pytest.raises(ValueError, match="timezone-aware"):
        emit_guard_clause(datetime(2026, 5, 1, 8, 29))


def test_the_guard_leaves_the_job_graph_fingerprint_unchanged(tmp_path: Path) -> None:
    view, cfg = _clicks(), _cfg(tmp_path)
    plain = graph_fingerprint(compile_streaming_job(view, _source(view), cfg))
    for after in (W, W + timedelta(days=3)):
        assert graph_fingerprint(compile_streaming_job(view, _source(view), cfg, emit_after=after)) == plain
    other = next(v for v in demo_views() if v.name == "card_spend_1h")
    assert graph_fingerprint(compile_streaming_job(other, _source(other), cfg)) != plain  # still a real digest


# ---------------------------------------------------------------------------- computing the guard


class _StandInOnline:
    """The two calls the guard makes of a RedisOnlineStore: SCAN the view's keys, read their rows."""

    def __init__(self, namespace: str, rows: dict[str, bytes]) -> None:
        self.namespace = namespace
        self.rows = rows
        self.client = self

    def scan_iter(self, match: str, count: int) -> list[str]:
        import fnmatch

        return [k for k in self.rows if fnmatch.fnmatchcase(k, match)]

    def read_rows(self, keys: list[str]) -> list[bytes | None]:
        return [self.rows.get(k) for k in keys]


def _online(view: FeatureView, fts: dict[str, datetime]) -> RedisOnlineStore:
    prefix = key_pattern(view.namespace, view.name, view.version).split("*")
    rows = {prefix[0] + e + prefix[1]: encode_row(int(t.timestamp() * 1000), 0, [1]) for e, t in fts.items()}
    # a key of another view version of the same namespace: never read
    rows["{" + view.namespace + ":u9}:" + view.name + ":" + str(view.version + 1)] = encode_row(9 * 10**12, 0, [1])
    return _StandInOnline(view.namespace, rows)  # type: ignore[return-value]


def _offline(cfg: Config, view: FeatureView, fts: list[datetime]) -> None:
    write_rows(
        cfg,
        view,
        [
            {"user_id": f"u{i}", "feature_time": t, "clicks_10m": 1, "amount_10m": 1.0, "distinct_items_10m": 1}
            for i, t in enumerate(fts)
        ],
    )


def test_no_stored_row_no_guard(tmp_path: Path) -> None:
    view, cfg = _clicks(), _cfg(tmp_path)
    assert emit_guard(cfg, view, _online(view, {})) is None


def test_the_guard_is_the_newest_feature_time_offline_or_online(tmp_path: Path) -> None:
    view, cfg = _clicks(), _cfg(tmp_path)
    _offline(cfg, view, [W - timedelta(days=1), W - timedelta(minutes=3), W - timedelta(minutes=9)])
    # offline only
    assert emit_guard(cfg, view, _online(view, {})) == EmitGuard(
        W - timedelta(minutes=3), W - timedelta(minutes=3), None
    )
    # online ahead of offline (Parquet commits on checkpoints): the online newest
    ahead = _online(view, {"u1": W - timedelta(minutes=20), "u2": W, "u3": W - timedelta(minutes=1)})
    guard = emit_guard(cfg, view, ahead)
    assert guard == EmitGuard(W, W - timedelta(minutes=3), W)
    assert "after 2026-05-01T08:29:00+00:00" in guard.describe() and "online only" in guard.describe()
    # online behind offline (expired keys): the offline newest
    behind = emit_guard(cfg, view, _online(view, {"u1": W - timedelta(hours=1)}))
    assert behind is not None and behind.after == W - timedelta(minutes=3)
    assert "online only" not in behind.describe()


# ---------------------------------------------------------------------------- recorded and re-applied


def test_the_guard_is_recorded_with_the_run_and_its_savepoint(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    log = RunLog(cfg)
    name = "featurestream-t-user_clicks_10m-v1"
    log.record_run(name, "job1", "g1", W)
    (tmp_path / "ckpt" / "job1" / "chk-3").mkdir(parents=True)
    (tmp_path / "ckpt" / "job1" / "chk-3" / "_metadata").write_bytes(b"meta")
    best, _ = choose(log.candidates(name), "g1")
    assert best is not None and best.kind == "checkpoint" and best.emit_after == W
    assert log.emit_after_of(name, "job1") == W
    sp = tmp_path / "sp" / "savepoint-1"
    sp.mkdir(parents=True)
    (sp / "_metadata").write_bytes(b"meta")
    log.record_savepoint(name, str(sp), "g1", log.emit_after_of(name, "job1"))
    assert {c.kind: c.emit_after for c in log.candidates(name)} == {"checkpoint": W, "savepoint": W}
    log.record_run(name, "job2", "g1")  # an unguarded run records none
    assert log.emit_after_of(name, "job2") is None


class _FakeFlink:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.specs: list[dict[str, Any]] = []

    def submit_many(self, specs: list[dict[str, Any]], *, restore: dict[str, str]) -> list[Submitted]:
        self.specs += specs
        return [Submitted(s["name"], f"{self.prefix}-{len(self.specs)}") for s in specs]

    def jobs(self) -> list[dict[str, str]]:
        return []


def _manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guard: EmitGuard | None, prefix: str = "id"
) -> tuple[JobManager, _FakeFlink]:
    monkeypatch.setattr("featurestream.stack.jars.require_jars", lambda *a: None)
    jm = JobManager(_cfg(tmp_path), registry=demo_registry(tmp_path / "registry.json"))
    fake = _FakeFlink(prefix)
    jm.flink = fake  # type: ignore[assignment]
    monkeypatch.setattr(jm, "running", lambda: {})
    monkeypatch.setattr(jm, "ensure_topics", lambda view, source: [])
    monkeypatch.setattr(jm, "_free_slots", lambda wanted: wanted)
    monkeypatch.setattr(jm, "source_of", _source)
    monkeypatch.setattr(jm, "mark_online_generation", lambda: "gen")
    computed: list[str] = []

    def stored(view: FeatureView) -> EmitGuard | None:
        computed.append(view.ref)
        return guard

    monkeypatch.setattr(jm, "emit_guard", stored)
    jm.computed = computed  # type: ignore[attr-defined]
    return jm, fake


def test_a_start_without_state_is_guarded_and_a_resume_keeps_the_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = _clicks()
    name = job_name(view)
    jm, fake = _manager(tmp_path, monkeypatch, EmitGuard(W, W - timedelta(minutes=1), W))
    jm.submit(view, fresh=True)
    assert jm.computed == [view.ref]  # type: ignore[attr-defined]
    assert jm.guards[name] == EmitGuard(W, W - timedelta(minutes=1), W)
    assert _rows_view(fake.specs[-1]).endswith(emit_guard_clause(W))
    graph = graph_fingerprint(compile_streaming_job(view, _source(view), jm.config))
    assert jm.log.graph_of(name, "id-1") == graph and jm.log.emit_after_of(name, "id-1") == W

    # the guarded run is lost; its checkpoint is of the same graph: the resume compiles the same guard
    chk = tmp_path / "ckpt" / "id-1" / "chk-5"
    chk.mkdir(parents=True)
    (chk / "_metadata").write_bytes(b"meta")
    jm2, fake2 = _manager(tmp_path, monkeypatch, EmitGuard(W + timedelta(hours=1), None, None), prefix="next")
    jm2.submit(view)
    assert jm2.restored_from[name] is not None and jm2.restored_from[name].path == str(chk)  # type: ignore[union-attr]
    assert jm2.computed == [] and jm2.guards[name] is None  # type: ignore[attr-defined]
    assert _rows_view(fake2.specs[-1]).endswith(emit_guard_clause(W))
    assert jm2.log.emit_after_of(name, "next-1") == W  # and recorded again for the next resume


def test_a_start_without_state_over_empty_stores_is_not_guarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = _clicks()
    jm, fake = _manager(tmp_path, monkeypatch, None)
    jm.submit(view)
    assert "emit guard" not in _rows_view(fake.specs[-1]) and "emit_after" not in fake.specs[-1]
    assert jm.guards[job_name(view)] is None
