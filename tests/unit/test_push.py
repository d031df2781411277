"""Push: the whole batch is checked against the source's schema before anything is sent; the API's
POST /push (Feast's push shape) and the CLI's input formats. The Kafka side is an in-memory sink
here; tests/integration/test_push.py reads the topic back from a real broker."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.cli.push import read_rows
from featurestream.config import Config
from featurestream.definitions import Column, Source, parse_source
from featurestream.push import PushError, PushUnavailable, encode_rows, push_rows, rows_from_columns, validate_rows
from featurestream.registry import Registry
from tests.support.registry import REPO_ROOT, demo_views

T = "2024-02-01T12:00:00Z"


def _sources(ns: str = "default") -> list[Source]:
    return [parse_source(p.read_text(), str(p), ns) for p in sorted((REPO_ROOT / "sql" / "sources").glob("*.sql"))]


CLICKS = next(s for s in _sources() if s.name == "clicks")


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, list[bytes]]] = []
        self.fail = fail

    def send(self, topic: str, payloads: Sequence[bytes]) -> None:
        if self.fail:
            raise PushUnavailable("Kafka at x did not take the events", hint="retry")
        self.sent.append((topic, list(payloads)))

    def close(self) -> None:
        pass


def click_row(**kw: Any) -> dict[str, Any]:
    return {"event_id": "e1", "user_id": "u1", "item_id": "i1", "amount": 2.5, "event_time": T} | kw


def test_valid_rows_are_encoded_as_the_job_reads_them() -> None:
    when = datetime(2024, 2, 1, 12, tzinfo=UTC)
    rows = validate_rows(CLICKS, [click_row(), click_row(event_id="e2", event_time=when, item_id=None, amount=3)])
    assert rows[1]["event_time"] == "2024-02-01T12:00:00+00:00" and rows[1]["amount"] == 3
    assert json.loads(encode_rows(rows)[0]) == click_row()
    cfg = Config(kafka={"topic_prefix": "staging."})
    sink = Sink()
    result = push_rows(cfg, CLICKS, [click_row()], sink)
    assert (result.topic, result.rows) == ("staging.clicks", 1)
    assert sink.sent == [("staging.clicks", encode_rows([click_row()]))]


def test_every_problem_names_its_row_and_column_and_nothing_is_sent() -> None:
    sink = Sink()
    bad = [
        click_row(),
        click_row(amout=1.0),
        click_row(amount="lots"),
        click_row(user_id=None),
        click_row(event_time="2024-02-01T12:00:00"),
        click_row(event_id=None),
        "not a row",
    ]
    with pytest.raises(PushError) as err:
        push_rows(Config(), CLICKS, bad, sink)  # type: ignore[arg-type]
    assert sink.sent == []
    assert err.value.problems == [
        "row 1, column 'amout': not in the source's schema (did you mean 'amount'?)",
        "row 2, column 'amount': expected a number (DOUBLE), found 'lots'",
        "row 3, column 'user_id': expected a STRING value, found none (NOT NULL)",
        "row 4, column 'event_time': expected a time with a zone (e.g. 2024-01-01T12:00:00Z), not a naive one "
        "(TIMESTAMP_LTZ(3)), found '2024-02-01T12:00:00'",
        "row 5, column 'event_id': expected a STRING value, found none (NOT NULL)",
        "row 6: expected an object of column -> value, found str",
    ]
    assert "nothing was written" in str(err.value) and "fix: fix these rows" in str(err.value)


def test_types_are_checked_strictly() -> None:
    columns = [("n", "INT"), ("b", "BOOLEAN"), ("xs", "ARRAY<DOUBLE>"), ("ts", "TIMESTAMP_LTZ(3)")]
    source = Source("t", "t", tuple(Column(n, d) for n, d in columns), "ts", timedelta(0), None)
    validate_rows(source, [{"n": 1, "b": True, "xs": [1, 2.5, None], "ts": 1706788800000}])
    with pytest.raises(PushError) as err:
        validate_rows(source, [{"n": True, "b": 1, "xs": ["a"], "ts": "noon"}, {"n": 2**31, "ts": T}])
    assert [p.split(":")[0] for p in err.value.problems] == [
        "row 0, column 'n'",
        "row 0, column 'b'",
        "row 0, column 'xs'",
        "row 0, column 'ts'",
        "row 1, column 'n'",
    ]


def test_columnar_rows_need_equal_lengths() -> None:
    assert rows_from_columns({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(PushError, match="different lengths"):
        rows_from_columns({"a": [1, 2], "b": ["x"]})
    with pytest.raises(PushError, match="no rows"):
        validate_rows(CLICKS, [])


def test_cli_reads_json_lines_arrays_and_feasts_shape() -> None:
    row = click_row()
    assert read_rows(json.dumps(row) + "\n\n" + json.dumps(row), "f") == [row, row]
    assert read_rows(json.dumps([row]), "f") == [row]
    assert read_rows(json.dumps({"df": {k: [v] for k, v in row.items()}}), "f") == [row]
    assert read_rows(json.dumps(row), "f") == [row]
    with pytest.raises(click.UsageError, match="f:2: expected one JSON object per line"):
        read_rows(json.dumps(row) + "\n{oops", "f")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Sink]]:
    Registry(tmp_path / "state" / "registry.json").save(sources=_sources("risk"), views=demo_views("risk"), services=[])
    cfg = Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace="risk",
        redis={"url": "redis://127.0.0.1:1/0"},
        serving={
            "api_keys": [{"name": "a", "key": "ka", "namespace": "risk"}, {"name": "b", "key": "kb", "namespace": "b"}]
        },
    )
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        sink = Sink()
        client.app.state.fs.event_sink = sink  # type: ignore[attr-defined]
        yield client, sink


def _body(rows: list[dict[str, Any]], source: str = "clicks") -> dict[str, Any]:
    return {"push_source_name": source, "df": {k: [r.get(k) for r in rows] for k in rows[0]}, "to": "online"}


def test_api_push_appends_to_the_topic(api: tuple[TestClient, Sink]) -> None:
    client, sink = api
    r = client.post("/push", json=_body([click_row(), click_row(event_id="e2")]), headers={"x-api-key": "ka"})
    assert r.status_code == 200, r.text
    assert r.json() == {"source": "clicks", "topic": "clicks", "rows": 2}
    assert [json.loads(p)["event_id"] for p in sink.sent[0][1]] == ["e1", "e2"]


def test_api_push_rejects_bad_rows_whole(api: tuple[TestClient, Sink]) -> None:
    client, sink = api
    r = client.post("/push", json=_body([click_row(), click_row(amount="lots")]), headers={"x-api-key": "ka"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["name"] == "BadRequest" and "row 1, column 'amount': expected a number" in err["message"]
    assert sink.sent == []


def test_api_push_is_authorised_per_namespace(api: tuple[TestClient, Sink]) -> None:
    client, sink = api
    assert client.post("/push", json=_body([click_row()])).status_code == 401
    r = client.post("/push", json=_body([click_row()]), headers={"x-api-key": "kb"})
    assert r.status_code == 404 and "namespace 'b'" in r.text  # team b has no such source
    r = client.post(
        "/push", json=_body([click_row()]), headers={"x-api-key": "kb", "x-featurestream-namespace": "risk"}
    )
    assert r.status_code == 403
    assert sink.sent == []


def test_api_push_unknown_source_and_broker_down(api: tuple[TestClient, Sink]) -> None:
    client, _ = api
    r = client.post("/push", json=_body([click_row()], source="clickz"), headers={"x-api-key": "ka"})
    assert r.status_code == 404 and "clicks, transactions" in r.json()["error"]["hint"]
    client.app.state.fs.event_sink = Sink(fail=True)  # type: ignore[attr-defined]
    r = client.post("/push", json=_body([click_row()]), headers={"x-api-key": "ka"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["name"] == "BrokerUnavailable"
