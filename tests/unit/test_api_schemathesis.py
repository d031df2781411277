"""Schemathesis over the app's own OpenAPI schema (issue 15 item 14): every route, monitoring
included, with a bounded number of generated requests each. No answer is a 500, every 4xx names
its problem (``error.message``), and a 503 only ever reports a dependency outage.

The app runs without services: Redis, Kafka and Flink point at closed ports, so store-backed routes
answer degraded values or a documented 503 -- never a hang and never a bug.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from featurestream.api.main import create_app
from featurestream.config import Config
from tests.support.registry import demo_registry

EXAMPLES_PER_ROUTE = 25


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    demo_registry(tmp / "state" / "registry.json", "default")
    cfg = Config(
        root=tmp,
        state_dir=str(tmp / "state"),
        redis={"url": f"redis://127.0.0.1:{_closed_port()}/0"},
        kafka={"bootstrap_servers": f"127.0.0.1:{_closed_port()}"},
        flink={"rest_url": f"http://127.0.0.1:{_closed_port()}"},
        offline={"path": str(tmp / "offline")},
        serving={"deadline_ms": 50, "max_entities": 20},
    )
    application = create_app(cfg)
    with TestClient(application):  # runs the lifespan: app.state holds the catalog, reader, keys
        yield application


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _routes() -> list[tuple[str, str, GenerationMode]]:
    """Every documented (method, path) of the app (its routes, not its state: no lifespan runs), with
    valid inputs, and with invalid ones where the route takes a body, path or query input."""
    spec = create_app(Config()).openapi()
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            # a header can only be some string, so a route whose only inputs are headers has no invalid input
            if op.get("requestBody") or any(q["in"] != "header" for q in op.get("parameters", [])):
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return out


ROUTES = _routes()


def test_the_fuzz_covers_every_documented_route() -> None:
    paths = {p for _, p, _ in ROUTES}
    assert {"/get-online-features", "/v1/features", "/readyz"} <= paths
    assert any(p.startswith("/v1/monitoring/") for p in paths)


@pytest.mark.parametrize(("method", "path", "mode"), ROUTES, ids=[f"{m} {p} {g.value}" for m, p, g in ROUTES])
def test_no_route_answers_500_and_every_4xx_names_its_problem(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        assert response.status_code != 500, where
        if 400 <= response.status_code < 500:
            error = response.json()["error"]
            assert error["message"] and error["name"] and error["code"], where
        if response.status_code == 503:
            body = response.json()
            outage = (
                body.get("redis", "").startswith("down") or body.get("error", {}).get("code") == "store_unavailable"
            )
            assert outage, where

    check()
