"""Limits and hostile requests (issue 15 items 7-9): body size before parsing, authentication before
the body, canonical versions, a cost cap, bounded memory per request and a bounded plan cache."""

from __future__ import annotations

import json
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from featurestream.api.auth import KeyRing
from featurestream.api.catalog import PlanCache
from featurestream.api.limits import RequestGuard
from featurestream.api.main import create_app
from featurestream.api.metrics import Metrics
from featurestream.api.plan import LookupPlan
from featurestream.config import ApiKey, Config, ServingConfig
from tests.support.registry import demo_registry

OK = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}}
HALF_MB = 500_000


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def _config(tmp: Path, **serving: Any) -> Config:
    demo_registry(tmp / "state" / "registry.json", "default")
    return Config(
        root=tmp, state_dir=str(tmp / "state"), redis={"url": _dead_url()}, serving={"deadline_ms": 50, **serving}
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    cfg = _config(tmp_path_factory.mktemp("limits"), max_body_bytes=64_000, max_cost=500)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


# ----------------------------------------------------------------------------- body size


def test_a_body_over_the_limit_is_413_from_its_content_length(client: TestClient) -> None:
    body = json.dumps({**OK, "pad": "x" * 70_000}).encode()
    r = client.post("/v1/features", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert "limit is 64000 bytes" in err["message"] and "serving.max_body_bytes" in err["hint"]


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    chunks = iter([b'{"pad": "', *([b"x" * 10_000] * 10), b'"}'])  # no content-length: sent chunked
    r = client.post("/get-online-features", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert "serving.max_body_bytes" in r.text


class _Receiver:
    """An ASGI receive() that delivers ``chunks`` bodies of ``size`` bytes and counts what was read."""

    def __init__(self, chunks: int, size: int) -> None:
        self.left = chunks
        self.size = size
        self.read = 0

    async def __call__(self) -> dict[str, Any]:
        self.left -= 1
        self.read += 1
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.left > 0}


def _guarded(keys: bool, max_body_bytes: int) -> tuple[RequestGuard, Any]:
    """The guard in front of an app that must never be reached, and the app state it reads."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the request reached the app")

    api_keys = [ApiKey(name="a", key="s3cret", namespace="default")] if keys else []
    serving = ServingConfig(api_keys=api_keys, max_body_bytes=max_body_bytes)
    fs = SimpleNamespace(
        config=SimpleNamespace(serving=serving),
        keys=KeyRing(serving, "default", root=Path("."), env={}),
        metrics=Metrics(),
    )
    return RequestGuard(inner), SimpleNamespace(state=SimpleNamespace(fs=fs))


def _run(guard: RequestGuard, app: Any, headers: list[tuple[bytes, bytes]], receive: _Receiver) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/features",
        "headers": headers,
        "query_string": b"",
        "app": app,
    }
    anyio.run(guard, scope, receive, send)
    return sent


def _status(sent: list[Any]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def test_a_chunked_body_stops_being_read_once_past_the_limit() -> None:
    guard, app = _guarded(keys=False, max_body_bytes=4096)
    receive = _Receiver(chunks=1000, size=1024)
    sent = _run(guard, app, [(b"content-type", b"application/json")], receive)
    assert _status(sent) == 413
    assert receive.read == 5  # 5 KiB counted, the other 995 chunks never read


def test_authentication_comes_before_the_body() -> None:
    guard, app = _guarded(keys=True, max_body_bytes=1_000_000)
    receive = _Receiver(chunks=3, size=10)
    sent = _run(guard, app, [(b"content-type", b"application/json")], receive)
    assert _status(sent) == 401
    assert receive.read == 0
    receive = _Receiver(chunks=3, size=10)
    sent = _run(guard, app, [(b"x-api-key", b"wrong")], receive)
    assert _status(sent) == 401 and receive.read == 0


def test_unauthenticated_malformed_body_is_401_not_422(tmp_path: Path) -> None:
    cfg = _config(tmp_path, api_keys=[ApiKey(name="a", key="s3cret", namespace="default")])
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/features", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 401, r.text
        r = c.post("/get-online-features", json=OK, headers={"x-api-key": "s3cret"})
        assert r.status_code == 200, r.text


# ----------------------------------------------------------------------------- references and cost


@pytest.mark.parametrize("version", ["\u0661", "\u00b9", "v\u0661", "\u0661\u0662", "0", "vv1", "+1", " 1"])
@pytest.mark.parametrize("path", ["/v1/features", "/get-online-features"])
def test_non_ascii_or_non_positive_versions_are_422(client: TestClient, path: str, version: str) -> None:
    r = client.post(path, json={**OK, "features": [f"card_spend_1h@{version}:spend_1h"]})
    assert r.status_code == 422, r.text
    assert "ASCII digits" in r.json()["error"]["message"]


@pytest.mark.parametrize("version", ["1", "v1", "01", "v0001"])
def test_every_ascii_spelling_of_a_version_serves_the_same_feature(client: TestClient, version: str) -> None:
    r = client.post("/v1/features", json={**OK, "features": [f"card_spend_1h@{version}:spend_1h"]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/v1/features", "/get-online-features"])
def test_entities_times_features_over_the_cap_is_413_with_a_hint(client: TestClient, path: str) -> None:
    body = {"features": ["card_spend_1h@1:spend_1h"] * 60, "entities": {"card_id": [f"c{i}" for i in range(10)]}}
    r = client.post(path, json=body)
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert "60 features x 10 entities = 600" in err["message"] and "limit is 500" in err["message"]
    assert "serving.max_cost" in err["hint"]


def test_a_feature_service_counts_its_features(client: TestClient) -> None:
    body = {"feature_service": "fraud_model", "entities": {"card_id": ["c"] * 400, "user_id": ["u"] * 400}}
    r = client.post("/get-online-features", json=body)
    assert r.status_code == 413 and "serving.max_cost" in r.text, r.text


# ----------------------------------------------------------------------------- memory per request


def _half_mb_bodies() -> dict[str, bytes]:
    refs = ["card_spend_1h@1:spend_1h"] * (HALF_MB // 27)
    many_keys = {f"k{i}": ["x"] for i in range(HALF_MB // 17)}
    bodies = {
        "features": {"features": refs, "entities": {"card_id": ["c1"]}},
        "entities": {"features": OK["features"], "entities": {"card_id": [f"c{i}" for i in range(HALF_MB // 9)]}},
        "entity keys": {"features": OK["features"], "entities": {"card_id": ["c"], **many_keys}},
        "distinct refs": {
            "features": [f"card_spend_1h@{i}:spend_1h" for i in range(HALF_MB // 30)],
            "entities": {"card_id": ["c"]},
        },
        "empty lists": {**OK, "request_data": {"amount": [[]] * (HALF_MB // 4)}},
        "empty objects": {**OK, "entities": {"card_id": ["c"], "x": [{}] * (HALF_MB // 4)}},
        "nested lists": {**OK, "entities": {"card_id": ["c"], "x": [[[[[[[]]]]]]] * (HALF_MB // 16)}},
        "floats": {**OK, "request_data": {"amount": [0.5] * (HALF_MB // 5)}},
        "short strings": {**OK, "entities": {"card_id": [f"{i % 90 + 10}" for i in range(HALF_MB // 6)]}},
    }
    out = {k: json.dumps(v).encode() for k, v in bodies.items()}
    for name, raw in out.items():
        assert HALF_MB * 0.75 < len(raw) <= 600_000, (name, len(raw))
    return out


SHAPES = [
    "features",
    "entities",
    "entity keys",
    "distinct refs",
    "empty lists",
    "empty objects",
    "nested lists",
    "floats",
    "short strings",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_half_megabyte_request_costs_at_most_10_mb(tmp_path: Path, shape: str) -> None:
    cfg = _config(tmp_path, max_entities=1000)
    body = _half_mb_bodies()[shape]
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        c.post("/v1/features", json=OK)  # warm up: first-request allocations are not the request's cost
        for path in ("/v1/features", "/get-online-features"):
            tracemalloc.start()
            try:
                r = c.post(path, content=body, headers={"content-type": "application/json"})
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # Feast's request has no request_data: it ignores that field and answers
            assert r.status_code in (200, 413, 422), (shape, path, r.status_code, r.text[:300])
            assert peak < 10 * 2**20, f"{shape} on {path}: peak {peak / 2**20:.1f} MB"
            assert len(r.content) < 10_000, f"{shape} on {path}: a {len(r.content)}-byte error body"


# ----------------------------------------------------------------------------- plan cache


def test_the_plan_cache_is_an_lru_bounded_by_entries_and_references() -> None:
    plan: LookupPlan = object()  # type: ignore[assignment]
    cache = PlanCache(max_entries=3, max_refs=10)
    for i in range(3):
        cache.put(("ns", (f"r{i}",), ""), plan)
    assert cache.get(("ns", ("r0",), "")) is plan  # r0 now most recent
    cache.put(("ns", ("r3",), ""), plan)
    assert len(cache) == 3 and cache.get(("ns", ("r1",), "")) is None and cache.get(("ns", ("r0",), "")) is plan
    cache.put(("ns", tuple(f"x{i}" for i in range(9)), ""), plan)  # 12 refs: the two least recent go
    assert len(cache) == 2 and cache.get(("ns", ("r0",), "")) is plan
    cache.put(("ns", tuple(f"y{i}" for i in range(11)), ""), plan)  # bigger than the whole cache: not kept
    assert len(cache) == 2 and cache.get(("ns", tuple(f"y{i}" for i in range(11)), "")) is None


def test_the_server_keeps_a_bounded_number_of_plans(tmp_path: Path) -> None:
    cfg = _config(tmp_path, plan_cache_size=5)
    app = create_app(cfg)
    with TestClient(app) as c:
        for i in range(20):
            refs = ["card_spend_1h@1:spend_1h"] * (i + 1)
            assert c.post("/v1/features", json={**OK, "features": refs}).status_code in (200, 422)
        assert len(app.state.fs.catalog._plans) == 5


# ----------------------------------------------------------------------------- JSON containers


@pytest.mark.parametrize("extra", [0, 1])
def test_json_containers_are_counted_up_to_the_limit_exactly(extra: int) -> None:
    """``serving.max_json_containers`` containers pass, one more is refused: a body no longer than
    the limit is not scanned (it cannot hold more), a longer one is, whatever else it holds."""
    from featurestream.api.errors import PayloadTooLarge
    from featurestream.api.limits import check_body

    limit = 64
    fs = SimpleNamespace(config=SimpleNamespace(serving=ServingConfig(max_json_containers=limit)))
    body = b"[" * (limit // 2) + b"{" * (limit // 2 + extra) + b" " * 100
    if extra:
        with pytest.raises(PayloadTooLarge, match=f"{limit + 1} JSON arrays/objects"):
            check_body(fs, body)
    else:
        check_body(fs, body)
    check_body(fs, b"[" * limit)  # as long as the limit: all of it may be containers
