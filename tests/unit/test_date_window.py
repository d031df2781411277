"""One window rule for every --start/--end (issue 16 item 5): UTC dates [start, end), end exclusive,
whether given to the CLI's materialize, its backfill, or FeatureStore.materialize in Python."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featurestream.cli import main
from featurestream.cli.progress import Progress, format_seconds
from featurestream.config import load_config
from featurestream.dates import DateWindow
from featurestream.errors import FeatureStreamError
from featurestream.offline import write_rows
from featurestream.offline.layout import data_files
from featurestream.registry import Registry
from featurestream.store import FeatureStore
from tests.support.views import make_view

VIEW = make_view("v", ["k"], {"x": "DOUBLE"}, ttl=timedelta(days=30), defaults={"x": 0.0})
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def test_the_window_is_start_inclusive_end_exclusive() -> None:
    w = DateWindow(D1, D3)
    assert D1 in w and D2 in w and D3 not in w and date(2023, 12, 31) not in w
    assert w.last_day == D2 and DateWindow().last_day is None and not DateWindow().bounded
    assert DateWindow(None, D2).time_condition("`feature_time`") == "`feature_time` < TIMESTAMP '2024-01-02 00:00:00'"
    assert DateWindow(D1).time_condition("t") == "t >= TIMESTAMP '2024-01-01 00:00:00'"
    with pytest.raises(FeatureStreamError, match=r"end 2024-01-01 must be after start 2024-01-01.*exclusive"):
        DateWindow(D1, D1)


class _Marker:
    """The generation-marker calls materialize makes on the store's client (SET NX, GET)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set(self, key: str, value: str, nx: bool = False) -> None:
        if not (nx and key in self.values):
            self.values[key] = value

    def get(self, key: str) -> str | None:
        return self.values.get(key)


class _Recorder:
    """Stands in for the online store: records the rows materialize writes (as columns)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.client = _Marker()

    def write_rows(self, view: Any, rows: list[dict[str, Any]]) -> None:
        self.rows += rows

    def write_columns(self, view: Any, columns: dict[str, Any], *, fill: bool = False) -> None:
        lists = {k: (v.to_pylist() if hasattr(v, "to_pylist") else list(v)) for k, v in columns.items()}
        n = len(next(iter(lists.values()))) if lists else 0
        self.rows += [{k: col[i] for k, col in lists.items()} for i in range(n)]

    def close(self) -> None:
        pass


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, _Recorder]:
    cfg = load_config(tmp_path, env={})
    Registry.open(cfg).save(views=[VIEW])
    # every entity has a row at 12:00 of D1, D2 and D3 (x = the day of the month)
    rows = [
        {"k": f"e{n}", "feature_time": datetime(d.year, d.month, d.day, 12, tzinfo=UTC), "x": float(d.day)}
        for n in range(3)
        for d in (D1, D2, D3)
    ]
    write_rows(cfg, VIEW, rows)
    recorder = _Recorder()
    monkeypatch.setattr("featurestream.online.store.RedisOnlineStore.from_url", lambda url, ns: recorder)
    return tmp_path, recorder


def test_python_materialize_end_is_exclusive_like_the_cli(repo: tuple[Path, _Recorder]) -> None:
    root, recorder = repo
    store = FeatureStore(root)
    store.materialize("v", start=D1, end=D3)
    python_rows = sorted((r["k"], r["x"]) for r in recorder.rows)
    assert python_rows == [("e0", 2.0), ("e1", 2.0), ("e2", 2.0)]  # the latest row before D3: D2's

    recorder.rows.clear()
    result = CliRunner().invoke(
        main, ["-r", str(root), "materialize", "v", "--start", str(D1), "--end", str(D3), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert sorted((r["k"], r["x"]) for r in recorder.rows) == python_rows  # the same window, the same rows

    recorder.rows.clear()
    store.materialize("v", end=D2)  # only D1 is inside
    assert sorted(r["x"] for r in recorder.rows) == [1.0, 1.0, 1.0]
    assert len(data_files(store.config, VIEW, start=D2, end=D3)) == 1  # partitions pruned to [D2, D3)


def test_an_empty_window_is_refused_the_same_way_everywhere(repo: tuple[Path, _Recorder]) -> None:
    root, _ = repo
    with pytest.raises(FeatureStreamError, match="exclusive"):
        FeatureStore(root).materialize("v", start=D2, end=D2)
    result = CliRunner().invoke(main, ["-r", str(root), "materialize", "v", "--start", str(D2), "--end", str(D2)])
    assert result.exit_code == 1 and "exclusive" in result.output


def test_backfill_compiles_the_same_window_into_the_batch_job() -> None:
    from featurestream.jobs.compiler import compile_batch_job
    from tests.support.registry import demo_views
    from tests.support.views import txn_source

    view = next(v for v in demo_views() if v.name == "card_spend_1h")
    cfg = load_config(Path("."), env={})
    spec = compile_batch_job(
        view, txn_source(), cfg, input_path="file:///in", output_path="file:///out", dead_letter_path="file:///dl",
        start=D1, end=D3,
    )  # fmt: skip
    insert = spec["inserts"][0]
    assert DateWindow(D1, D3).time_condition("`feature_time`") in insert


# ---------------------------------------------------------------------------- the CLI's progress line


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_line_shows_rate_and_eta_and_logs_periodically_when_not_a_tty() -> None:
    clock, out = _Clock(), io.StringIO()
    bar = Progress("backfill v@1", unit="events", stream=out, clock=clock, log_every_s=10)
    clock.t += 10
    assert bar.line(2_500, 10_000) == (
        "backfill v@1  2,500/10,000 events (25%)  250 events/s  ETA 30s  elapsed 10s"
    )  # fmt: skip
    assert bar.line(50, None, "RUNNING", elapsed=5.0) == "backfill v@1  50 events  10 events/s  elapsed 5s  RUNNING"
    bar.update(1_000, 10_000)  # the first update is shown at once
    clock.t += 3
    bar.update(2_000, 10_000)  # within 10 s of the last line: not written to a log
    clock.t += 10
    bar.update(3_000, 10_000)
    bar.update(10_000, 10_000, "FINISHED", force=True)
    bar.close()  # the last state was already shown: nothing more
    lines = out.getvalue().splitlines()
    assert [ln.split("  ")[1] for ln in lines] == [
        "1,000/10,000 events (10%)",
        "3,000/10,000 events (30%)",
        "10,000/10,000 events (100%)",
    ]
    assert lines[-1].endswith("FINISHED") and "ETA" not in lines[-1]
    assert format_seconds(65) == "1m05s" and format_seconds(3720) == "1h02m"


def test_progress_is_silent_when_disabled() -> None:
    out = io.StringIO()
    bar = Progress("x", stream=out, enabled=False)
    bar.update(1, 2, force=True)
    bar.close()
    assert out.getvalue() == ""
