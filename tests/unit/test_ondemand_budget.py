"""On-demand functions off the event loop, within one budget per request (issue 15 item 9)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.budget import run_with_budget
from featurestream.config import Config
from featurestream.ondemand import OnDemandRegistry, on_demand
from featurestream.semantics import Status
from tests.support.registry import demo_registry


@pytest.mark.timeout(60)
def test_a_runaway_function_is_interrupted_on_a_worker_thread() -> None:
    def spin(x: int) -> int:
        while True:
            x += 1

    out: list[tuple[Any, Status]] = []
    t = threading.Thread(target=lambda: out.append(run_with_budget(spin, [1], 50)))
    t.start()
    t.join(30)
    assert not t.is_alive(), "the budget did not interrupt the function"
    assert out == [(None, Status.TIMEOUT)]


def test_a_function_within_budget_on_a_worker_thread_is_not_interrupted_later() -> None:
    out: list[tuple[Any, Status]] = []

    def work() -> None:
        out.append(run_with_budget(lambda x: x + 1, [1], 50))
        time.sleep(0.2)  # past the budget: a stale watchdog must not fire into this thread
        out.append(run_with_budget(lambda x: x * 2, [4], 50))

    t = threading.Thread(target=work)
    t.start()
    t.join(30)
    assert out == [(2, Status.PRESENT), (8, Status.PRESENT)]


def test_the_budget_is_per_request_not_per_row() -> None:
    calls: list[int] = []

    @on_demand(name="slow", inputs=["x"], default=-1.0, budget_ms=60)
    def slow(x: int) -> float:
        calls.append(x)
        time.sleep(0.03)  # half the budget per row
        return float(x)

    values, statuses = slow.evaluate_many([[i] for i in range(20)])
    assert len(values) == len(statuses) == 20
    assert len(calls) <= 3  # 60 ms buys two 30 ms calls and the start of a third, never 20
    assert statuses.count(Status.TIMEOUT) >= 17
    assert all(v == -1.0 for v, s in zip(values, statuses, strict=True) if s is Status.TIMEOUT)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_server_runs_functions_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool]] = []

    @on_demand(name="where", inputs=["amount"], default=0.0, budget_ms=1000)
    def where(amount: float) -> float:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        seen.append((on_loop, threading.current_thread() is threading.main_thread()))
        return amount

    @on_demand(name="spin", inputs=["amount"], default=-1.0, budget_ms=30)
    def spin(amount: float) -> float:
        while True:
            amount += 1

    monkeypatch.setattr("featurestream.api.main.load_udfs", lambda cfg: OnDemandRegistry([where, spin]))
    demo_registry(tmp_path / "state" / "registry.json", "default")
    cfg = Config(
        root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    body = {
        "features": ["on_demand:where", "on_demand:spin"],
        "entities": {},
        "request_data": {"amount": [1.0, 2.0, 3.0]},
    }
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/features", json=body)
    assert r.status_code == 200, r.text
    assert seen and all(not on_loop for on_loop, _ in seen), seen
    results = r.json()["results"]
    assert [row["features"]["on_demand:where"]["value"] for row in results] == [1.0, 2.0, 3.0]
    assert {row["features"]["on_demand:spin"]["status"] for row in results} == {"TIMEOUT"}


def test_values_beyond_json_from_a_function_are_served_on_both_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An on-demand function may return numpy values and dicts with non-string keys: the answer
    serializes them (orjson's numpy and non-string-key modes, which only such plans pay for)."""
    import numpy as np

    @on_demand(name="odd", inputs=["amount"], default=None, budget_ms=1000)
    def odd(amount: float) -> Any:
        return {1: np.float32(amount), "v": np.arange(2)}

    monkeypatch.setattr("featurestream.api.main.load_udfs", lambda cfg: OnDemandRegistry([odd]))
    demo_registry(tmp_path / "state" / "registry.json", "default")
    cfg = Config(
        root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    with TestClient(create_app(cfg)) as c:
        body = {"features": ["on_demand:odd"], "entities": {}, "request_data": {"amount": [2.5]}}
        native = c.post("/v1/features", json=body)
        feast = c.post("/get-online-features", json={"features": ["on_demand:odd"], "entities": {"amount": [2.5]}})
    assert native.status_code == 200, native.text
    assert native.json()["results"][0]["features"]["on_demand:odd"]["value"] == {"1": 2.5, "v": [0, 1]}
    assert feast.status_code == 200, feast.text
    assert feast.json()["results"][0]["values"] == [{"1": 2.5, "v": [0, 1]}]
