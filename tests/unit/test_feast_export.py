"""``featurestream export feast``: the Feast repo rendered from the demo registry (no Feast needed here;
tests/integration/test_feast_sdk.py runs the real SDK against it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from featurestream.definitions import FeatureService
from featurestream.feast_export import (
    DEFINITIONS_FILE,
    FeastExportError,
    FeastRepo,
    feast_type,
    latest_views,
    render_feast_repo,
    write_feast_repo,
)
from tests.support.registry import demo_services, demo_views

SOURCES = [
    {"name": "transactions", "columns": [{"name": "card_id", "dtype": "STRING NOT NULL", "nullable": False}]},
    {"name": "clicks", "columns": [{"name": "user_id", "dtype": "STRING NOT NULL", "nullable": False}]},
]


def _repo(**kw: object) -> FeastRepo:
    services = [
        *demo_services(),
        FeatureService("pinned", 1, ("card_spend_1h@1:spend_1h", "on_demand:amount_over_avg_spend")),
    ]
    args: dict[str, object] = {
        "project": "demo-repo",
        "url": "http://127.0.0.1:6566",
        "views": latest_views(demo_views()),
        "services": services,
        "sources": SOURCES,
        "offline_root": Path("/data/offline"),
    }
    args.update(kw)
    return FeastRepo(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flink", "feast"),
    [
        ("STRING", "String"),
        ("VARCHAR(20)", "String"),
        ("BIGINT NOT NULL", "Int64"),
        ("INT", "Int32"),
        ("DOUBLE", "Float64"),
        ("DECIMAL(10, 2)", "Float64"),
        ("FLOAT", "Float32"),
        ("BOOLEAN", "Bool"),
        ("TIMESTAMP_LTZ(3)", "UnixTimestamp"),
        ("ARRAY<FLOAT>", "Array(Float32)"),
    ],
)
def test_feast_types(flink: str, feast: str) -> None:
    assert feast_type(flink) == feast


def test_types_feast_cannot_hold_name_the_fix() -> None:
    with pytest.raises(FeastExportError, match=r"MAP<STRING, INT>.*\n  fix: CAST"):
        feast_type("MAP<STRING, INT>")
    with pytest.raises(FeastExportError, match="one-level array"):
        feast_type("ARRAY<ARRAY<INT>>")


def test_feature_store_yaml_points_the_remote_online_store_at_the_server() -> None:
    doc = yaml.safe_load(render_feast_repo(_repo())["feature_store.yaml"])
    assert doc["online_store"] == {"type": "remote", "path": "http://127.0.0.1:6566"}
    assert doc["project"] == "demo_repo"  # Feast project names are identifiers
    assert doc["provider"] == "local" and doc["entity_key_serialization_version"] == 3
    assert "auth" not in doc


def test_api_keys_ask_feast_for_a_bearer_token_without_writing_it() -> None:
    text = render_feast_repo(_repo(auth=True))["feature_store.yaml"]
    assert yaml.safe_load(text)["auth"] == {"type": "kubernetes"}
    assert "LOCAL_K8S_TOKEN" in text


def test_definitions_mirror_the_latest_views_and_services() -> None:
    code = render_feast_repo(_repo())[DEFINITIONS_FILE]
    tree = ast.parse(code)  # valid Python
    calls = {
        (node.value.func.id, node.targets[0].id): node.value  # type: ignore[attr-defined]
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
    }
    kinds = sorted({k for k, _ in calls})
    assert kinds == ["Entity", "FeatureService", "FeatureView", "FileSource"]
    assert {n for k, n in calls if k == "Entity"} == {"entity_card_id", "entity_user_id"}
    assert {n for k, n in calls if k == "FeatureView"} == {
        "fv_card_spend_1h",
        "fv_card_spend_today",
        "fv_user_clicks_10m",
        "fv_user_sessions",
    }
    # the latest version of card_spend_1h (v2, with avg_amount_1h), its ttl and version tag. The ttl is
    # the longest the server serves a row (semantics.max_age): a 1-hour TUMBLE row is live until the
    # next window would have closed, 1 h + the freshness SLA (5 min) + the watermark delay (none
    # recorded in this repo's registry), below the view's 1-day TTL.
    fv = calls[("FeatureView", "fv_card_spend_1h")]
    kw = {k.arg: k.value for k in fv.keywords}
    assert [ast.literal_eval(f.keywords[0].value) for f in kw["schema"].elts] == [  # type: ignore[attr-defined]
        "spend_1h",
        "txn_count_1h",
        "max_amount_1h",
        "avg_amount_1h",
    ]
    assert ast.unparse(kw["ttl"]) == "timedelta(seconds=3900)"
    assert ast.literal_eval(kw["tags"])["featurestream_version"] == "2"
    assert "Field(name='txn_count_1h', dtype=Int64)" in code
    assert "path='/data/offline/default/card_spend_1h/v2'" in code
    assert "fv_card_spend_1h[['spend_1h', 'txn_count_1h', 'max_amount_1h']]" in code


def test_services_note_what_feast_cannot_name() -> None:
    code = render_feast_repo(_repo())[DEFINITIONS_FILE]
    assert "# card_spend_1h@1:spend_1h: pinned to version 1; the server serves that version" in code
    assert "# on_demand:amount_over_avg_spend: on-demand, computed by the server" in code
    assert "service_pinned = FeatureService(\n    name='pinned',\n    features=[fv_card_spend_1h[['spend_1h']]]" in code


def test_nothing_registered_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FeastExportError, match="featurestream apply"):
        render_feast_repo(_repo(views=[], services=[]))
    (tmp_path / "file").write_text("")
    with pytest.raises(FeastExportError, match="expected a folder"):
        write_feast_repo(tmp_path / "file", {"a": "b"})


def test_write_creates_the_folder_and_the_registry_folder(tmp_path: Path) -> None:
    paths = write_feast_repo(tmp_path / "feast", render_feast_repo(_repo()))
    assert sorted(p.name for p in paths) == sorted([DEFINITIONS_FILE, "feature_store.yaml"])
    assert (tmp_path / "feast" / "data").is_dir()
