"""The offline partition swap under a crash at every step, on a local disk (the process SIGKILLed)
and on S3 (moto; the crash raised in-process), its recovery rule, and the live-stream rule that
keeps a backfill off the days the streaming job still writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream import storage
from featurestream.config import Config, load_config
from featurestream.jobs import backfill as backfill_mod
from featurestream.jobs.flink import FlinkClient
from featurestream.offline import layout, swap
from featurestream.offline.errors import OfflineError
from featurestream.offline.swap import MANIFEST, PartitionInUseError, StreamFrontier
from tests.support import swap_crash as sc
from tests.support.remote_cluster import MotoS3
from tests.support.s3 import TEST_CREDENTIALS, moto_s3_with_credentials, s3_config
from tests.support.views import clicks_source

REPO = Path(__file__).resolve().parents[2]
BUCKET = "fs-swap"
MAX_STEPS = 40


def _files(config: Config) -> list[str]:
    """Names in the partition folder (hidden and marker files included), sorted."""
    return sorted(e.name for e in storage.list_files(config.s3, layout.partition_dir(config, sc.VIEW, sc.DAY)))


def _markers(config: Config) -> list[str]:
    return [n for n in _files(config) if not swap.visible(n)]


def _check_recovered(config: Config, seen: list[tuple[str, int]], markers: list[str]) -> None:
    """After recovery the readers see ``seen`` still, the folder holds exactly the files they read
    (plus the stream's markers and pending file), and no manifest."""
    assert sc.served(config) == seen
    read = sorted(f.rsplit("/", 1)[-1] for f in layout.partition_files(config, sc.VIEW, sc.DAY))
    assert _files(config) == sorted([*read, *markers])
    assert MANIFEST not in _files(config)


def _after_crash(config: Config, scenario: str, k: int, repair_first: bool) -> str:
    """Check one crashed swap: old or new rows exactly, then recovery and the next swap complete."""
    old, new = sc.old_rows(scenario), sc.new_rows(scenario)
    seen = sc.served(config)
    assert seen in (old, new), f"{scenario}: killed before mutation {k}, the readers see {seen}"
    markers = [m for m in _markers(config) if m in ("_SUCCESS", sc.IN_PROGRESS)]  # the stream's, kept
    if repair_first:
        layout.repair(config, sc.VIEW)
        _check_recovered(config, seen, markers)
    sc.stage_new(config, generation=2)  # the next backfill of the day
    sc.run_swap(config, "stream-day")
    _check_recovered(config, sc.new_rows(scenario, generation=2), markers)
    return "old" if seen == old and seen != new else "new"


# --------------------------------------------------------------------------- local disk, SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sc.SCENARIOS)
def test_a_swap_killed_before_any_storage_mutation_leaves_old_or_new_rows_on_disk(
    scenario: str, tmp_path: Path
) -> None:
    sides: list[str] = []
    for k in range(MAX_STEPS):
        root = tmp_path / f"k{k}"
        config = load_config(root, env={})
        sc.prepare(config, scenario)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.support.swap_crash", str(root), scenario, str(k)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:  # k is past the last mutation: the swap ran to its end
            assert sc.served(config) == sc.new_rows(scenario)
            _check_recovered(config, sc.new_rows(scenario), _markers(config))
            break
        assert proc.returncode == -9, proc.stderr[-2000:]
        if sc.IN_PROGRESS not in _files(config) and scenario != "empty-day":
            pytest.fail(f"{scenario}: the stream's pending file was deleted (killed before mutation {k})")
        sides.append(_after_crash(config, scenario, k, repair_first=k % 2 == 0))
        shutil.rmtree(root)
    else:
        pytest.fail(f"{scenario}: the swap did not finish within {MAX_STEPS} storage mutations")
    assert "old" in sides and ("new" in sides or scenario == "delete"), sides  # kills landed on both sides


# --------------------------------------------------------------------------- S3 (moto), in-process


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_s3_with_credentials(tmp_path_factory.mktemp("moto"), (BUCKET,)) as store:
        yield store


def _s3_config(moto: MotoS3, root: Path, name: str) -> Config:
    return Config(root=root, offline={"path": f"s3://{BUCKET}/{name}/offline"}, s3=s3_config(moto))


def _die() -> None:
    raise sc.Killed


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sc.SCENARIOS)
def test_a_swap_crashed_at_each_storage_mutation_leaves_old_or_new_rows_on_s3(
    scenario: str, moto: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    sides: list[str] = []
    for k in range(MAX_STEPS):
        config = _s3_config(moto, tmp_path, f"{tmp_path.name}-{scenario}-{k}")
        sc.prepare(config, scenario)
        try:
            with sc.armed(k, _die):
                sc.run_swap(config, scenario)
        except sc.Killed:
            sides.append(_after_crash(config, scenario, k, repair_first=k % 2 == 1))
            continue
        assert sc.served(config) == sc.new_rows(scenario)
        _check_recovered(config, sc.new_rows(scenario), _markers(config))
        break
    else:
        pytest.fail(f"{scenario}: the swap did not finish within {MAX_STEPS} storage mutations")
    assert "old" in sides and ("new" in sides or scenario == "delete"), sides


# --------------------------------------------------------------------------- the recovery rule


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


def test_a_failing_write_rolls_back_at_once(config: Config) -> None:
    sc.prepare(config, "stream-day")
    before = _files(config)

    def half(target: str, prefix: str) -> list[str]:
        storage.write_bytes(config.s3, storage.join(target, f"{prefix}one.parquet"), b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        layout.replace_partition(config, sc.VIEW, sc.DAY, half)
    assert _files(config) == before and sc.served(config) == sc.old_rows("stream-day")


def test_new_files_must_carry_the_swap_prefix(config: Config) -> None:
    sc.prepare(config, "stream-day")
    before = _files(config)

    def unnamed(target: str, prefix: str) -> list[str]:
        storage.write_bytes(config.s3, storage.join(target, "mine.parquet"), b"x")
        return ["mine.parquet"]

    with pytest.raises(OfflineError, match="starting with 'part-"):
        layout.replace_partition(config, sc.VIEW, sc.DAY, unnamed)
    # the misnamed file is not the swap's: rollback leaves it (visible, so the day reads it)
    assert _files(config) == sorted([*before, "mine.parquet"])
    assert MANIFEST not in _files(config)


def test_recovery_keeps_files_another_writer_added_during_the_swap(config: Config) -> None:
    sc.prepare(config, "stream-day")
    part = layout.partition_dir(config, sc.VIEW, sc.DAY)
    with pytest.raises(sc.Killed), sc.armed(2, _die):  # killed after begin and the first staged file
        sc.run_swap(config, "stream-day")
    assert sc.served(config) == sc.old_rows("stream-day")
    foreign = "part-flinkcommitted-0-9.parquet"
    shutil.copyfile(layout.partition_files(config, sc.VIEW, sc.DAY)[0], Path(part, foreign))
    assert sc.served(config) == sc.old_rows("stream-day")  # unlisted while the manifest stands
    assert layout.repair(config, sc.VIEW) == [sc.DAY]
    assert foreign in _files(config)  # rolled back, but the other writer's file is kept and now read
    assert len(sc.served(config)) > len(sc.old_rows("stream-day"))
    assert layout.repair(config, sc.VIEW) == []  # nothing left to recover


def test_a_manifest_of_an_earlier_release_is_resolved_to_what_it_lists(config: Config) -> None:
    sc.prepare(config, "stream-day")
    part = layout.partition_dir(config, sc.VIEW, sc.DAY)
    files = [n for n in _files(config) if swap.visible(n)]
    storage.write_bytes(config.s3, storage.join(part, MANIFEST), json.dumps({"format": 1, "files": files[:1]}).encode())
    seen = sc.served(config)
    assert 0 < len(seen) < len(sc.old_rows("stream-day"))
    assert layout.repair(config, sc.VIEW) == [sc.DAY]
    assert sc.served(config) == seen and [n for n in _files(config) if swap.visible(n)] == files[:1]


def test_a_commit_refuses_when_another_writer_took_the_partition_over(config: Config) -> None:
    sc.prepare(config, "stream-day")
    part = layout.partition_dir(config, sc.VIEW, sc.DAY)

    def racing(target: str, prefix: str) -> list[str]:
        swap.recover(config.s3, part)  # another writer, believing this swap dead, rolls it back
        return []

    with pytest.raises(OfflineError, match="another writer took over"):
        layout.replace_partition(config, sc.VIEW, sc.DAY, racing)
    assert sc.served(config) == sc.old_rows("stream-day")


def test_an_append_recovers_the_partition_first(config: Config) -> None:
    sc.prepare(config, "empty-day")
    with pytest.raises(sc.Killed), sc.armed(3, _die):  # begin, two files staged: killed before commit
        sc.run_swap(config, "empty-day")
    assert sc.served(config) == []
    layout.write_rows(config, sc.VIEW, [{"user_id": "late", "feature_time": sc.T0, "n": 7}])
    assert sc.served(config) == [("late", 7)]
    assert MANIFEST not in _files(config)


# --------------------------------------------------------------------------- the live stream


SOURCE = clicks_source()


def test_the_open_day_is_the_watermark_day_less_the_horizon() -> None:
    late = StreamFrontier("j", datetime(2024, 3, 5, 10, 0, tzinfo=UTC), timedelta(minutes=15))
    assert late.open_day == date(2024, 3, 5)
    assert not late.is_open(date(2024, 3, 4)) and late.is_open(date(2024, 3, 5)) and late.is_open(date(2024, 3, 9))
    just_past_midnight = StreamFrontier("j", datetime(2024, 3, 5, 0, 10, tzinfo=UTC), timedelta(minutes=15))
    assert just_past_midnight.open_day == date(2024, 3, 4)  # rows of the 4th may still be in flight
    late.check("clicks@1", [date(2024, 3, 1), date(2024, 3, 4)], what="the window")
    with pytest.raises(PartitionInUseError) as err:
        late.check("clicks@1", [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)], what="the window [a, b)")
    text = str(err.value)
    assert "2024-03-05, 2024-03-06" in text and "2024-03-04" not in text.split("open)")[0].split("replace")[1]
    assert "--end 2024-03-05" in text and "jobs cancel clicks@1" in text
    unknown = StreamFrontier("j", None, timedelta(minutes=15))
    assert unknown.open_day is None and unknown.is_open(date(2000, 1, 1))
    with pytest.raises(PartitionInUseError, match="no watermark yet"):
        unknown.check("clicks@1", [date(2000, 1, 1)], what="the window")


class _Rest:
    """Stand-in answers of Flink's REST API: a job overview and the watermarks of one vertex."""

    def __init__(self, jobs: list[dict[str, str]], watermark_ms: int | None) -> None:
        self.jobs, self.watermark_ms = jobs, watermark_ms

    def __call__(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        assert method == "GET", f"unexpected {method} {path}"
        if path == "/jobs/overview":
            return {"jobs": self.jobs}
        if path.endswith("/watermarks"):
            value = str(self.watermark_ms) if self.watermark_ms is not None else "-9223372036854775808"
            return [{"id": "0.currentInputWatermark", "value": value}]
        return {"vertices": [{"id": "v1", "name": "Window"}]}


class _Submitted(Exception):
    """The stand-in submit: the backfill got as far as running its batch job."""


def _flink(monkeypatch: pytest.MonkeyPatch, rest: _Rest) -> None:
    monkeypatch.setattr(FlinkClient, "_request", lambda self, *a, **kw: rest(*a, **kw))


def test_live_stream_reads_the_running_job_of_the_view(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    view = sc.VIEW
    wm = int(datetime(2024, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)
    name = backfill_mod.job_name(view)
    _flink(monkeypatch, _Rest([{"jid": "a", "name": name, "state": "CANCELED"}], wm))
    assert backfill_mod.live_stream(FlinkClient(config), view, SOURCE) is None
    _flink(monkeypatch, _Rest([{"jid": "b", "name": name + "-backfill", "state": "RUNNING"}], wm))
    assert backfill_mod.live_stream(FlinkClient(config), view, SOURCE) is None
    _flink(monkeypatch, _Rest([{"jid": "c", "name": name, "state": "RUNNING"}], wm))
    frontier = backfill_mod.live_stream(FlinkClient(config), view, SOURCE)
    assert frontier is not None and frontier.open_day == date(2024, 3, 5) and frontier.job == name
    monkeypatch.setattr(backfill_mod, "WATERMARK_FETCH_S", 0.0)  # asked again for 12 s before it is believed
    _flink(monkeypatch, _Rest([{"jid": "c", "name": name, "state": "RUNNING"}], None))
    frontier = backfill_mod.live_stream(FlinkClient(config), view, SOURCE)
    assert frontier is not None and frontier.open_day is None


def test_live_stream_waits_for_flinks_metric_cache(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flink's REST answers watermarks from a cache refreshed in the background: the first answers
    about a job may be empty although the job has a watermark. Those are asked again, not believed."""
    wm = int(datetime(2024, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)
    rest = _Rest([{"jid": "c", "name": backfill_mod.job_name(sc.VIEW), "state": "RUNNING"}], wm)
    answers: Iterator[list[Any] | None] = iter([[], [], None])  # twice an empty cache, then the real answer

    def request(method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        if path.endswith("/watermarks"):
            got = next(answers, None)
            if got is not None:
                return got
        return rest(method, path, body, timeout)

    monkeypatch.setattr(FlinkClient, "_request", lambda self, *a, **kw: request(*a, **kw))
    monkeypatch.setattr(backfill_mod.time, "sleep", lambda s: None)
    frontier = backfill_mod.live_stream(FlinkClient(config), sc.VIEW, SOURCE)
    assert frontier is not None and frontier.open_day == date(2024, 3, 5)


@pytest.mark.parametrize(
    ("start", "end", "refused"),
    [
        (date(2024, 3, 1), date(2024, 3, 5), False),  # ends before the open day: runs (up to the submit)
        (date(2024, 3, 1), date(2024, 3, 6), True),  # includes the 5th
        (date(2024, 3, 6), None, True),  # open-ended: every later day
        (None, date(2024, 3, 7), True),
    ],
)
def test_a_backfill_window_reaching_the_streams_open_days_is_refused_before_anything_runs(
    config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, start: date | None, end: date | None, refused: bool
) -> None:
    wm = int(datetime(2024, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)
    rest = _Rest([{"jid": "c", "name": backfill_mod.job_name(sc.VIEW), "state": "RUNNING"}], wm)
    _flink(monkeypatch, rest)
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1", "user_id": "u", "ts": 1709290000000}\n')
    submitted: list[dict[str, Any]] = []

    def submit(self: FlinkClient, spec: dict[str, Any]) -> str:
        submitted.append(spec)
        raise _Submitted

    monkeypatch.setattr(FlinkClient, "submit", submit)
    monkeypatch.setattr("featurestream.jobs.compiler.compile_batch_job", lambda *a, **kw: {"mode": "batch"})
    if refused:
        with pytest.raises(PartitionInUseError, match="still writes"):
            backfill_mod.backfill(config, sc.VIEW, SOURCE, events, start=start, end=end)
        assert not (config.state_path / "backfill").exists()  # nothing staged
    else:
        with pytest.raises(_Submitted):
            backfill_mod.backfill(config, sc.VIEW, SOURCE, events, start=start, end=end)
    assert len(submitted) == (0 if refused else 1)


def test_days_produced_while_a_stream_started_are_not_swapped(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unbounded backfill learns its days from the job's output: checked before the first swap."""
    sc.prepare(config, "stream-day")
    before = sc.served(config)
    name = backfill_mod.job_name(sc.VIEW)
    wm = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)
    overview: list[list[dict[str, str]]] = [[], [{"jid": "s", "name": name, "state": "RUNNING"}]]

    def submit(self: FlinkClient, spec: dict[str, Any]) -> str:
        out = Path(spec["output"][len("file://") :], f"date={sc.DAY.isoformat()}")
        out.mkdir(parents=True)
        shutil.copyfile(layout.partition_files(config, sc.VIEW, sc.DAY)[0], out / "part-0-0.parquet")
        return "batch"

    def request(method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        if path == "/jobs/overview":
            return {"jobs": overview.pop(0) if len(overview) > 1 else overview[0]}
        if path.endswith("/watermarks"):
            return [{"id": "0.currentInputWatermark", "value": str(wm)}]
        return {"vertices": [{"id": "v1"}]}

    monkeypatch.setattr(FlinkClient, "_request", lambda self, *a, **kw: request(*a, **kw))
    monkeypatch.setattr(FlinkClient, "submit", submit)
    monkeypatch.setattr(FlinkClient, "wait_until_done", lambda self, *a, **kw: None)
    monkeypatch.setattr(
        "featurestream.jobs.compiler.compile_batch_job",
        lambda view, source, cfg, **kw: {"mode": "batch", "output": kw["output_path"]},
    )
    events = config.root / "events.jsonl"
    events.write_text('{"event_id": "e1", "user_id": "u", "ts": 1709290000000}\n')
    with pytest.raises(PartitionInUseError, match=r"the partition of 2024-03-01, which the live streaming job"):
        backfill_mod.backfill(config, sc.VIEW, SOURCE, events)
    assert sc.served(config) == before and MANIFEST not in _files(config)


def test_the_repair_command_completes_interrupted_swaps(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """``featurestream repair`` finishes what a killed backfill left, for every registered view."""
    from click.testing import CliRunner

    from featurestream.cli.main import main
    from featurestream.registry import Registry

    monkeypatch.chdir(config.root)
    (Path(config.root) / "featurestream.yaml").write_text("")
    Registry.open(config).save(views=[sc.VIEW])
    sc.prepare(config, "stream-day")
    with pytest.raises(sc.Killed), sc.armed(2, _die):  # killed after begin and the first staged file
        sc.run_swap(config, "stream-day")
    assert MANIFEST in _files(config)
    runner = CliRunner()
    out = runner.invoke(main, ["--repo", str(config.root), "repair"])
    assert out.exit_code == 0, out.output
    assert f"{sc.VIEW.ref}: completed interrupted swaps of {sc.DAY}" in out.output
    assert MANIFEST not in _files(config) and sc.served(config) == sc.old_rows("stream-day")
    again = runner.invoke(main, ["--repo", str(config.root), "repair", sc.VIEW.name, "--json"])
    assert again.exit_code == 0 and json.loads(again.output) == {sc.VIEW.ref: []}
