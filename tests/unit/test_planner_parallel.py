"""Planning a batch of views over several TableEnvironments (``FlinkPlanner.plan_views``) gives exactly
what planning them one after the other gives: the same columns, the same errors with file, line and
hint, in the same order (issue 14 target 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurestream.apply import load_repo, plan
from featurestream.config import Config, load_config
from featurestream.definitions import Column
from featurestream.errors import DefinitionError

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

_BAD_COLUMN = 3  # positions of the broken views among the batch
_BAD_SQL = 7


def _view(i: int) -> str:
    source, key, value = ("clicks", "user_id", "amount") if i % 2 else ("transactions", "card_id", "amount")
    if i == _BAD_COLUMN:
        value = "amout"  # Flink: Column 'amout' not found; the hint offers 'amount'
    select = "SELECT" if i != _BAD_SQL else "SELECT SELECT"
    return (
        f"-- name: view_{i:02d}\n-- version: 1\n-- entities: {key}\n-- ttl: 1d\n"
        f"{select}\n    {key},\n    window_end AS feature_time,\n"
        f"    COUNT(*) * {i + 1} AS n,\n    SUM({value}) AS total,\n    MAX({value}) AS biggest\n"
        f"FROM TABLE(TUMBLE(TABLE {source}, DESCRIPTOR(event_time), INTERVAL '{i + 1}' MINUTE))\n"
        f"GROUP BY {key}, window_start, window_end\n"
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("batch")
    shutil.copytree(REPO / "sql" / "sources", root / "sql" / "sources")
    (root / "sql" / "features").mkdir()
    for i in range(10):
        (root / "sql" / "features" / f"view_{i:02d}.sql").write_text(_view(i))
    (root / "featurestream.yaml").write_text("namespace: t\nregistry_path: registry.json\n")
    return load_config(root, env={})


def _as_text(results: list[list[Column] | DefinitionError]) -> list[object]:
    return [str(r) if isinstance(r, DefinitionError) else r for r in results]


def test_parallel_planning_gives_the_sequential_results_in_order(repo: Config) -> None:
    from featurestream.jobs.planner import FlinkPlanner

    views = load_repo(repo).views
    sources = {s.name: s for s in load_repo(repo).sources}
    assert [v.name for v in views] == [f"view_{i:02d}" for i in range(10)]
    one_by_one = FlinkPlanner(load_config(REPO), workers=1)
    expected: list[list[Column] | DefinitionError] = []
    for v in views:
        try:
            for name in v.sources:
                one_by_one.register_source(sources[name], v)
            expected.append(one_by_one.output_columns(v))
        except DefinitionError as exc:
            expected.append(exc)

    parallel = FlinkPlanner(load_config(REPO), workers=2)
    got = parallel.plan_views(views, sources)
    assert len(parallel._lanes) == 1  # the batch was really spread over two sessions
    assert _as_text(got) == _as_text(expected)
    errors = [i for i, r in enumerate(got) if isinstance(r, DefinitionError)]
    assert errors == [_BAD_COLUMN, _BAD_SQL]
    bad_column, bad_sql = str(got[_BAD_COLUMN]), str(got[_BAD_SQL])
    assert "view_03.sql:9" in bad_column and "amout" in bad_column and "did you mean 'amount'" in bad_column
    assert "view_07.sql:5" in bad_sql and "Flink rejected the SQL" in bad_sql
    assert [c.name for c in got[0]] == ["card_id", "feature_time", "n", "total", "biggest"]  # type: ignore[union-attr]

    # the same problems, in the same order, through plan(); a second batch reuses the plans
    sequential = plan(repo, planner=FlinkPlanner(load_config(REPO), workers=1))  # one session: one view after the other
    spread = plan(repo, planner=parallel)
    assert spread.problems == sequential.problems and len(spread.problems) == 2
    assert [(v.ref, v.features) for v in spread.new_views] == [(v.ref, v.features) for v in sequential.new_views]
