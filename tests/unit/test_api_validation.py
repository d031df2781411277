"""The app without Redis (a closed port): validation 4xx, auth, degraded answers, and fuzzing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestream.api.main import create_app
from featurestream.config import ApiKey, Config
from tests.support.registry import demo_registry


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("api")
    demo_registry(tmp / "state" / "registry.json", "default")
    cfg = Config(
        root=tmp,
        state_dir=str(tmp / "state"),
        redis={"url": _dead_url()},
        serving={"deadline_ms": 50, "max_entities": 10},
    )
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


OK = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}}


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/features", {**OK, "features": ["nope:x"]}, 422, "unknown feature view 'nope'"),
        ("/v1/features", {**OK, "features": ["card_spend_1h:nope"]}, 422, "no feature 'nope'"),
        ("/v1/features", {**OK, "features": ["no_colon"]}, 422, "view:feature"),
        ("/v1/features", {**OK, "features": ["card_spend_1h@x:spend_1h"]}, 422, "version"),
        ("/v1/features", {**OK, "entities": {"user_id": ["u"]}}, 422, "missing entity key"),
        ("/v1/features", {**OK, "entities": {"card_id": ["c"], "x": ["y"]}}, 422, "unknown entity key"),
        ("/v1/features", {**OK, "entities": {"card_id": []}}, 422, "no entities"),
        ("/v1/features", {**OK, "entities": {"card_id": [None]}}, 422, "entities.card_id"),
        ("/v1/features", {**OK, "entities": {"card_id": [f"c{i}" for i in range(11)]}}, 413, "limit is 10"),
        ("/v1/features", {**OK, "feature_service": "fraud_model"}, 422, "exactly one"),
        ("/v1/features", {**OK, "surprise": 1}, 422, "surprise"),
        ("/v1/features", {**OK, "deadline_ms": -1}, 422, "deadline_ms"),
        ("/get-online-features", {"entities": {"card_id": ["c"]}}, 422, "exactly one"),
        ("/get-online-features", {**OK, "entities": {"card_id": [1.5]}}, 422, "strings or integers"),
        ("/get-online-features", {**OK, "entities": {"card_id": ["a"], "x": ["a", "b"]}}, 422, "unknown entity"),
        (
            "/get-online-features",
            {"features": ["card_spend_1h@1:spend_1h", "card_spend_1h@2:spend_1h"], "entities": {"card_id": ["c"]}},
            422,
            "full_feature_names",
        ),
        ("/get-online-features", {"feature_service": "nope", "entities": {"card_id": ["c"]}}, 404, "nope"),
    ],
)
def test_bad_requests_name_the_problem(
    client: TestClient, path: str, body: dict[str, Any], status: int, needle: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert needle in r.text


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/v1/features", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "json" in r.text.lower()


def test_redis_down_answers_defaults_in_time(client: TestClient) -> None:
    r = client.post("/v1/features", json=OK)
    f = r.json()["results"][0]["features"]["card_spend_1h@1:spend_1h"]
    assert f["status"] == "UNAVAILABLE" and f["value"] == 0.0 and f["default_applied"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").json() == {"status": "ok"}


def test_monitoring_reports_redis_down(client: TestClient) -> None:
    # a dependency outage, not a bug: 503 with a body naming the Redis error (like /readyz), never a 500
    for path in ("/v1/monitoring/freshness", "/v1/monitoring/views/card_spend_1h/audit"):
        r = client.get(path)
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["code"] == "store_unavailable" and "ConnectionError" in err["message"], r.text
    # an unknown view is still the caller's mistake
    assert client.get("/v1/monitoring/freshness", params={"view": "nope"}).status_code == 404


def test_auth(tmp_path: Path) -> None:
    demo_registry(tmp_path / "state" / "registry.json", "team_a")
    cfg = Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace="team_a",
        redis={"url": _dead_url()},
        serving={"api_keys": [ApiKey(name="a", key="s3cret", namespace="team_a")]},
    )
    with TestClient(create_app(cfg)) as c:
        assert c.get("/v1/feature-services").status_code == 401
        assert c.get("/v1/feature-services", headers={"x-api-key": "nope"}).status_code == 401
        assert c.get("/v1/feature-services", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/v1/feature-views?namespace=team_b", headers={"x-api-key": "s3cret"}).status_code == 403
        r = c.post("/v1/features", json={**OK, "namespace": "team_b"}, headers={"x-api-key": "s3cret"})
        assert r.status_code == 403 and "s3cret" not in r.text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)
_refs = st.sampled_from(
    [
        "card_spend_1h:spend_1h",
        "card_spend_1h@2:avg_amount_1h",
        "on_demand:embedding_dot",
        "on_demand:amount_over_avg_spend",
        "user_clicks_10m:clicks_10m",
        "x:y",
        "@:",
        ":",
    ]
)
_keys = st.sampled_from(["card_id", "user_id", "amount", "user_embedding", "item_embedding", "zzz"])
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "features": st.lists(_refs, max_size=4) | _json,
        "feature_service": st.sampled_from(["fraud_model", "ranking_model@1", "fraud_model@x", "nope"]) | _json,
        "entities": st.dictionaries(_keys, st.lists(_json | st.text(max_size=4), max_size=3), max_size=3) | _json,
        "request_data": st.dictionaries(_keys, st.lists(_json, max_size=3), max_size=2) | _json,
        "full_feature_names": _json,
        "deadline_ms": _json,
        "namespace": st.sampled_from(["default", "other"]) | _json,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/features", "/get-online-features"]), body=_bodies | _json)
def test_fuzz_lookups_never_500(client: TestClient, path: str, body: Any) -> None:
    r = client.post(path, json=body)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/json")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_openapi_get_routes_never_500(client: TestClient, data: st.DataObject) -> None:
    spec = client.get("/openapi.json").json()
    paths = [p for p, ops in spec["paths"].items() if "get" in ops]
    template = data.draw(st.sampled_from(paths))
    from urllib.parse import quote

    path = template.replace("{name}", quote(data.draw(st.text(min_size=1, max_size=12)), safe=""))
    params = data.draw(st.dictionaries(st.sampled_from(["namespace", "version"]), st.text(max_size=6), max_size=2))
    r = client.get(path, params=params)
    if r.status_code == 503 and "503" in spec["paths"][template]["get"]["responses"]:
        # Redis is down in this fixture: routes that document a 503 (/readyz, the monitoring routes that
        # read the online store) may report that outage, with a JSON body naming it; nothing else may.
        body = r.json()
        if template == "/readyz":
            assert body["redis"].startswith("down"), r.text
        else:
            assert body["error"]["code"] == "store_unavailable" and "Redis" in body["error"]["message"], r.text
    else:
        assert r.status_code < 500, r.text
