"""Admission control (featurestream.api.admission): a saturated worker sheds with 503 + Retry-After and
a body naming the reason; a request whose deadline passed while it was queued is shed; queueing never
turns into a 200 with DEADLINE_EXCEEDED values. The store is a stand-in reader (no Redis, no timing)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from featurestream.api.admission import ARRIVAL_KEY, Admission
from featurestream.api.errors import Overloaded
from featurestream.api.main import create_app
from featurestream.config import Config
from tests.support.registry import demo_registry, demo_row

FEAST = {"features": ["card_spend_1h@1:spend_1h", "card_spend_1h@1:txn_count_1h"], "entities": {"card_id": ["c1"]}}
NATIVE = {"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c1"]}}
LONG = {"x-deadline-ms": "60000"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # no read in these tests may miss its deadline on a slow machine


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


class FakeReader:
    """Answers every key with a fresh row, after ``gate`` opens; counts calls."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def read(self, keys: list[str], timeout_s: float | None = None) -> list[bytes]:
        self.calls += 1
        await self.gate.wait()
        now = int(time.time() * 1000)
        return [demo_row(k, b"7.5", now) for k in keys]


@asynccontextmanager
async def served(
    tmp_path: Path, wrap: Callable[[Any], Any] | None = None, **serving: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any, FakeReader]]:
    demo_registry(tmp_path / "state" / "registry.json", "default")
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": _dead_url()}, serving=serving)
    app = create_app(cfg)
    async with app.router.lifespan_context(app):
        fake = FakeReader()
        app.state.fs.store("default").reader.read = fake.read
        transport = httpx.ASGITransport(app=wrap(app) if wrap else app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app.state.fs, fake


async def _until(cond: Callable[[], bool]) -> None:
    for _ in range(10_000):  # loop turns, not time: the requests above only need a few
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def _shed(r: httpx.Response, reason: str) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    err = r.json()["error"]
    assert (err["code"], err["name"], err["reason"]) == ("overloaded", "Overloaded", reason), err
    assert err["message"] and err["hint"]


@pytest.mark.anyio
async def test_a_saturated_worker_answers_503_with_retry_after(tmp_path: Path) -> None:
    async with served(tmp_path, max_in_flight=1) as (client, state, fake):
        first = asyncio.create_task(client.post("/get-online-features", json=FEAST, headers=LONG))
        await _until(lambda: state.admission.in_flight == 1)
        _shed(await client.post("/get-online-features", json=FEAST, headers=LONG), "queue_full")
        _shed(await client.post("/v1/features", json={**NATIVE, "deadline_ms": 60_000}), "queue_full")
        assert fake.calls == 1  # the shed requests never reached the store
        fake.gate.set()
        r = await first
        assert r.status_code == 200, r.text
        assert r.json()["results"][1] == {**r.json()["results"][1], "values": [7.5], "statuses": ["PRESENT"]}
        assert state.admission.in_flight == 0
        assert (await client.post("/get-online-features", json=FEAST, headers=LONG)).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'featurestream_http_errors_total{code="overloaded"} 2.0' in metrics


@pytest.mark.anyio
async def test_a_request_whose_deadline_passed_while_queued_is_shed(tmp_path: Path) -> None:
    def queued_for_a_second(app: Any) -> Any:  # as if the request had waited 1 s for the event loop
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope[ARRIVAL_KEY] = time.perf_counter() - 1.0
            await app(scope, receive, send)

        return wrapped

    async with served(tmp_path, queued_for_a_second, deadline_ms=50) as (client, _, fake):
        fake.gate.set()
        _shed(await client.post("/get-online-features", json=FEAST), "deadline")
        _shed(await client.post("/v1/features", json=NATIVE), "deadline")
        _shed(await client.post("/v1/features", json={**NATIVE, "deadline_ms": 999}), "deadline")
        assert fake.calls == 0
        # a deadline longer than the wait is admitted and answered with data
        r = await client.post("/get-online-features", json=FEAST, headers={"x-deadline-ms": "30000"})
        assert r.status_code == 200 and r.json()["results"][1]["statuses"] == ["PRESENT"], r.text
        r = await client.post("/v1/features", json={**NATIVE, "deadline_ms": 30_000})
        assert r.status_code == 200 and r.json()["metadata"]["degraded"] is None, r.text


@pytest.mark.anyio
async def test_queueing_never_answers_200_with_deadline_exceeded(tmp_path: Path) -> None:
    async with served(tmp_path, max_in_flight=4) as (client, state, fake):
        tasks = [asyncio.create_task(client.post("/get-online-features", json=FEAST, headers=LONG)) for _ in range(20)]
        await _until(lambda: state.admission.in_flight == 4 and sum(t.done() for t in tasks) == 16)
        fake.gate.set()
        answers = await asyncio.gather(*tasks)
    ok = [r for r in answers if r.status_code == 200]
    assert len(ok) == 4 and all(r.json()["results"][1]["statuses"] == ["PRESENT"] for r in ok)
    assert all("x-featurestream-degraded" not in r.headers for r in ok)
    for r in answers:
        if r.status_code != 200:
            _shed(r, "queue_full")


@pytest.mark.anyio
async def test_a_degraded_answer_says_which_values_and_why(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, state, _):
        state.store("default").reader.read = _refused
        r = await client.post("/v1/features", json=NATIVE)
        meta, value = r.json()["metadata"], r.json()["results"][0]["features"]["card_spend_1h@1:spend_1h"]
        assert r.status_code == 200 and meta["degraded"] == "UNAVAILABLE" and "unavailable" in meta["degraded_reason"]
        assert value == {**value, "status": "UNAVAILABLE", "default_applied": True}
        r = await client.post("/get-online-features", json=FEAST)  # the breaker is open now: said so
        assert r.json()["results"][1]["statuses"] == ["INVALID"]
        assert r.headers["x-featurestream-degraded"] == "UNAVAILABLE"
        assert "marked down" in r.headers["x-featurestream-degraded-reason"]


async def _refused(groups: Any, timeout_s: float | None = None) -> Any:
    raise ConnectionRefusedError("refused")


@pytest.mark.anyio
async def test_the_fast_lane_and_the_route_answer_alike(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, _, fake):
        fake.gate.set()
        fast = await client.post("/get-online-features", json={**FEAST, "full_feature_names": False}, headers=LONG)
        # pydantic accepts "false" for a bool, the fast lane does not: this one takes the FastAPI route
        routed = await client.post("/get-online-features", json={**FEAST, "full_feature_names": "false"}, headers=LONG)
        assert fast.status_code == routed.status_code == 200
        strip = [{k: v for k, v in r.items() if k != "event_timestamps"} for r in fast.json()["results"]]
        assert strip == [{k: v for k, v in r.items() if k != "event_timestamps"} for r in routed.json()["results"]]
        assert fast.json()["metadata"] == routed.json()["metadata"]
        bad = await client.post("/v1/features", json={**NATIVE, "surprise": 1})  # extra field: pydantic's 422
        assert bad.status_code == 422 and bad.json()["error"]["name"] == "RequestValidationError"


def test_admission_rules() -> None:
    adm = Admission(max_in_flight=2)
    now = time.perf_counter()
    assert 0 < adm.admit(now, now, 10.0) <= 10.0  # a fresh request: its whole deadline is left
    adm.observe_read(5.0)
    assert adm.read_s > 0
    with pytest.raises(Overloaded) as exc:  # another in flight and less left than a read takes
        adm.admit(now, now, adm.read_s / 2)
    assert exc.value.reason == "deadline"
    with pytest.raises(Overloaded) as exc:  # waited longer than its deadline before the app saw it
        adm.admit(now - 2.0, now, 1.0)
    assert exc.value.reason == "deadline"
    adm.admit(now, now, 3600.0)
    with pytest.raises(Overloaded) as exc:
        adm.admit(now, now, 3600.0)
    assert exc.value.reason == "queue_full" and exc.value.details() == {"reason": "queue_full"}
    adm.release()
    adm.release()
    assert adm.in_flight == 0
    assert adm.admit(now, now, adm.read_s / 2) <= adm.read_s / 2  # alone, a short deadline is still tried


@pytest.mark.anyio
async def test_a_stored_value_that_is_not_json_costs_its_row_not_the_request(tmp_path: Path) -> None:
    """A hand-written Redis value (not JSON) gives that entity's row status ERROR and its default;
    the other entities keep their values, and the request is a 200, never a 500."""

    async def read(keys: list[str], timeout_s: float | None = None) -> list[bytes]:
        now = int(time.time() * 1000)
        return [demo_row(k, b"not json" if k.startswith("{default:c2}") else b"7.5", now) for k in keys]

    async with served(tmp_path) as (client, state, _):
        state.store("default").reader.read = read
        body = {**FEAST, "entities": {"card_id": ["c1", "c2", "c3"]}}
        r = await client.post("/get-online-features", json=body, headers=LONG)
        assert r.status_code == 200, r.text
        spend = r.json()["results"][1]
        assert spend["values"] == [7.5, None, 7.5]
        assert spend["statuses"] == ["PRESENT", "INVALID", "PRESENT"]  # Feast's word for it
        r = await client.post("/v1/features", json={**NATIVE, "entities": {"card_id": ["c2"]}, "deadline_ms": 60_000})
        assert r.status_code == 200, r.text
        (value,) = r.json()["results"][0]["features"].values()
        assert value == {**value, "status": "ERROR", "default_applied": True}, value
