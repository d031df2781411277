"""``featurestream.Client``: request shape, outputs, and the retry rule (jitter, Retry-After, what is
never retried). The server is an httpx MockTransport; the real server is exercised in
tests/integration/test_feast_sdk.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest

from featurestream.client import Client, ClientError

ANSWER = {
    "metadata": {"feature_names": ["card_id", "spend_1h"]},
    "results": [
        {"values": ["c1", "nope"], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["", ""]},
        {"values": [12.5, None], "statuses": ["PRESENT", "NOT_FOUND"], "event_timestamps": ["", ""]},
    ],
}


class Server:
    """Answers each request with the next of ``script`` (a response or an exception); records requests."""

    def __init__(self, *script: httpx.Response | Exception) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step


def ok() -> httpx.Response:
    return httpx.Response(200, json=ANSWER)


def unavailable(retry_after: str | None = "1") -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    body = {"error": {"code": 503, "name": "StoreUnavailable", "message": "redis down", "hint": "wait"}}
    return httpx.Response(503, json=body, headers=headers)


def client(server: Server, sleeps: list[float], **kw: Any) -> Client:
    sleep: Callable[[float], None] = sleeps.append
    return Client("http://fs.test", transport=httpx.MockTransport(server), sleep=sleep, rng=random.Random(7), **kw)


def test_request_shape_headers_and_dict_output() -> None:
    server, sleeps = Server(ok()), list[float]()
    with client(server, sleeps, api_key="k1", namespace="risk") as c:
        out = c.get_online_features(["card_spend_1h:spend_1h"], {"card_id": ("c1", "nope")})
    assert out == {"card_id": ["c1", "nope"], "spend_1h": [12.5, None]}
    (req,) = server.requests
    assert req.url.path == "/get-online-features"
    assert req.headers["authorization"] == "Bearer k1"
    assert req.headers["x-featurestream-namespace"] == "risk"
    assert json.loads(req.content) == {
        "entities": {"card_id": ["c1", "nope"]},
        "full_feature_names": False,
        "features": ["card_spend_1h:spend_1h"],
    }
    assert sleeps == []


def test_feature_service_statuses_and_table_outputs() -> None:
    server, sleeps = Server(ok()), list[float]()
    with client(server, sleeps) as c:
        frame = c.get_online_features(
            feature_service="fraud_model", entities={"card_id": ["c1", "nope"]}, include_statuses=True, output="pandas"
        )
        table = c.get_online_features(
            feature_service="fraud_model", entities={"card_id": ["c1", "nope"]}, output="arrow"
        )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["card_id", "card_id__status", "spend_1h", "spend_1h__status"]
    assert frame["spend_1h__status"].tolist() == ["PRESENT", "NOT_FOUND"]
    assert isinstance(table, pa.Table) and table.column("spend_1h").to_pylist() == [12.5, None]
    assert json.loads(server.requests[0].content)["feature_service"] == "fraud_model"


def test_503_is_retried_no_sooner_than_retry_after() -> None:
    server, sleeps = Server(unavailable("2"), unavailable("1"), ok()), list[float]()
    with client(server, sleeps, retries=3) as c:
        assert c.get_online_features(["v:f"], {"card_id": ["c1"]})["spend_1h"] == [12.5, None]
    assert len(server.requests) == 3
    assert sleeps[0] >= 2.0 and sleeps[1] >= 1.0


def test_connection_errors_are_retried_with_bounded_jitter() -> None:
    refused = httpx.ConnectError("connection refused")
    server, sleeps = Server(refused, refused, refused, ok()), list[float]()
    with client(server, sleeps, retries=3, backoff_s=0.1, max_backoff_s=0.25) as c:
        c.get_online_features(["v:f"], {"card_id": ["c1"]})
    assert len(sleeps) == 3
    # full jitter: uniform(0, min(max_backoff, backoff * 2**attempt))
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2 and 0 <= sleeps[2] <= 0.25
    assert len(set(sleeps)) == 3  # jittered, not a fixed schedule


def test_gives_up_after_the_retries_with_the_servers_message() -> None:
    server, sleeps = Server(unavailable(None)), list[float]()
    with client(server, sleeps, retries=2) as c, pytest.raises(ClientError) as err:
        c.get_online_features(["v:f"], {"card_id": ["c1"]})
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert err.value.status == 503 and err.value.name == "StoreUnavailable"
    assert "after 3 attempts: redis down" in str(err.value) and "fix: wait" in str(err.value)


def test_no_connection_at_all_names_the_fix() -> None:
    server, sleeps = Server(httpx.ConnectError("refused")), list[float]()
    with client(server, sleeps, retries=1) as c, pytest.raises(ClientError, match="found no connection after 2") as err:
        c.health()
    assert err.value.status is None and "featurestream serve" in str(err.value)


def test_client_errors_are_not_retried() -> None:
    body = {"error": {"code": 404, "name": "NotFound", "message": "unknown feature view 'x'", "hint": "run ls"}}
    server, sleeps = Server(httpx.Response(404, json=body)), list[float]()
    with client(server, sleeps) as c, pytest.raises(ClientError, match="404 NotFound: unknown feature view") as err:
        c.get_online_features(["x:f"], {"card_id": ["c1"]})
    assert len(server.requests) == 1 and sleeps == [] and err.value.hint == "run ls"


def test_bad_calls_fail_before_any_request() -> None:
    server, sleeps = Server(ok()), list[float]()
    with client(server, sleeps) as c:
        with pytest.raises(ClientError, match="exactly one of features or feature_service, found both"):
            c.get_online_features(["v:f"], {"k": [1]}, feature_service="s")
        with pytest.raises(ClientError, match="found neither"):
            c.get_online_features(entities={"k": [1]})
        with pytest.raises(ClientError, match="expected entities"):
            c.get_online_features(["v:f"], {})
    assert server.requests == []
    with pytest.raises(ValueError, match="retries must be >= 0"):
        Client(retries=-1)


def test_retry_after_as_an_http_date() -> None:
    from featurestream.client import _retry_after_s

    assert _retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0) == pytest.approx(10.0)
    assert _retry_after_s("soon", 0.0) == 0.0 and _retry_after_s(None, 0.0) == 0.0


def test_importing_the_client_needs_no_pyflink_or_duckdb() -> None:
    code = (
        "import sys, featurestream; featurestream.Client; "
        "print(any(m.split('.')[0] in ('pyflink', 'duckdb') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_get_historical_features_is_the_training_set_path(tmp_path: Path) -> None:
    """Same rows as FeatureStore.get_training_set: the PIT join, the ttl rule and the defaults."""
    from datetime import UTC, datetime, timedelta

    from featurestream.config import load_config
    from featurestream.offline import write_rows
    from featurestream.registry import Registry
    from tests.support.views import make_view

    t0 = datetime(2024, 2, 1, 12, tzinfo=UTC)
    view = make_view("user_clicks", ["user_id"], {"clicks": "BIGINT"}, ttl=timedelta(hours=1), defaults={"clicks": 0})
    config = load_config(tmp_path, env={})
    Registry.open(config).save(views=[view])
    write_rows(config, view, [{"user_id": "u", "feature_time": t0, "clicks": 3}])
    labels = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "x"],
            "event_timestamp": [t0 - timedelta(minutes=1), t0, t0 + timedelta(hours=2), t0],
        }
    )
    server, sleeps = Server(ok()), list[float]()
    with client(server, sleeps, repo=tmp_path) as c:
        frame = c.get_historical_features(labels, ["user_clicks:clicks"])
        table = c.get_historical_features(labels, ["user_clicks:clicks"], output="arrow")
    assert isinstance(frame, pd.DataFrame)
    # before the row: default; at it: 3; past the 1 h ttl: default; unknown entity: default
    assert frame["clicks"].tolist() == [0, 3, 0, 0]
    assert isinstance(table, pa.Table) and table.column("clicks").to_pylist() == [0, 3, 0, 0]
    assert server.requests == []  # local: no HTTP
