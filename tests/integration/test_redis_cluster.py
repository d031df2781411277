"""The online store on a real 3-master Redis Cluster (``redis+cluster://``): the writer, the API's
reader, materialize and the scans all connect through the one client factory."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio.cluster import ClusterNode
from redis.cluster import RedisCluster

from featurestream.api.main import create_app
from featurestream.config import Config, ServingConfig, load_config
from featurestream.offline import write_rows
from featurestream.offline.materialize import materialize
from featurestream.online import cluster as online_cluster
from featurestream.online.client import redis_client
from featurestream.online.keys import ROW_HEAD, RowReply, decode_row, encode_entity, entity_key
from featurestream.online.reader import AsyncOnlineReader
from featurestream.online.scan import scan_rows
from featurestream.online.store import RedisOnlineStore
from featurestream.registry import Registry
from monitoring.online_scan import sample_keys
from tests.support.registry import demo_services, demo_views
from tests.support.views import make_view

pytestmark = pytest.mark.integration


def _ns() -> str:
    return "c" + uuid.uuid4().hex[:10]


def _view():  # type: ignore[no-untyped-def]
    return next(v for v in demo_views() if v.ref == "card_spend_1h@1")


def _row(card: str, ft: int, spend: float) -> dict[str, object]:
    return {"card_id": card, "feature_time": ft, "spend_1h": spend, "txn_count_1h": 1, "max_amount_1h": spend}


@pytest.fixture
def store(redis_cluster_url: str) -> Iterator[RedisOnlineStore]:
    s = RedisOnlineStore.from_url(redis_cluster_url, _ns(), chunk_rows=50, pipeline_chunks=1000)
    assert isinstance(s.client, RedisCluster)
    yield s
    s.close()


def _nodes_of(client: RedisCluster, keys: list[str]) -> Counter[str]:
    return Counter(client.get_node_from_key(k).name for k in keys)


def test_writer_is_monotonic_and_idempotent_on_the_cluster(
    store: RedisOnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = _view()
    t = int(time.time() * 1000)
    cards = [f"k{i}" for i in range(300)]
    keys = [entity_key(store.namespace, v.name, v.version, encode_entity([c])) for c in cards]
    assert isinstance(store.client, RedisCluster)
    assert len(_nodes_of(store.client, keys)) == 3  # the rows really spread over the 3 masters

    pipelines: list[int] = []
    real = online_cluster._node_pipeline

    def counted(*args: Any) -> None:
        pipelines.append(len(args[1]))
        real(*args)

    monkeypatch.setattr(online_cluster, "_node_pipeline", counted)
    batch = [_row(c, t + i, float(i)) for i, c in enumerate(cards)]
    assert store.write_rows(v, batch).written == 300
    assert len(pipelines) == 3  # one pipeline (one round trip) per node for the whole batch
    assert store.write_rows(v, batch).written == 300  # a replay (ties overwrite) converges
    older = store.write_rows(v, [_row(c, t - 1, -1.0) for c in cards])
    assert (older.written, older.skipped) == (0, 300)  # never overwrites a newer row
    store.write_rows(v, [_row("z", t + 9, 9.0), _row("z", t + 1, 1.0)])  # out of order in one batch
    rows = store.read(v, [[c] for c in [*cards, "z", "missing"]])
    assert [r.values["spend_1h"] if r else None for r in rows] == [*(float(i) for i in range(300)), 9.0, None]

    # scans walk every master
    assert len(scan_rows(store, v)) == 301
    sample = sample_keys(store, v, limit=10_000)
    assert sample.exhaustive and len(sample.keys) == 301


def test_reader_one_round_trip_per_node_for_100_entities(
    store: RedisOnlineStore, monkeypatch: pytest.MonkeyPatch, redis_cluster_url: str
) -> None:
    v = _view()
    t = int(time.time() * 1000)
    cards = [f"e{i}" for i in range(100)]
    store.write_rows(v, [_row(c, t, float(i)) for i, c in enumerate(cards)])
    keys = [entity_key(store.namespace, v.name, v.version, encode_entity([c])) for c in cards]
    assert isinstance(store.client, RedisCluster)
    assert len(_nodes_of(store.client, keys)) == 3

    calls: Counter[str] = Counter()
    real = ClusterNode.execute_pipeline

    async def counted(self: ClusterNode, commands: Any) -> bool:
        calls[self.name] += 1
        return await real(self, commands)

    monkeypatch.setattr(ClusterNode, "execute_pipeline", counted)

    async def go() -> list[RowReply]:
        reader = AsyncOnlineReader.from_url(redis_cluster_url)
        try:
            await reader.read(keys[:1])  # warm-up: the slot map is loaded
            calls.clear()
            return await reader.read(keys)
        finally:
            await reader.close()

    replies = asyncio.run(go())
    pos = ROW_HEAD + v.feature_names.index("spend_1h")
    rows = [decode_row(r, [n.encode() for n in v.feature_names]) for r in replies]
    assert [r[pos] for r in rows if r is not None] == [float(i) for i in range(100)]
    assert sorted(calls.values()) == [1, 1, 1]  # 100 keys on 3 nodes: exactly one pipeline per node


def test_api_serves_from_the_cluster(redis_cluster_url: str, tmp_path: Path) -> None:
    ns = _ns()
    views = demo_views(ns)
    Registry(tmp_path / "state" / "registry.json").save(views=views, services=demo_services(ns))
    by_ref = {v.ref: v for v in views}
    now = int(time.time() * 1000)
    store = RedisOnlineStore.from_url(redis_cluster_url, ns)
    cards = [f"c{i}" for i in range(40)]
    store.write_rows(by_ref["card_spend_1h@1"], [_row(c, now - 1000, float(i)) for i, c in enumerate(cards)])
    cfg = Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace=ns,
        redis={"url": redis_cluster_url},  # type: ignore[arg-type]
        serving=ServingConfig(deadline_ms=5_000),
    )
    try:
        with TestClient(create_app(cfg)) as client:
            r = client.post(
                "/get-online-features",
                json={"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": [*cards, "missing"]}},
            )
            assert r.status_code == 200, r.text
            spend = r.json()["results"][1]
            assert spend["values"] == [*(float(i) for i in range(40)), None]
            assert spend["statuses"] == ["PRESENT"] * 40 + ["NOT_FOUND"]
    finally:
        store.close()


def test_materialize_into_the_cluster(redis_cluster_url: str, tmp_path: Path) -> None:
    view = make_view("mat_cluster", ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(days=1))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    config = load_config(tmp_path, env={})
    write_rows(
        config,
        view,
        [{"user_id": f"u{i % 90}", "feature_time": t0 + timedelta(minutes=i), "clicks": i} for i in range(270)],
    )
    store = RedisOnlineStore.from_url(redis_cluster_url, _ns())
    try:
        result = materialize(config, view, store)
        assert (result.rows, result.written) == (90, 90)
        online = store.read(view, [(f"u{i}",) for i in range(90)])
        assert [r.values["clicks"] if r else None for r in online] == [180 + i for i in range(90)]
        assert materialize(config, view, store).written == 90  # ties overwrite: a re-run is idempotent
    finally:
        store.close()


def test_one_factory_picks_the_client_from_the_url(redis_cluster_url: str) -> None:
    client = redis_client(redis_cluster_url)
    try:
        assert isinstance(client, RedisCluster) and len(client.get_primaries()) == 3
    finally:
        client.close()


def test_writer_recovers_from_a_flushed_script_cache_and_a_stale_slot_map(store: RedisOnlineStore) -> None:
    """A node that lost its scripts (restart) gets them again; a write sent to the wrong node
    (MOVED: the slot map changed under us) refreshes the map and is resent, once, idempotently."""
    v = _view()
    t = int(time.time() * 1000)
    client = store.client
    assert isinstance(client, RedisCluster)
    for node in client.get_primaries():
        client.get_redis_connection(node).script_flush()
    assert store.write_rows(v, [_row(f"s{i}", t, 1.0) for i in range(30)]).written == 30

    key = entity_key(store.namespace, v.name, v.version, encode_entity(["moved"]))
    slot = client.keyslot(key)
    cache = client.nodes_manager.slots_cache
    owner = cache[slot][0]
    cache[slot] = [next(n for n in client.get_primaries() if n.name != owner.name)]  # a stale map
    assert store.write_rows(v, [_row("moved", t, 7.0)]).written == 1
    assert client.nodes_manager.slots_cache[slot][0].name == owner.name  # the map was refreshed
    row = store.read(v, [["moved"]])[0]
    assert row is not None and row.values["spend_1h"] == 7.0

    # the bulk load's plain SET NX probe is resent the same way; a held key then goes through the script
    for card, spend, written in (("moved-fill", 8.0, 1), ("moved", 9.0, 1), ("moved", 1.0, 0)):
        key = entity_key(store.namespace, v.name, v.version, encode_entity([card]))
        slot = client.keyslot(key)
        cache = client.nodes_manager.slots_cache
        owner = cache[slot][0]
        cache[slot] = [next(n for n in client.get_primaries() if n.name != owner.name)]
        columns = {k: [x] for k, x in _row(card, t + int(spend), spend).items()}
        assert store.write_columns(v, columns, fill=True).written == written
        assert client.nodes_manager.slots_cache[slot][0].name == owner.name
    rows = store.read(v, [["moved-fill"], ["moved"]])
    assert [r.values["spend_1h"] if r else None for r in rows] == [8.0, 9.0]
