"""Bad training-set input: every error names the column or feature and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from featurestream.config import Config, load_config
from featurestream.errors import FeatureStreamError
from featurestream.offline import LabelError, OfflineError, build_training_set
from tests.support.views import make_view

USER = make_view("user_stats", ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(hours=1))
OTHER = make_view("other_stats", ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(hours=1))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path, env={})


def _build(config: Config, labels: pd.DataFrame, features: list[str], **kw: object) -> None:
    build_training_set(config, labels, features=features, views=[USER, OTHER], **kw)  # type: ignore[arg-type]


GOOD = pd.DataFrame({"user_id": ["u"], "event_timestamp": pd.to_datetime(["2024-01-01"])})


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        (pd.DataFrame({"event_timestamp": pd.to_datetime(["2024-01-01"])}), "['user_id']"),
        (pd.DataFrame({"user_id": ["u"]}), "label-time column"),
        (pd.DataFrame({"user_id": ["u", "v"], "event_timestamp": ["2024-01-01", ""]}), "empty value at row 1"),
        (pd.DataFrame({"user_id": ["u", "v"], "event_timestamp": ["2024-01-01", None]}), "empty value at row 1"),
        (pd.DataFrame({"user_id": ["u", "v"], "event_timestamp": ["2024-01-01", "yesterday"]}), "'yesterday' at row 1"),
        (pd.DataFrame({"user_id": ["u"], "event_timestamp": [1.5]}), "expected timestamps"),
    ],
)
def test_bad_labels_name_the_column(config: Config, labels: pd.DataFrame, needle: str) -> None:
    with pytest.raises(LabelError) as err:
        _build(config, labels, ["user_stats:clicks"])
    assert needle in str(err.value)
    assert "fix:" in str(err.value)
    assert isinstance(err.value, FeatureStreamError)


def test_explicit_timestamp_column_missing(config: Config) -> None:
    with pytest.raises(LabelError, match="'label_ts'"):
        _build(config, GOOD, ["user_stats:clicks"], timestamp_column="label_ts")


@pytest.mark.parametrize(
    ("features", "needle"),
    [
        (["user_stats:nope"], "no feature 'nope'"),
        (["nope_view:clicks"], "unknown feature view 'nope_view'"),
        (["user_stats@3:clicks"], "version 3"),
        (["user_stats:clicks", "other_stats:clicks"], "full_feature_names=True"),
        ([], "at least one feature"),
    ],
)
def test_bad_features(config: Config, features: list[str], needle: str) -> None:
    with pytest.raises(OfflineError) as err:
        _build(config, GOOD, features)
    assert needle in str(err.value)


def test_feature_colliding_with_a_label_column(config: Config) -> None:
    with pytest.raises(OfflineError, match="collide with label columns"):
        _build(config, GOOD.assign(clicks=1), ["user_stats:clicks"])


def test_full_names_resolve_collisions(config: Config) -> None:
    ts = build_training_set(
        config, GOOD, features=["user_stats:clicks", "other_stats:clicks"], views=[USER, OTHER], full_feature_names=True
    )
    assert ts.table.column_names == ["user_id", "event_timestamp", "user_stats__clicks", "other_stats__clicks"]
