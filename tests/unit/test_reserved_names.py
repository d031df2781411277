"""Reserved names (issue 15 item 13): a view that outputs a column the platform uses itself is
rejected at ``apply`` with its file and line, and nothing is registered."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from featurestream.apply import ApplyError, apply
from featurestream.columns import CREATED_AT, PARTITION_DATE
from featurestream.config import Config, load_config
from featurestream.definitions import Column, FeatureView, Source
from featurestream.online.keys import CREATED_FIELD, FEATURE_TIME_FIELD
from featurestream.registry import Registry
from featurestream.reserved import RESERVED_COLUMNS
from tests.support.registry import DEMO_SCHEMAS, REPO_ROOT


class _SchemaPlanner:
    """Answers what Flink's planner would infer: the demo schemas, plus ``extra`` output columns."""

    def __init__(self, extra: dict[str, list[Column]]) -> None:
        self.extra = extra

    def register_source(self, source: Source, view: FeatureView) -> None:
        pass

    def output_columns(self, view: FeatureView) -> list[Column]:
        return [*DEMO_SCHEMAS[view.name], *self.extra.get(view.name, [])]

    def plan_views(self, views: list[FeatureView], sources: dict[str, Source]) -> list[list[Column]]:
        return [self.output_columns(v) for v in views]


@pytest.fixture
def repo(tmp_path: Path) -> Config:
    shutil.copytree(REPO_ROOT / "sql", tmp_path / "sql")
    (tmp_path / "featurestream.yaml").write_text("namespace: t\nregistry_path: registry.json\n")
    return load_config(tmp_path, env={})


def test_the_list_is_composed_from_each_owner() -> None:
    assert set(RESERVED_COLUMNS) == {CREATED_AT, PARTITION_DATE, FEATURE_TIME_FIELD, CREATED_FIELD}
    assert {"_ft", "_ct", "created_at", "date"} <= set(RESERVED_COLUMNS)


@pytest.mark.parametrize("name", ["_ft", "_ct", "created_at", "date", "Date", "CREATED_AT"])
def test_a_reserved_output_column_is_rejected_with_file_and_line(repo: Config, name: str) -> None:
    path = repo.root / "sql" / "features" / "user_clicks_10m.sql"
    text = path.read_text().replace(
        "    COUNT(*) AS clicks_10m,\n", f"    COUNT(*) AS clicks_10m,\n    COUNT(*) AS `{name}`,\n"
    )
    path.write_text(text)
    line = text.splitlines().index(f"    COUNT(*) AS `{name}`,") + 1
    planner = _SchemaPlanner({"user_clicks_10m": [Column(name, "BIGINT")]})
    with pytest.raises(ApplyError) as err:
        apply(repo, planner=planner)
    msg = str(err.value)
    assert f"sql/features/user_clicks_10m.sql:{line}:" in msg, msg
    assert f"column named {name!r}, a reserved name" in msg and "rename it" in msg
    assert not Registry.open(repo).views("t")  # all or nothing


def test_a_reserved_name_as_an_entity_is_rejected(repo: Config) -> None:
    path = repo.root / "sql" / "features" / "card_spend_today.sql"
    text = path.read_text()
    path.write_text(text.replace("-- entities: card_id", "-- entities: card_id, date"))
    planner = _SchemaPlanner({"card_spend_today": [Column("date", "STRING")]})
    with pytest.raises(ApplyError) as err:
        apply(repo, planner=planner)
    assert "card_spend_today.sql:" in str(err.value) and "'date', a reserved name" in str(err.value)


def test_names_that_merely_contain_a_reserved_one_are_fine(repo: Config) -> None:
    extra: dict[str, Any] = {"user_clicks_10m": [Column("created_at_max", "TIMESTAMP(3)"), Column("ft", "BIGINT")]}
    result = apply(repo, planner=_SchemaPlanner(extra))
    assert {v.name for v in result.new_views} == set(DEMO_SCHEMAS)


@pytest.mark.parametrize("name", ["payload", "kafka_partition", "kafka_offset", "dlq_reason", "fs_rn", "PAYLOAD"])
def test_a_source_column_named_like_a_job_column_is_rejected_with_file_and_line(repo: Config, name: str) -> None:
    path = repo.root / "sql" / "sources" / "clicks.sql"
    text = path.read_text().replace("    amount DOUBLE,\n", f"    amount DOUBLE,\n    {name} STRING,\n")
    path.write_text(text)
    line = text.splitlines().index(f"    {name} STRING,") + 1
    with pytest.raises(ApplyError) as err:
        apply(repo, planner=_SchemaPlanner({}))
    msg = str(err.value)
    assert f"sql/sources/clicks.sql:{line}: source clicks declares a column named {name!r}" in msg, msg
    assert "a reserved name" in msg and "rename" in msg
    assert not Registry.open(repo).sources("t"), "a source was registered"


def test_the_job_columns_have_one_owner() -> None:
    from featurestream.reserved import JOB_COLUMNS

    assert set(JOB_COLUMNS) == {"payload", "kafka_partition", "kafka_offset", "dlq_reason", "fs_rn"}
