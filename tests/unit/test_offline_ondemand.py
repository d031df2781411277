"""On-demand features in training sets run the server's functions on the joined rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from featurestream.config import load_config
from featurestream.offline import build_training_set, write_rows
from tests.support.views import make_view

CARD = make_view(
    "card_spend_1h",
    ["card_id"],
    {"spend_1h": "DOUBLE", "txn_count_1h": "BIGINT", "max_amount_1h": "DOUBLE"},
    ttl=timedelta(days=1),
    defaults={"spend_1h": 0.0, "txn_count_1h": 0, "max_amount_1h": 0.0},
)
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
DEMO_UDFS = Path(__file__).resolve().parents[2] / "udfs"  # the demo repo's on-demand folder


def test_on_demand_feature_uses_joined_inputs_without_requesting_them(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={"FEATURESTREAM__ONDEMAND__PATH": str(DEMO_UDFS)})
    write_rows(
        config,
        CARD,
        [{"card_id": "c1", "feature_time": T0, "spend_1h": 100.0, "txn_count_1h": 4, "max_amount_1h": 50.0}],
    )
    labels = pd.DataFrame(
        {"card_id": ["c1", "c2"], "event_timestamp": [T0 + timedelta(minutes=5)] * 2, "amount": [50.0, 10.0]}
    )
    df = build_training_set(
        config, labels, features=["card_spend_1h:max_amount_1h", "on_demand:amount_over_avg_spend"], views=[CARD]
    ).to_pandas()
    assert df.columns.tolist() == ["card_id", "event_timestamp", "amount", "max_amount_1h", "amount_over_avg_spend"]
    assert df["amount_over_avg_spend"].tolist() == [2.0, 0.0]  # c2 has no row: defaults -> function's 0.0
