"""How the compiler renders a source: the ``featurestream-json`` format and its schema option (the
one owner of the dead-letter reasons), keep-first de-duplication by arrival when streaming, by event
time in batch, and a state TTL that follows the view's horizon instead of a fixed day."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from featurestream.config import load_config
from featurestream.definitions import Column, Source, parse_source
from featurestream.jobs.compiler import (
    JSON_FORMAT,
    STATE_TTL_FLOOR,
    compile_batch_job,
    compile_streaming_job,
    format_schema,
    late_condition,
    source_statements,
    state_ttl,
)
from tests.support.registry import REPO_ROOT, demo_views


def _cfg(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "featurestream.yaml").write_text("")
    return load_config(tmp_path, env={})


def _txn() -> Source:
    return parse_source((REPO_ROOT / "sql" / "sources" / "transactions.sql").read_text(), "transactions.sql")


def _view(name: str):  # type: ignore[no-untyped-def]
    return next(v for v in demo_views("default") if v.name == name)


def _schema_option(ddl: str) -> dict:  # type: ignore[type-arg]
    m = re.search(rf"'{JSON_FORMAT}\.schema' = '(.*)'", ddl)
    assert m, ddl
    return dict(json.loads(m.group(1).replace("''", "'")))


def test_schema_lists_every_rule_in_check_order() -> None:
    schema = format_schema(_txn(), _view("card_spend_1h"))
    assert schema["invalid"] == "invalid JSON: not a JSON object"
    assert (schema["payload"], schema["reason"], schema["event_time"]) == ("payload", "dlq_reason", "event_time")
    assert schema["event_time_reason"].startswith("field event_time must be epoch milliseconds or ISO-8601 UTC")
    by_name = {c["name"]: c for c in schema["columns"]}
    assert [c["name"] for c in schema["columns"]] == ["event_id", "card_id", "merchant_id", "amount", "event_time"]
    assert by_name["card_id"] == {"name": "card_id", "missing": "missing required field card_id", "wrong": None}
    assert by_name["merchant_id"] == {"name": "merchant_id", "missing": None, "wrong": None}
    assert by_name["amount"]["wrong"] == "field amount is not a DOUBLE: "
    assert by_name["event_time"]["wrong"] == "field event_time is not a TIMESTAMP_LTZ(3): "


def test_streaming_source_parses_on_the_jvm_with_typed_columns(tmp_path: Path) -> None:
    ddl, parsed, unique, clean = source_statements(_txn(), _cfg(tmp_path), _view("card_spend_1h"), streaming=True)
    clean = unique + clean
    assert f"'format' = '{JSON_FORMAT}'" in ddl and "'raw'" not in ddl
    assert "JSON_VALUE" not in ddl + parsed + clean, "parsing is the format's job, not SQL's"
    for col in ("`amount` DOUBLE", "`event_time` TIMESTAMP_LTZ(3)", "`payload` STRING", "`dlq_reason` STRING"):
        assert col in ddl
    assert "`fs_proctime` AS PROCTIME()" in ddl
    assert "WATERMARK FOR `event_time` AS `event_time` - INTERVAL '5' SECOND" in ddl
    assert _schema_option(ddl) == format_schema(_txn(), _view("card_spend_1h"))
    assert "dlq_reason" in parsed and "kafka_offset" in parsed
    # keep-first by arrival: Flink's Deduplicate operator, emits at once (no wait for the watermark)
    assert "PARTITION BY `event_id` ORDER BY `fs_proctime` ASC" in clean and "fs_rn = 1" in clean


def test_batch_source_reads_files_with_the_same_format_and_dedupes_by_event_time(tmp_path: Path) -> None:
    ddl, parsed, unique, clean = source_statements(
        _txn(), _cfg(tmp_path), _view("card_spend_1h"), streaming=False, path="/data/in"
    )
    clean = unique + clean
    assert "'connector' = 'filesystem'" in ddl and f"'format' = '{JSON_FORMAT}'" in ddl
    assert "PROCTIME" not in ddl + parsed + clean and "kafka_offset" not in parsed
    assert "ORDER BY `event_time` ASC" in clean
    assert _schema_option(ddl) == format_schema(_txn(), _view("card_spend_1h"))


def test_quotes_in_rules_survive_the_sql_literal(tmp_path: Path) -> None:
    src = replace(_txn(), columns=(*_txn().columns, Column("it's", "INT", nullable=False)))
    ddl = source_statements(src, _cfg(tmp_path), _view("card_spend_1h"), streaming=True)[0]
    assert _schema_option(ddl)["columns"][-1]["missing"] == "missing required field it's"


def test_unsupported_column_type_is_refused() -> None:
    src = replace(_txn(), columns=(*_txn().columns, Column("tags", "ARRAY<STRING>")))
    with pytest.raises(ValueError, match="JSON sources support STRING"):
        format_schema(src, _view("card_spend_1h"))


def test_state_ttl_follows_the_view_horizon(tmp_path: Path) -> None:
    src = _txn()
    assert state_ttl(_view("card_spend_1h"), src) == timedelta(hours=1, seconds=5)
    assert state_ttl(_view("card_spend_today"), src) == timedelta(days=1, seconds=5)
    rowwise = replace(_view("card_spend_1h"), sql="SELECT card_id, event_time AS feature_time FROM transactions")
    assert state_ttl(rowwise, src) == STATE_TTL_FLOOR
    spec = compile_streaming_job(_view("card_spend_1h"), src, _cfg(tmp_path))
    assert spec["config"]["table.exec.state.ttl"] == f"{3_605_000} ms"


def test_batch_job_reads_with_the_format_too(tmp_path: Path) -> None:
    spec = compile_batch_job(
        _view("card_spend_1h"), _txn(), _cfg(tmp_path), input_path="/in", output_path="/out", dead_letter_path="/dl"
    )
    assert f"'format' = '{JSON_FORMAT}'" in spec["statements"][0]
    assert any("dlq_reason IS NOT NULL" in i for i in spec["inserts"])


def test_a_null_event_id_or_a_null_or_blank_entity_key_is_dead_lettered(tmp_path: Path) -> None:
    """#15 item 10: such an event never reaches a window, so it is never stored online as ``None``/``""``.
    The format applies these rules after the payload's own (#13: no per-event SQL for them); the
    format's parity test runs them against the SQL they replaced."""
    ddl, parsed = source_statements(_txn(), _cfg(tmp_path), _view("card_spend_1h"), streaming=True)[:2]
    assert _schema_option(ddl)["keys"] == [
        {"name": "event_id", "null": "event id event_id is NULL", "blank": None},
        {"name": "card_id", "null": "entity key card_id is NULL", "blank": "entity key card_id is blank"},
    ]
    assert "CASE" not in parsed and "TRIM" not in parsed, "the reason is the format's, not computed per event in SQL"
    # a numeric entity has no blank rule
    src = replace(_txn(), columns=tuple(Column(c.name, "BIGINT") if c.name == "card_id" else c for c in _txn().columns))
    keys = format_schema(src, _view("card_spend_1h"))["keys"]
    assert keys[1] == {"name": "card_id", "null": "entity key card_id is NULL", "blank": None}
    # an entity the source does not carry has no rule; a source without an event id has no event-id rule
    no_id = replace(_txn(), event_id=None)
    assert [k["name"] for k in format_schema(no_id, _view("card_spend_1h"))["keys"]] == ["card_id"]


