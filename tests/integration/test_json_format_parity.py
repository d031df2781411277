"""The ``featurestream-json`` format (jobs/java) against the SQL it replaced, on the same lines.

Every source column type, every value shape (absent, null, text, numbers as text and as numbers,
whitespace, booleans, objects, arrays, both timestamp encodings, overflow) and payloads that are
not JSON objects: the format's typed columns and dead-letter reasons must equal what
``JSON_VALUE`` + ``TRY_CAST`` + the reason ``CASE`` computed (tests/support/json_parse_reference.py).
Runs Flink locally (batch, filesystem connector, the same source DDL as the backfill job); needs
the JVM and Maven (the format jar is built as ``featurestream setup`` builds it), not the stack.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestream.config import Config
from featurestream.definitions import Column, Source
from featurestream.jobs.compiler import format_schema, source_statements
from featurestream.stack.jars import ensure_format_jar, flink_jars
from tests.support.json_parse_reference import reference_select
from tests.support.views import make_view

pytestmark = pytest.mark.integration

SOURCE = Source(
    name="odd",
    topic="odd",
    columns=(
        Column("event_id", "STRING", nullable=False),
        Column("flag", "BOOLEAN"),
        Column("tiny", "TINYINT"),
        Column("small", "SMALLINT"),
        Column("n", "INT", nullable=False),
        Column("big", "BIGINT"),
        Column("f", "FLOAT"),
        Column("d", "DOUBLE"),
        Column("dec", "DECIMAL(10, 2)"),
        Column("name", "VARCHAR(5)"),
        Column("ts", "TIMESTAMP(3)"),
        Column("lts", "TIMESTAMP_LTZ(3)"),
        Column("event_time", "TIMESTAMP_LTZ(3)", nullable=False),
    ),
    event_time="event_time",
    watermark_delay=timedelta(seconds=5),
    event_id="event_id",
)
_ABSENT = object()
VALUES: list[Any] = [
    _ABSENT,
    None,
    "abc",
    "",
    "12",
    " 12 ",
    12,
    -3,
    12.5,
    "12.5",
    1e3,
    1.0e20,
    0.1,
    123456.789,
    99999999999,
    9223372036854775808,
    True,
    False,
    "true",
    "yes",
    {"x": 1},
    [1, 2],
    1767225600000,
    "1767225600000",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.123Z",
    "2026-01-01 00:00:00",
    "2026-13-01T00:00:00Z",
    "héllo wörld",
]
NOT_OBJECTS = ["[1, 2]", "42", '"text"', "null", "{", "not json", "{'single': 'quotes'}"]


def _payloads() -> list[str]:
    base: dict[str, Any] = {"event_id": "", "n": 1, "event_time": 1767225600000}
    out: list[str] = []
    for c in SOURCE.columns:
        for value in VALUES:
            ev = dict(base, event_id=f"e{len(out)}")
            if value is _ABSENT:
                ev.pop(c.name, None)
            else:
                ev[c.name] = value
            out.append(json.dumps(ev, ensure_ascii=False))
    out.append('{"event_id": "dup-a", "event_id": "dup-b", "n": 2, "event_time": 1767225600000}')
    out.append('{"event_id": "trail", "n": 2, "event_time": 1767225600000} trailing')
    return out + NOT_OBJECTS


def test_format_equals_the_sql_it_replaced(repo_config: Config, tmp_path: Path) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = repo_config
    ensure_format_jar(config.jars_path, quiet=True)
    data = tmp_path / "in"
    data.mkdir()
    lines = _payloads()
    (data / "events.json").write_text("\n".join(lines) + "\n", encoding="utf-8")

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    conf = t_env.get_config()
    conf.set("pipeline.jars", ";".join(p.as_uri() for p in flink_jars(config.jars_path)))
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", "1")
    view = make_view("odd_view", ["event_id"], {"n": "INT"})
    for stmt in source_statements(SOURCE, config, view, streaming=False, path=str(data), late_filter=False):
        t_env.execute_sql(stmt)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE lines (payload STRING) WITH ('connector' = 'filesystem', "
        f"'path' = '{data}', 'format' = 'raw')"
    )
    # compared as Flink renders them (CAST ... AS STRING): exact, and every type crosses to Python
    select = ", ".join(f"CAST(`{c.name}` AS STRING)" for c in SOURCE.columns) + ", payload, dlq_reason"
    # the format's own output (``_raw``): ``_parsed`` adds the view's key rules on top (#15 item 10)
    got = _by_payload(t_env.sql_query(f"SELECT {select} FROM odd_raw"))
    reference = reference_select(SOURCE, format_schema(SOURCE), "lines")
    want = _by_payload(t_env.sql_query(f"SELECT {select} FROM ({reference})"))

    assert set(got) == set(want) == set(lines)
    diffs = [(p, got[p], want[p]) for p in lines if got[p] != want[p]]
    assert not diffs, "\n".join(f"{p}\n  format: {g}\n  sql:    {w}" for p, g, w in diffs[:10])
    reasons = {row[-1] for row in got.values()}
    assert None in reasons and any(r and r.startswith("field n is not a INT") for r in reasons)


def _by_payload(table: Any) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    with table.execute().collect() as rows:
        for row in rows:
            values = tuple(row)
            payload = values[-2]
            assert payload not in out, f"payload read twice: {payload}"
            out[payload] = values[:-2] + values[-1:]
    return out
