"""plan/apply with Flink's own planner (a local JVM, no services): validation with file and line,
schema inference, version rules, source compatibility classes, atomicity, lineage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from featurestream.apply import ApplyError, apply, plan
from featurestream.config import Config, load_config
from featurestream.errors import RegistryError
from featurestream.registry import Registry, StoredFeature

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planner():  # type: ignore[no-untyped-def]
    from featurestream.jobs.planner import FlinkPlanner

    return FlinkPlanner(load_config(REPO))


@pytest.fixture
def repo(tmp_path: Path) -> Config:
    shutil.copytree(REPO / "sql", tmp_path / "sql")
    (tmp_path / "featurestream.yaml").write_text("namespace: t\nregistry_path: registry.json\n")
    return load_config(tmp_path, env={})


def test_apply_demo_infers_schema_and_lineage(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    result = apply(repo, planner=planner)
    assert {v.name for v in result.new_views} == {
        "user_clicks_10m",
        "card_spend_1h",
        "user_sessions",
        "card_spend_today",
    }
    reg = Registry.open(repo)
    v = reg.get_view("t", "user_clicks_10m")
    assert [(f.name, f.dtype) for f in v.features] == [
        ("clicks_10m", "BIGINT"),
        ("amount_10m", "DOUBLE"),
        ("distinct_items_10m", "BIGINT"),
    ]
    assert v.feature("clicks_10m").default == 0  # type: ignore[union-attr]
    lin = reg.lineage()["t/user_clicks_10m@1"]
    assert lin["sources"] == [{"name": "clicks", "topic": "clicks"}]
    assert lin["sinks"]["offline"].endswith("t/user_clicks_10m/v1")
    assert {s.name for s in reg.services("t")} == {"fraud_model", "ranking_model"}
    # a second apply changes nothing
    again = apply(repo, planner=planner)
    assert not again.new_views and len(again.unchanged_views) == 4


def test_invalid_sql_names_file_line_and_applies_nothing(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    bad = repo.root / "sql" / "features" / "broken.sql"
    bad.write_text(
        "-- name: broken\n-- version: 1\n-- entities: user_id\n-- ttl: 1h\n"
        "SELECT\n    user_id,\n    window_end AS feature_time,\n    SUM(no_such_column) AS x\n"
        "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))\n"
        "GROUP BY user_id, window_start, window_end\n"
    )
    with pytest.raises(ApplyError) as exc:
        apply(repo, planner=planner)
    msg = str(exc.value)
    assert "sql/features/broken.sql:8" in msg  # line 8 of the file holds no_such_column
    assert "no_such_column" in msg and "Flink" in msg
    assert not repo.registry_file.exists()  # nothing half-registered


def test_syntax_error_position(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    (repo.root / "sql" / "features" / "typo.sql").write_text(
        "-- name: typo\n-- version: 1\n-- entities: user_id\n-- ttl: 1h\n\nSELECT user_id,, 1 AS x FROM clicks\n"
    )
    with pytest.raises(ApplyError, match=r"sql/features/typo.sql:6"):
        apply(repo, planner=planner)


def test_edit_of_registered_version_refused_new_version_serves_beside(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    apply(repo, planner=planner)
    path = repo.root / "sql" / "features" / "card_spend_1h.sql"
    original = path.read_text()
    path.write_text(original.replace("MAX(amount)", "MIN(amount)"))
    with pytest.raises(ApplyError, match=r"bump '-- version: 1' to 2"):
        apply(repo, planner=planner)
    path.write_text(original.replace("MAX(amount)", "MIN(amount)").replace("-- version: 1", "-- version: 2"))
    p = plan(repo, planner=planner)
    assert [v.ref for v in p.new_views] == ["card_spend_1h@2"]
    assert not Registry.open(repo).views("t") or Registry.open(repo).get_view("t", "card_spend_1h").version == 1
    apply(repo, planner=planner)
    reg = Registry.open(repo)
    assert reg.get_view("t", "card_spend_1h").version == 2
    assert reg.get_view("t", "card_spend_1h", 1).sql == " ".join(reg.get_view("t", "card_spend_1h", 1).sql.split(" "))
    assert [v.version for v in reg.views("t") if v.name == "card_spend_1h"] == [1, 2]
    resolved = reg.resolve("t", ["card_spend_1h@1:max_amount_1h", "card_spend_1h:max_amount_1h"])
    assert [r.view.version for r in resolved if isinstance(r, StoredFeature)] == [1, 2]


def _set_source(repo: Config, body: str) -> None:
    (repo.root / "sql" / "sources" / "transactions.sql").write_text(
        "-- topic: transactions\n-- event_id: event_id\nCREATE TABLE transactions (\n"
        + body
        + ",\n    WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND\n)\n"
    )


BASE_COLS = (
    "    event_id STRING NOT NULL,\n    card_id STRING NOT NULL,\n    merchant_id STRING,\n"
    "    amount DOUBLE NOT NULL,\n    qty INT,\n    event_time TIMESTAMP_LTZ(3) NOT NULL"
)


def test_source_compatibility_classes(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    _set_source(repo, BASE_COLS)
    apply(repo, planner=planner)
    # ADD_OPTIONAL and WIDENING are accepted with warnings
    _set_source(repo, BASE_COLS.replace("qty INT", "qty BIGINT") + ",\n    channel STRING")
    result = apply(repo, planner=planner)
    assert any("ADD_OPTIONAL" in w for w in result.warnings)
    assert any("WIDENING" in w for w in result.warnings)
    # RENAME, NARROWING, ADD_REQUIRED are refused, naming the class
    for cols, cls in (
        (
            BASE_COLS.replace("qty INT", "qty BIGINT").replace("merchant_id", "merchant") + ",\n    channel STRING",
            "RENAME",
        ),
        (
            BASE_COLS.replace("amount DOUBLE", "amount FLOAT").replace("qty INT", "qty BIGINT")
            + ",\n    channel STRING",
            "NARROWING",
        ),
        (
            BASE_COLS.replace("qty INT", "qty BIGINT") + ",\n    channel STRING,\n    region STRING NOT NULL",
            "ADD_REQUIRED",
        ),
    ):
        _set_source(repo, cols)
        with pytest.raises(ApplyError, match=cls):
            apply(repo, planner=planner)


def test_contract_checks(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    (repo.root / "sql" / "features" / "no_time.sql").write_text(
        "-- name: no_time\n-- version: 1\n-- entities: card_id\n-- ttl: 1h\n-- defaults: total=zero, nope=1\n"
        "SELECT card_id, SUM(amount) AS total\n"
        "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))\n"
        "GROUP BY card_id, window_start, window_end\n"
    )
    with pytest.raises(ApplyError) as exc:
        apply(repo, planner=planner)
    msg = str(exc.value)
    assert "must output 'feature_time'" in msg


def test_defaults_checked_against_inferred_types(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    (repo.root / "sql" / "features" / "bad_default.sql").write_text(
        "-- name: bad_default\n-- version: 1\n-- entities: card_id\n-- ttl: 1h\n-- defaults: total=zero, nope=1\n"
        "SELECT card_id, window_end AS feature_time, SUM(amount) AS total\n"
        "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))\n"
        "GROUP BY card_id, window_start, window_end\n"
    )
    with pytest.raises(ApplyError) as exc:
        apply(repo, planner=planner)
    msg = str(exc.value)
    assert "'zero' for 'total' does not fit its type DOUBLE" in msg
    assert "default for 'nope'" in msg


def test_header_errors_name_the_line(repo: Config) -> None:
    (repo.root / "sql" / "features" / "hdr.sql").write_text(
        "-- name: hdr\n-- version: one\n-- entities: user_id\n-- ttl: 1h\nSELECT 1\n"
    )
    result = plan(repo, planner=object())
    assert any("sql/features/hdr.sql:2" in p and "positive integer" in p for p in result.problems)


def test_plan_writes_nothing(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    result = plan(repo, planner=planner)
    assert result.ok and len(result.new_views) == 4
    assert not repo.registry_file.exists()
    assert any(line.startswith("+ view user_sessions@1") for line in result.summary())


def test_registry_resolution_at_catalog_scale(tmp_path: Path) -> None:
    """12,000 features over 240 views in 4 namespaces: one atomic save, exact resolution."""
    from featurestream.definitions import Column, parse_feature_view

    text = (REPO / "sql" / "features" / "card_spend_1h.sql").read_text()
    base = parse_feature_view(text, "x.sql")
    views = []
    for ns in ("a", "b", "c", "d"):
        for i in range(60):
            v = base.__class__(**{**base.__dict__, "name": f"view_{i}", "namespace": ns, "defaults": {}})
            views.append(
                v.with_features(
                    [
                        Column("card_id", "STRING"),
                        Column("feature_time", "TIMESTAMP(3)"),
                        *(Column(f"f{j}", "DOUBLE") for j in range(50)),
                    ]
                )
            )
    reg = Registry(tmp_path / "registry.json")
    reg.save(views=views)
    reg2 = Registry(tmp_path / "registry.json")
    assert sum(len(v.features) for v in reg2.views()) == 12_000
    refs = [f"view_{i}:f{j}" for i in range(60) for j in range(0, 50, 5)]
    resolved = reg2.resolve("c", refs)
    stored = [r for r in resolved if isinstance(r, StoredFeature)]
    assert [f"{r.view.name}:{r.feature.name}" for r in stored] == refs
    assert all(r.view.namespace == "c" for r in stored)
    with pytest.raises(RegistryError, match="unknown feature view 'view_0' in namespace 'e'"):
        reg2.resolve("e", ["view_0:f0"])
    doc = json.loads((tmp_path / "registry.json").read_text())
    assert doc["revision"] == 1


def test_schema_read_in_one_string_matches_column_by_column(planner) -> None:  # type: ignore[no-untyped-def]
    """The one-string read of a ResolvedSchema gives what asking column by column gives, for awkward
    names and types (commas inside types, nested rows, quoted names, NOT NULL, time attributes)."""
    from featurestream.jobs.planner import _columns_one_by_one, _resolved_columns

    table = planner.t_env.sql_query(
        "SELECT CAST(1.5 AS DECIMAL(10, 2)) AS `d, e`, ARRAY[1, 2] AS `a``b`, "
        "CAST(NULL AS ROW<x INT, `y z` STRING>) AS r, MAP['k', 1.0] AS m, 'v' AS `with space`, "
        "CAST(NULL AS TIMESTAMP_LTZ(3)) AS t, 42 AS n"
    )
    schema = table._j_table.getResolvedSchema()
    fast = _resolved_columns(schema)
    assert fast == _columns_one_by_one(schema)
    assert [c.name for c in fast] == ["d, e", "a`b", "r", "m", "with space", "t", "n"]
    assert fast[0].dtype == "DECIMAL(10, 2)" and not fast[0].nullable


def test_second_namespace_reuses_plans_of_identical_definitions(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    first = apply(repo, planner=planner)
    (repo.root / "featurestream.yaml").write_text("namespace: t2\nregistry_path: registry.json\n")
    other = load_config(repo.root, env={})
    second = apply(other, planner=planner)
    assert {v.name: v.features for v in first.new_views} == {v.name: v.features for v in second.new_views}
    assert {v.namespace for v in second.new_views} == {"t2"}
    # a changed definition is planned again, and Flink still rejects what it rejects
    path = repo.root / "sql" / "features" / "card_spend_1h.sql"
    path.write_text(path.read_text().replace("MAX(amount)", "MAX(no_such_column)").replace("version: 1", "version: 2"))
    with pytest.raises(ApplyError, match=r"card_spend_1h.sql:\d+.*no_such_column"):
        apply(other, planner=planner)


def test_views_record_their_sources_watermark_delay(repo: Config, planner) -> None:  # type: ignore[no-untyped-def]
    """The quiet-window rule (semantics.validity) counts the delay: new views record it at apply, and a
    view registered before it was recorded gets it at the next apply, without planning it again."""
    from dataclasses import replace
    from datetime import timedelta

    apply(repo, planner=planner)
    reg = Registry.open(repo)
    assert {v.watermark_delay for v in reg.views(repo.namespace)} == {timedelta(seconds=5)}
    reg.save(views=[replace(v, watermark_delay=None) for v in reg.views(repo.namespace)])  # as an older registry
    assert {v.watermark_delay for v in Registry.open(repo).views(repo.namespace)} == {None}

    class NoPlanning:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"an unchanged view was planned again ({name})")

    result = apply(repo, planner=NoPlanning())
    assert not result.new_views and {v.ref for v in result.recorded_views} == {v.ref for v in result.unchanged_views}
    assert {v.watermark_delay for v in Registry.open(repo).views(repo.namespace)} == {timedelta(seconds=5)}
    assert not apply(repo, planner=NoPlanning()).recorded_views  # recorded once
