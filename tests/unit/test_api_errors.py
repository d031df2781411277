"""The error rule of featurestream.api.errors: the caller's mistake is a 4xx, a store outage a 503 with
Retry-After, and anything else a bug: 500 ``InternalError``, logged with its traceback, never a 503."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import exceptions as redis_errors

from featurestream.api.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, StoreUnavailable, Unauthorized
from featurestream.api.handlers import install_handlers
from featurestream.api.main import create_app
from featurestream.config import Config
from featurestream.online.errors import OnlineStoreUnavailable
from tests.support.registry import demo_registry

RAISES: dict[str, BaseException] = {
    "bug": KeyError("secret-internal-detail"),
    "redis-bug": redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    "bad": BadRequest("entity 'card_id' values must be strings", hint="send strings"),
    "unauthorized": Unauthorized("missing API key"),
    "forbidden": Forbidden("this API key may not read namespace 'b'"),
    "missing": NotFound("no feature view 'nope'", hint="list them with GET /v1/feature-views"),
    "too-large": PayloadTooLarge("11 entities in one request, the limit is 10"),
    "down": StoreUnavailable("the online store (Redis) is unavailable"),
    "store-down": OnlineStoreUnavailable("cannot write to Redis: refused", hint="is the Redis server up?"),
    "redis-down": redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
    "redis-slow": redis_errors.TimeoutError("Timeout reading from socket"),
    "deadline": TimeoutError(),
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_handlers(app)

    @app.get("/raise/{what}")
    async def raise_(what: str) -> dict[str, Any]:
        raise RAISES[what]

    @app.get("/sync/{what}")
    def raise_sync(what: str) -> dict[str, Any]:  # a plain def route runs in the thread pool
        raise RAISES[what]

    @app.get("/typed")
    async def typed(n: int) -> dict[str, Any]:
        return {"n": n}

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("route", ["raise", "sync"])
@pytest.mark.parametrize("what", ["bug", "redis-bug"])
def test_a_bug_is_500_logged_with_its_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, route: str, what: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="featurestream.api.handlers"):
        r = client.get(f"/{route}/{what}")
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["code"] == "internal_error" and err["name"] == "InternalError"
    assert "secret-internal-detail" not in r.text and "WRONGTYPE" not in r.text  # no internals leak
    assert "retry-after" not in r.headers  # not an outage: retrying will not help
    logged = [rec for rec in caplog.records if rec.exc_info and rec.exc_info[1] is RAISES[what]]
    assert logged, "the bug must be logged with its traceback"
    assert err["incident"] in logged[0].getMessage()


@pytest.mark.parametrize(
    ("what", "status", "name", "code"),
    [
        ("bad", 422, "BadRequest", "invalid_request"),
        ("unauthorized", 401, "Unauthorized", "unauthorized"),
        ("forbidden", 403, "Forbidden", "forbidden"),
        ("missing", 404, "NotFound", "not_found"),
        ("too-large", 413, "PayloadTooLarge", "too_many_entities"),
        ("down", 503, "StoreUnavailable", "store_unavailable"),
    ],
)
def test_an_expected_error_keeps_its_status_and_names_itself(
    client: TestClient, caplog: pytest.LogCaptureFixture, what: str, status: int, name: str, code: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="featurestream.api.handlers"):
        r = client.get(f"/raise/{what}")
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["name"], err["code"]) == (name, code)
    assert err["message"] == RAISES[what].message  # type: ignore[attr-defined]
    assert err.get("hint") == RAISES[what].hint  # type: ignore[attr-defined]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]  # not a bug: no traceback


@pytest.mark.parametrize("route", ["raise", "sync"])
@pytest.mark.parametrize("what", ["down", "store-down", "redis-down", "redis-slow", "deadline"])
def test_a_store_outage_is_503_with_retry_after(client: TestClient, route: str, what: str) -> None:
    r = client.get(f"/{route}/{what}")
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    err = r.json()["error"]
    assert (err["name"], err["code"]) == ("StoreUnavailable", "store_unavailable")
    if what.startswith("redis"):
        assert type(RAISES[what]).__name__ in err["message"], r.text


def test_bad_input_and_unknown_paths_are_4xx(client: TestClient) -> None:
    r = client.get("/typed", params={"n": "x"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["name"] == "RequestValidationError" and err["problems"][0]["field"] == "query.n"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]["name"] == "HTTPException"


# ---------------------------------------------------------------- the app itself


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


OK = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}}


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    demo_registry(tmp_path / "state" / "registry.json", "default")
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": _dead_url()})
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


def test_app_reports_redis_outage_as_503_with_retry_after(app_client: TestClient) -> None:
    r = app_client.get("/v1/monitoring/freshness")
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
    assert r.json()["error"]["name"] == "StoreUnavailable"
    ready = app_client.get("/readyz")
    assert ready.status_code == 503 and int(ready.headers["retry-after"]) >= 1


def test_lookup_degrades_on_an_outage_but_a_store_bug_is_500(
    app_client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = app_client.app.state.fs  # type: ignore[attr-defined]
    # Redis down: a degraded answer, not an error (a generous deadline: on a cold process the first
    # connect may take longer than the default one, which would make it DEADLINE_EXCEEDED instead)
    r = app_client.post("/v1/features", json=OK, headers={"x-deadline-ms": "10000"})
    assert r.status_code == 200 and r.json()["metadata"]["degraded"] == "UNAVAILABLE", r.text

    async def wrong_type(groups: Any, timeout_s: float | None = None) -> Any:
        raise redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    monkeypatch.setattr(state.store("default").reader, "read", wrong_type)
    state.store("default").ok()  # close the breaker opened by the outage above
    with caplog.at_level(logging.ERROR, logger="featurestream.api.handlers"):
        for path in ("/v1/features", "/get-online-features"):
            r = app_client.post(path, json=OK)
            assert r.status_code == 500 and r.json()["error"]["name"] == "InternalError", r.text
    assert any(rec.exc_info and isinstance(rec.exc_info[1], redis_errors.ResponseError) for rec in caplog.records)
