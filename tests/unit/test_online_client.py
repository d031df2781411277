"""The one Redis client factory: the URL alone picks standalone or cluster (no server needed)."""

from __future__ import annotations

import itertools

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from featurestream.config import load_config
from featurestream.errors import ConfigError
from featurestream.online.client import is_cluster_url, redis_client
from featurestream.online.errors import OnlineStoreError
from featurestream.stack.redis_cluster import SLOTS, slot_ranges


def test_standalone_urls_build_plain_clients() -> None:
    assert not is_cluster_url("redis://h:6379/0")
    client = redis_client("redis://127.0.0.1:1/0")
    assert type(client) is redis.Redis
    client.close()


def test_cluster_url_builds_a_cluster_client_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_from_url(cls: type, url: str, **kw: object) -> str:
        seen.update(url=url, cls=cls, **kw)
        return "client"

    monkeypatch.setattr(RedisCluster, "from_url", classmethod(fake_from_url))
    monkeypatch.setattr(AsyncRedisCluster, "from_url", classmethod(fake_from_url))
    assert is_cluster_url("rediss+cluster://u:p@h:7000")
    redis_client("redis+cluster://:secret@h:7000", socket_timeout=1)
    assert seen == {
        "url": "redis://:secret@h:7000",
        "cls": RedisCluster,
        "socket_timeout": 1,
        "socket_connect_timeout": 2.0,  # every client gets a connect timeout by default
    }
    redis_client("rediss+cluster://h:7000/0", asynchronous=True)
    assert seen["url"] == "rediss://h:7000/0" and seen["cls"] is AsyncRedisCluster


def test_cluster_url_with_a_database_and_unknown_schemes_are_rejected() -> None:
    with pytest.raises(OnlineStoreError, match="only database 0"):
        redis_client("redis+cluster://h:7000/3")
    with pytest.raises(OnlineStoreError, match="found http://"):
        redis_client("http://h:7000")


def test_config_accepts_cluster_urls_and_never_echoes_the_url(tmp_path: object) -> None:
    cfg = load_config(str(tmp_path), env={"FEATURESTREAM_REDIS_URL": "redis+cluster://h:7000"})
    assert cfg.redis.url == "redis+cluster://h:7000"
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path), env={"FEATURESTREAM_REDIS_URL": "http://:hunter2@h:1"})
    assert "hunter2" not in str(err.value)


def test_slot_ranges_cover_every_slot_once() -> None:
    for masters in (1, 3, 5):
        ranges = slot_ranges(masters)
        assert ranges[0][0] == 0 and ranges[-1][1] == SLOTS - 1
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
