"""materialize: offline latest rows -> Redis, monotonic; online values equal training-set values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from featurestream.config import load_config
from featurestream.offline import build_training_set, write_rows
from featurestream.offline.materialize import materialize
from tests.support.views import make_view

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
VIEW = make_view(
    "mat_view", ["user_id"], {"clicks": "BIGINT", "amount": "DOUBLE"}, ttl=timedelta(days=1), defaults={"clicks": 0}
)


def test_materialize_is_monotonic_and_agrees_with_training(tmp_path: Path, redis_url: str) -> None:
    from featurestream.online.store import RedisOnlineStore

    config = load_config(tmp_path, env={})
    rows = [
        {"user_id": f"u{i % 50}", "feature_time": T0 + timedelta(minutes=i), "clicks": i, "amount": i / 2}
        for i in range(200)
    ]
    write_rows(config, VIEW, rows)
    store = RedisOnlineStore.from_url(redis_url, f"mat{tmp_path.name[-6:]}")
    try:
        # A newer online row for u0 must survive the bulk load.
        store.write_rows(
            VIEW, [{"user_id": "u0", "feature_time": T0 + timedelta(hours=4), "clicks": 999, "amount": 0.0}]
        )
        seen: list[tuple[int, int]] = []
        result = materialize(config, VIEW, store, progress=lambda d, t: seen.append((d, t)))
        assert (result.rows, result.written, result.skipped) == (50, 49, 1)
        assert seen[-1] == (50, 50)
        online = store.read(VIEW, [(f"u{i}",) for i in range(50)])
        labels = pd.DataFrame(
            {
                "user_id": [f"u{i}" for i in range(50)],
                "event_timestamp": [T0 + timedelta(minutes=150 + i) for i in range(50)],
            }
        )
        train = build_training_set(config, labels, features=["mat_view:clicks", "mat_view:amount"], views=[VIEW]).table
        for i, row in enumerate(online):
            assert row is not None
            if i == 0:
                assert row.values["clicks"] == 999
                continue
            assert row.values["clicks"] == train["clicks"][i].as_py()
            assert row.values["amount"] == train["amount"][i].as_py()
        again = materialize(config, VIEW, store, start=date(2000, 1, 1), end=date(2000, 1, 2))
        assert again.rows == 0
    finally:
        store.close()


def test_materialize_from_an_s3_offline_store(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk load reads the offline store through pyarrow from S3 (a private moto server) and
    writes the same latest rows online as from a local store."""
    from featurestream.config import Config
    from featurestream.online.store import RedisOnlineStore
    from tests.support.s3 import TEST_CREDENTIALS, moto_s3, s3_config

    for k, v in TEST_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    rows = [
        {"user_id": f"u{i % 20}", "feature_time": T0 + timedelta(minutes=i), "clicks": i, "amount": i / 2}
        for i in range(100)
    ]
    with moto_s3(tmp_path / "moto", ("fs-mat",)) as s3:
        s3cfg = Config(root=tmp_path, offline={"path": "s3://fs-mat/offline"}, s3=s3_config(s3))
        local = load_config(tmp_path / "local", env={})
        results = []
        for n, cfg in enumerate((s3cfg, local)):
            write_rows(cfg, VIEW, rows)
            store = RedisOnlineStore.from_url(redis_url, f"mats3{n}{tmp_path.name[-6:]}")
            try:
                result = materialize(cfg, VIEW, store)
                online = store.read(VIEW, [(f"u{i}",) for i in range(20)])
                results.append((result.rows, [None if r is None else r.values for r in online]))
            finally:
                store.close()
    assert results[0] == results[1]
    assert results[0][0] == 20 and all(v is not None for v in results[0][1])
