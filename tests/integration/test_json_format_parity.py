"""The ``featurestream-json`` format (jobs/java) against the SQL it replaced, on the same lines.

Every source column type, every value shape (absent, null, text, numbers as text and as numbers,
whitespace, booleans, objects, arrays, both timestamp encodings, overflow, signed zeros and
underflow) and payloads that are not JSON objects: the format's typed columns and dead-letter
reasons must equal what ``JSON_VALUE`` + ``TRY_CAST`` + the reason ``CASE`` + the view's key rules
(NULL event id, NULL or blank entity key) computed (tests/support/json_parse_reference.py), for a
view keyed by the event id and for one keyed by a text and an integer column.
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
    "   ",
    "\t",
    " x ",
    -0.0,
    2147483648,
    -129,
]
# JSON number texts json.dumps never writes (the format reads these without the text round trip
# when it can, so each must give exactly what TRY_CAST of JSON_VALUE's text gives)
RAW_NUMBERS = ["-1e-400", "1e400", "1E+2", "-0", "0.00", "1.5e-3", "-9223372036854775809", "007"]


class _Raw:
    def __init__(self, text: str) -> None:
        self.text = text


NOT_OBJECTS = ["[1, 2]", "42", '"text"', "null", "{", "not json", "{'single': 'quotes'}"]


# view entities -> fields every line carries unless the line varies them
VIEWS = {"event-id-key": (["event_id"], {}), "text-and-int-keys": (["name", "big"], {"name": "x", "big": 1})}


def _payloads(extra: dict[str, Any]) -> list[str]:
    base: dict[str, Any] = {"event_id": "", "n": 1, "event_time": 1767225600000, **extra}
    out: list[str] = []
    for c in SOURCE.columns:
        for value in [*VALUES, *(_Raw(r) for r in RAW_NUMBERS)]:
            ev = dict(base, event_id=f"e{len(out)}")
            if value is _ABSENT:
                ev.pop(c.name, None)
            elif isinstance(value, _Raw):
                ev[c.name] = "__raw__"
            else:
                ev[c.name] = value
            line = json.dumps(ev, ensure_ascii=False)
            out.append(line.replace('"__raw__"', value.text) if isinstance(value, _Raw) else line)
    out.append('{"event_id": "dup-a", "event_id": "dup-b", "n": 2, "event_time": 1767225600000}')
    out.append('{"event_id": "trail", "n": 2, "event_time": 1767225600000} trailing')
    return out + NOT_OBJECTS


@pytest.mark.parametrize("case", list(VIEWS))
def test_format_equals_the_sql_it_replaced(repo_config: Config, tmp_path: Path, case: str) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = repo_config
    ensure_format_jar(config.jars_path, quiet=True)
    data = tmp_path / "in"
    data.mkdir()
    entities, extra = VIEWS[case]
    lines = _payloads(extra)
    (data / "events.json").write_text("\n".join(lines) + "\n", encoding="utf-8")

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    conf = t_env.get_config()
    conf.set("pipeline.jars", ";".join(p.as_uri() for p in flink_jars(config.jars_path)))
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", "1")
    view = make_view("odd_view", entities, {"n": "INT"})
    for stmt in source_statements(SOURCE, config, view, streaming=False, path=str(data), late_filter=False):
        t_env.execute_sql(stmt)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE lines (payload STRING) WITH ('connector' = 'filesystem', "
        f"'path' = '{data}', 'format' = 'raw')"
    )
    # compared as Flink renders them (CAST ... AS STRING): exact, and every type crosses to Python
    select = ", ".join(f"CAST(`{c.name}` AS STRING)" for c in SOURCE.columns) + ", payload, dlq_reason"
    # the format's own output (``_raw``), the view's key rules included (#15 item 10, #13)
    got = _by_payload(t_env.sql_query(f"SELECT {select} FROM odd_raw"))
    reference = reference_select(SOURCE, format_schema(SOURCE, view), "lines")
    want = _by_payload(t_env.sql_query(f"SELECT {select} FROM ({reference})"))

    assert set(got) == set(want) == set(lines)
    diffs = [(p, got[p], want[p]) for p in lines if got[p] != want[p]]
    assert not diffs, "\n".join(f"{p}\n  format: {g}\n  sql:    {w}" for p, g, w in diffs[:10])
    reasons = {row[-1] for row in got.values()}
    assert None in reasons and any(r and r.startswith("field n is not a INT") for r in reasons)
    keyed = {"event_id": "event id event_id is NULL"} if case == "event-id-key" else {}
    for key in entities:
        assert f"entity key {key} is NULL" in reasons or key in keyed, (key, reasons)
    assert ("entity key name is blank" in reasons) == (case == "text-and-int-keys")


def _by_payload(table: Any) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    with table.execute().collect() as rows:
        for row in rows:
            values = tuple(row)
            payload = values[-2]
            assert payload not in out, f"payload read twice: {payload}"
            out[payload] = values[:-2] + values[-1:]
    return out
