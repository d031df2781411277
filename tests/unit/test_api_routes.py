"""Every route documents its answer (a response model, or a documented 200 body), the documented
models match what the routes render, and the lookup hot paths never validate their response."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from featurestream.api.main import create_app
from featurestream.config import Config
from tests.support.registry import demo_registry


def _api_routes(app: Any) -> list[Any]:
    """Every APIRoute of ``app`` as the app serves it (with its router's ``responses`` merged in)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.16x includes lazily
    if contexts is None:
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c for c in contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def _documented_200(route: Any) -> bool:
    doc = route.responses.get(200) or route.responses.get("200") or {}
    return "model" in doc or any("schema" in c for c in doc.get("content", {}).values())


def test_every_route_declares_its_response() -> None:
    routes = _api_routes(create_app())
    assert len(routes) > 10
    missing = [r.path for r in routes if r.response_model is None and not _documented_200(r)]
    assert not missing, f"routes without response_model= or responses={{200: ...}}: {missing}"


def test_openapi_documents_every_body_and_the_error_shape() -> None:
    spec = create_app().openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = op["responses"]["200"]
            schemas = [c.get("schema") for c in ok.get("content", {}).values()]
            assert schemas and all(schemas), f"{method.upper()} {path}: 200 body undocumented"
            assert op["responses"]["500"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }
            if "422" in op["responses"]:  # ours, not FastAPI's HTTPValidationError
                assert "ErrorOut" in str(op["responses"]["422"]), f"{method.upper()} {path}"


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("api-routes")
    demo_registry(tmp / "state" / "registry.json", "default")
    cfg = Config(root=tmp, state_dir=str(tmp / "state"), redis={"url": _dead_url()}, serving={"deadline_ms": 50})
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


def _model(client: TestClient, method: str, path: str) -> Any:
    for r in _api_routes(client.app):
        if r.path == path and method in r.methods:
            return r.response_model
    raise AssertionError(f"no route {method} {path}")


LOOKUPS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/features", {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1", "c2"]}}),
    ("/v1/features", {"feature_service": "fraud_model", "entities": {"card_id": ["c1"]}, "request_data": {}}),
    ("/get-online-features", {"features": ["card_spend_1h:spend_1h"], "entities": {"card_id": ["c1"]}}),
]


@pytest.mark.parametrize(("path", "body"), LOOKUPS)
def test_lookups_match_their_model_without_validating_per_request(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]
) -> None:
    def no_validation(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the lookup hot path must return its Response, not have FastAPI validate it")

    monkeypatch.setattr(fastapi.routing, "serialize_response", no_validation)
    r = client.post(path, json=body)
    if r.status_code == 422 and "request field" in r.text:
        pytest.skip("the service needs request data")  # the body shape is covered by the other cases
    assert r.status_code == 200, r.text
    TypeAdapter(_model(client, "POST", path)).validate_python(r.json())


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/healthz", "/healthz"),
        ("/v1/feature-views", "/v1/feature-views"),
        ("/v1/feature-views/card_spend_1h", "/v1/feature-views/{name}"),
        ("/v1/feature-services", "/v1/feature-services"),
        ("/v1/feature-services/fraud_model", "/v1/feature-services/{name}"),
        ("/v1/on-demand-features", "/v1/on-demand-features"),
        ("/v1/monitoring/catalog", "/v1/monitoring/catalog"),
        ("/v1/monitoring/feature-log", "/v1/monitoring/feature-log"),
    ],
)
def test_rendered_bodies_match_their_model(client: TestClient, url: str, path: str) -> None:
    r = client.get(url)
    assert r.status_code == 200, r.text
    TypeAdapter(_model(client, "GET", path)).validate_python(r.json())


def test_readyz_body_matches_its_model_when_not_ready(client: TestClient) -> None:
    r = client.get("/readyz")  # Redis is down in this fixture
    assert r.status_code == 503, r.text
    TypeAdapter(_model(client, "GET", "/readyz")).validate_python(r.json())
