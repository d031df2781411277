"""Shared fixtures. Integration tests share ONE local stack per session, started by the same
code as ``featurestream up`` and stopped at the end only if this session started it.

Services start lazily: a test that only needs Redis starts only Redis.
Set FEATURESTREAM_TEST_REDIS_URL to point Redis-only tests at an existing server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from featurestream.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent

# No wall-clock deadlines on generated examples: timing does not belong in tests, and a loaded
# 2-core machine (CI runs the stack beside the tests) makes per-example deadlines flaky.
settings.register_profile("featurestream", deadline=None)
settings.load_profile("featurestream")


class _StackHandle:
    def __init__(self, config: Config) -> None:
        from featurestream.stack import Stack

        self.config = config
        self.stack = Stack(config, log=lambda m: print(f"[stack] {m}", flush=True))
        self.started: set[str] = set()
        self.up: set[str] = set()

    def ensure(self, *services: str) -> None:
        missing = tuple(s for s in services if s not in self.up)
        if not missing:
            return
        for st in self.stack.up(missing):
            if st.started:
                self.started.add(st.name if st.name != "flink" else "flink")
        self.up.update(missing)

    def close(self) -> None:
        if self.started and os.environ.get("FEATURESTREAM_KEEP_STACK") != "1":
            self.stack.down(tuple(self.started))


@pytest.fixture(scope="session")
def repo_config() -> Config:
    """The demo repo's config (state under the repo's .featurestream/)."""
    return load_config(REPO)


@pytest.fixture(scope="session")
def _stack(repo_config: Config) -> Iterator[_StackHandle]:
    handle = _StackHandle(repo_config)
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """A real Redis: FEATURESTREAM_TEST_REDIS_URL if set, else the local stack's."""
    url = os.environ.get("FEATURESTREAM_TEST_REDIS_URL")
    if url:
        return url
    handle: _StackHandle = request.getfixturevalue("_stack")
    handle.ensure("redis")
    return handle.stack.redis.url


@pytest.fixture(scope="session")
def kafka_bootstrap(_stack: _StackHandle) -> str:
    _stack.ensure("kafka")
    return _stack.stack.kafka.bootstrap


@pytest.fixture(scope="session")
def stack(_stack: _StackHandle) -> _StackHandle:
    """The whole local stack (Kafka, Redis, Flink), up and healthy."""
    _stack.ensure("redis", "kafka", "flink")
    return _stack


@pytest.fixture(scope="session")
def redis_cluster_url(request: pytest.FixtureRequest) -> str:
    """A real 3-master Redis Cluster (``redis+cluster://`` URL): FEATURESTREAM_TEST_REDIS_CLUSTER_URL
    if set, else the local stack's on-demand ``redis-cluster`` service, started lazily here and
    stopped at the end of the session if this session started it."""
    url = os.environ.get("FEATURESTREAM_TEST_REDIS_CLUSTER_URL")
    if url:
        return url
    handle: _StackHandle = request.getfixturevalue("_stack")
    handle.ensure("redis-cluster")
    return handle.stack.redis_cluster.url
