"""``featurestream init`` scaffolds a repo that Flink's own planner accepts as is, with an on-demand
function that loads and computes."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestream.apply import plan
from featurestream.config import load_config
from featurestream.ondemand import load_udfs
from featurestream.scaffold import SCAFFOLD, ScaffoldError, init_repo

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_scaffold_plans_without_problems(tmp_path: Path) -> None:
    from featurestream.jobs.planner import FlinkPlanner

    init_repo(tmp_path / "shop")
    config = load_config(tmp_path / "shop", env={})
    assert config.project == "shop"
    result = plan(config, planner=FlinkPlanner(load_config(REPO)))
    assert result.problems == []
    assert {v.ref: v.window for v in result.new_views} == {
        "customer_orders_1h@1": "TUMBLE",
        "customer_last_order@1": None,
    }
    assert [s.name for s in result.new_sources] == ["orders"]
    assert [f"{s.name}@{s.version}" for s in result.services] == ["churn_model@1"]
    last = next(v for v in result.new_views if v.name == "customer_last_order")
    assert [(f.name, f.dtype.split()[0]) for f in last.features] == [("last_amount", "DOUBLE"), ("last_items", "INT")]

    fn = load_udfs(config).get("amount_over_hourly_spend")
    assert fn.func(30.0, 120.0) == 0.25 and fn.func(30.0, 0.0) == 0.0


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine")
    with pytest.raises(ScaffoldError, match=r"found README\.md"):
        init_repo(tmp_path)
    assert (tmp_path / "README.md").read_text() == "mine"
    assert not (tmp_path / "featurestream.yaml").exists()  # nothing half-written
    assert len(SCAFFOLD) == 7


def test_plan_without_the_jars_says_run_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No jars resolved yet (an empty per-user cache): the fix, not Flink's "no factory for identifier 'kafka'"."""
    from featurestream.errors import StackError
    from featurestream.jobs.planner import FlinkPlanner

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    init_repo(tmp_path / "shop")
    with pytest.raises(StackError, match=r"found none\n  fix: run `featurestream setup`"):
        FlinkPlanner(load_config(tmp_path / "shop", env={}))


def test_a_misspelt_column_gets_a_did_you_mean(tmp_path: Path) -> None:
    from featurestream.jobs.planner import FlinkPlanner

    init_repo(tmp_path / "shop")
    view = tmp_path / "shop" / "sql" / "features" / "customer_orders_1h.sql"
    view.write_text(view.read_text().replace("SUM(amount)", "SUM(amout)"))
    result = plan(load_config(tmp_path / "shop", env={}), planner=FlinkPlanner(load_config(REPO)))
    (problem,) = result.problems
    assert "customer_orders_1h.sql:13" in problem and "amout" in problem  # Flink's message, file and line
    assert "fix: did you mean 'amount'?" in problem