def test_only_a_source_deduplicated_by_arrival_reads_the_processing_time(tmp_path: Path) -> None:
    """#13: without an event id nothing de-duplicates, so no PROCTIME column is computed per event."""
    no_id = replace(_txn(), event_id=None)
    statements = source_statements(no_id, _cfg(tmp_path), _view("card_spend_1h"), streaming=True)
    assert not any("PROCTIME" in s for s in statements)
    assert "ROW_NUMBER" not in statements[2]


def test_object_reuse_is_the_configs_choice_and_on_by_default(tmp_path: Path) -> None:
    """#13: chained operators hand rows on without copies (flink.object_reuse); on by default since
    no job has a Python operator (the suspect when a TaskManager died on cancels, see
    FlinkConfig.object_reuse), and a config can still turn it off."""
    cfg = _cfg(tmp_path)
    assert compile_streaming_job(_view("card_spend_1h"), _txn(), cfg)["config"]["pipeline.object-reuse"] == "true"
    off = cfg.model_copy(update={"flink": cfg.flink.model_copy(update={"object_reuse": False})})
    assert compile_streaming_job(_view("card_spend_1h"), _txn(), off)["config"]["pipeline.object-reuse"] == "false"


def test_only_a_deduplicating_job_shares_an_optimised_block_between_its_branches(tmp_path: Path) -> None:
    """#13: with an event id the branches must share one Deduplicate (one optimised block); without,
    they share the source scan and each folds its filters into one Calc (fewer operators per event)."""
    key = "table.optimizer.reuse-optimize-block-with-digest-enabled"
    with_id = compile_streaming_job(_view("card_spend_1h"), _txn(), _cfg(tmp_path))
    without = compile_streaming_job(_view("card_spend_1h"), replace(_txn(), event_id=None), _cfg(tmp_path))
    assert (with_id["config"][key], without["config"][key]) == ("true", "false")


def test_duplicates_are_dropped_before_the_late_split(tmp_path: Path) -> None:
    """#15 item 12: the late sink reads the de-duplicated events, so a late copy of a counted event is a
    duplicate (dropped by the Deduplicate operator), and the late topic holds only uncounted events."""
    spec = compile_streaming_job(_view("card_spend_1h"), _txn(), _cfg(tmp_path))
    unique = next(s for s in spec["statements"] if s.startswith("CREATE TEMPORARY VIEW `transactions_unique`"))
    main = next(s for s in spec["statements"] if s.startswith("CREATE TEMPORARY VIEW `transactions` AS"))
    assert "ROW_NUMBER()" in unique and "CURRENT_WATERMARK" not in unique
    assert "FROM `transactions_unique`" in main and "CURRENT_WATERMARK" in main
    late = next(i for i in spec["inserts"] if i.startswith("INSERT INTO fs_late"))
    assert "FROM `transactions_unique`" in late and late_condition("event_time") in late
    dlq = next(i for i in spec["inserts"] if i.startswith("INSERT INTO fs_dlq"))
    assert "FROM `transactions_parsed`" in dlq
