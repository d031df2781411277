"""The online writer against a real Redis: monotonic, idempotent, expiring, composite keys."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from featurestream.definitions import Column
from featurestream.online.errors import OnlineStoreError
from featurestream.online.keys import entity_key, row_times
from featurestream.online.scan import scan_rows
from featurestream.online.store import RedisOnlineStore
from tests.support.registry import demo_views

pytestmark = pytest.mark.integration


@pytest.fixture
def store(redis_url: str) -> RedisOnlineStore:
    return RedisOnlineStore.from_url(redis_url, "t" + uuid.uuid4().hex[:8], chunk_rows=7, pipeline_chunks=3)


def _view():  # type: ignore[no-untyped-def]
    return next(v for v in demo_views() if v.ref == "card_spend_1h@1")


def _row(card: str, ft: int, spend: float) -> dict[str, object]:
    return {"card_id": card, "feature_time": ft, "spend_1h": spend, "txn_count_1h": 1, "max_amount_1h": spend}


def test_monotonic_idempotent_and_ties(store: RedisOnlineStore) -> None:
    v = _view()
    t = int(time.time() * 1000)
    assert store.write_rows(v, [_row("a", t, 1.0)]).written == 1
    st = store.write_rows(v, [_row("a", t - 1, 0.5), _row("a", t - 100, 0.1)])
    assert (st.written, st.skipped) == (0, 2)
    assert store.read(v, [["a"]])[0].values["spend_1h"] == 1.0  # type: ignore[union-attr]
    assert store.write_rows(v, [_row("a", t, 2.0)]).written == 1  # a tie overwrites
    # within one batch, out of order: the newest wins whatever the order
    store.write_rows(v, [_row("b", t + 5, 5.0), _row("b", t + 9, 9.0), _row("b", t + 1, 1.0)])
    row = store.read(v, [["b"]])[0]
    assert row is not None and row.values["spend_1h"] == 9.0 and row.feature_time_ms == t + 9
    # replaying the same batch twice converges to the same state
    batch = [_row(f"k{i}", t + i, float(i)) for i in range(50)]
    store.write_rows(v, batch)
    store.write_rows(v, batch)
    stored = store.read(v, [[f"k{i}"] for i in range(50)])
    assert [None if r is None else r.values["spend_1h"] for r in stored] == [float(i) for i in range(50)]


def test_datetimes_created_at_and_expiry(store: RedisOnlineStore) -> None:
    v = replace(_view(), ttl=timedelta(seconds=30))
    ft = datetime.now(UTC) - timedelta(seconds=5)
    store.write_rows(v, [{**_row("a", 0, 1.0), "feature_time": ft, "created_at": ft + timedelta(seconds=1)}])
    key = entity_key(store.namespace, v.name, v.version, "a")
    raw = store.client.get(key)
    assert isinstance(raw, bytes)  # a synchronous client answers directly (redis-py types allow an Awaitable)
    assert row_times(raw) == (int(ft.timestamp() * 1000), int(ft.timestamp() * 1000) + 1000)
    pttl = store.client.pttl(key)
    assert isinstance(pttl, int) and 25_000 < pttl <= 30_000
    with pytest.raises(OnlineStoreError, match="naive"):
        store.write_rows(v, [{**_row("a", 0, 1.0), "feature_time": datetime(2024, 1, 1)}])
    with pytest.raises(OnlineStoreError, match="no column 'spend_1h'"):
        store.write_rows(v, [{"card_id": "x", "feature_time": 1, "txn_count_1h": 1, "max_amount_1h": 1.0}])


def test_composite_keys_lists_and_nulls(store: RedisOnlineStore) -> None:
    base = _view()
    v = replace(base, name="pair_view", entities=("card_id", "merchant")).with_features(
        [
            Column("card_id", "STRING"),
            Column("merchant", "STRING"),
            Column("emb", "ARRAY<FLOAT>"),
            Column("note", "STRING"),
        ]
    )
    t = int(time.time() * 1000)
    store.write_rows(
        v,
        [
            {"card_id": "a|b", "merchant": "c", "feature_time": t, "emb": [0.5, 1.5], "note": None},
            {"card_id": "a", "merchant": "b|c", "feature_time": t, "emb": [], "note": "x"},
        ],
    )
    first, second = store.read(v, [["a|b", "c"], ["a", "b|c"]])
    assert first is not None and first.values == {"emb": [0.5, 1.5], "note": None}
    assert second is not None and second.values == {"emb": [], "note": "x"}
    assert store.client.exists(entity_key(store.namespace, "pair_view", 1, "a\\|b|c")) == 1


def test_bulk_load_many_rows(store: RedisOnlineStore) -> None:
    v = _view()
    t = int(time.time() * 1000)
    store.chunk_rows, store.pipeline_chunks = 200, 10
    st = store.write_rows(v, (_row(f"bulk{i}", t, float(i)) for i in range(5000)))
    assert (st.rows, st.written) == (5000, 5000)
    assert store.read(v, [["bulk4999"]])[0].values["spend_1h"] == 4999.0  # type: ignore[union-attr]


def test_scan_rows_returns_every_stored_row_of_one_view_only(store: RedisOnlineStore) -> None:
    v = _view()
    t = int(time.time() * 1000)
    store.write_rows(v, [_row(f"c{i}", t + i, float(i)) for i in range(25)] + [_row("a|b", t, 7.0)])
    store.write_rows(replace(v, version=2), [_row("other-version", t, 1.0)])
    rows = scan_rows(store, v, batch=4)
    assert set(rows) == {(f"c{i}",) for i in range(25)} | {("a|b",)}
    assert rows[("c3",)].feature_time_ms == t + 3 and rows[("c3",)].values["spend_1h"] == 3.0
    assert tuple(rows[("a|b",)].values) == v.feature_names
