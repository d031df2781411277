"""Ad-hoc SQL and the training-set CLI over a registry in a temporary repo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from featurestream.cli.offline import sql_command, training_set_command
from featurestream.config import load_config
from featurestream.offline import write_rows
from featurestream.registry import Registry
from featurestream.store import FeatureStore
from tests.support.views import make_view

T0 = datetime(2024, 2, 1, 12, tzinfo=UTC)
V1 = make_view("user_clicks", ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(hours=1), defaults={"clicks": 0})
V2 = make_view("user_clicks", ["user_id"], {"clicks": "BIGINT", "amount": "DOUBLE"}, version=2, ttl=timedelta(hours=1))


def _repo(tmp_path: Path) -> FeatureStore:
    config = load_config(tmp_path, env={})
    Registry.open(config).save(views=[V1, V2])
    write_rows(config, V1, [{"user_id": "u", "feature_time": T0, "clicks": 3}])
    write_rows(config, V2, [{"user_id": "u", "feature_time": T0, "clicks": 4, "amount": 1.5}])
    return FeatureStore(tmp_path)


def test_sql_sees_every_version_and_a_latest_alias(tmp_path: Path) -> None:
    store = _repo(tmp_path)
    df = store.sql("SELECT (SELECT clicks FROM user_clicks_v1) AS a, (SELECT clicks FROM user_clicks) AS b")
    assert df.iloc[0].tolist() == [3, 4]
    ft = store.sql("SELECT feature_time FROM user_clicks_v1")["feature_time"][0]
    assert ft == pd.Timestamp(T0)


def test_get_training_set_from_the_registry(tmp_path: Path) -> None:
    store = _repo(tmp_path)
    labels = pd.DataFrame({"user_id": ["u", "x"], "event_timestamp": [T0 + timedelta(minutes=1)] * 2})
    df = store.get_training_set(labels, features=["user_clicks@1:clicks", "user_clicks:amount"])
    assert isinstance(df, pd.DataFrame)
    assert df["clicks"].tolist() == [3, 0]
    assert df["amount"].tolist()[0] == 1.5
    assert df.attrs["featurestream_report"].leakage_free


def test_cli_training_set_and_sql(tmp_path: Path) -> None:
    _repo(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("user_id,event_timestamp\nu,2024-02-01T12:30:00Z\nu,2024-02-01T11:00:00+00:00\n")
    out = tmp_path / "train.parquet"
    obj = type("Ctx", (), {"repo": tmp_path})()
    runner = CliRunner()
    res = runner.invoke(
        training_set_command,
        ["--labels", str(labels), "--features", "user_clicks@1:clicks", "--out", str(out)],
        obj=obj,
    )
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(out)["clicks"].tolist() == [3, 0]
    res = runner.invoke(sql_command, ["SELECT count(*) AS n FROM user_clicks_v2"], obj=obj)
    assert res.exit_code == 0 and " 1" in res.output
    res = runner.invoke(sql_command, ["SELECT * FROM nope"], obj=obj)
    assert res.exit_code == 1 and "user_clicks_v1" in res.output
