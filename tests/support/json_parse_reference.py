"""The SQL the ``featurestream-json`` format replaced: ``JSON_VALUE`` + ``TRY_CAST`` per column, a
``CASE`` for the dead-letter reason, then the view's key rules as the ``COALESCE(reason, CASE WHEN
key IS NULL ... WHEN TRIM(key) = '' ...)`` the compiler used to add on top of the format. Tests run it
beside the format on the same lines; both must give the same typed columns and the same reasons (the
reason texts come from the compiler's one owner, :func:`featurestream.jobs.compiler.format_schema`)."""

from __future__ import annotations

from typing import Any

from featurestream.definitions import Source

__all__ = ["reference_select"]

_TEXT = ("STRING", "VARCHAR", "CHAR")


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ts_expr(raw: str) -> str:
    return (
        f"COALESCE(TO_TIMESTAMP_LTZ(TRY_CAST({raw} AS BIGINT), 3), "
        f"CAST(TRY_CAST(REPLACE(REPLACE({raw}, 'T', ' '), 'Z', '') AS TIMESTAMP(3)) AS TIMESTAMP_LTZ(3)))"
    )


def _base(dtype: str) -> str:
    return dtype.split("(")[0].strip().upper()


def reference_select(source: Source, schema: dict[str, Any], table: str) -> str:
    """SELECT over ``table`` (one ``payload`` STRING column): the source's columns, then dlq_reason."""
    cols: list[str] = []
    reasons = [f"WHEN NOT (payload IS JSON OBJECT) THEN {_q(schema['invalid'])}"]
    rules = {c["name"]: c for c in schema["columns"]}
    for c in source.columns:
        raw = f"JSON_VALUE(payload, {_q('$.' + c.name)})"
        base = _base(c.dtype)
        if c.name == source.event_time:
            expr = f"COALESCE({_ts_expr(raw)}, TO_TIMESTAMP_LTZ(0, 3))"
            wrong = f"({raw} IS NOT NULL AND {_ts_expr(raw)} IS NULL)"
        elif base.startswith("TIMESTAMP"):
            expr = _ts_expr(raw) if base == "TIMESTAMP_LTZ" else f"CAST({_ts_expr(raw)} AS TIMESTAMP(3))"
            wrong = f"({raw} IS NOT NULL AND {_ts_expr(raw)} IS NULL)"
        elif base in _TEXT:
            expr, wrong = raw, ""
        else:
            expr = f"TRY_CAST({raw} AS {c.dtype})"
            wrong = f"({raw} IS NOT NULL AND {expr} IS NULL)"
        cols.append(f"{expr} AS `{c.name}`")
        if rules[c.name]["missing"]:
            reasons.append(f"WHEN {raw} IS NULL THEN {_q(rules[c.name]['missing'])}")
        if wrong:
            reasons.append(f"WHEN {wrong} THEN {_q(rules[c.name]['wrong'])} || {raw}")
    ev_raw = f"JSON_VALUE(payload, {_q('$.' + source.event_time)})"
    reasons.append(f"WHEN {_ts_expr(ev_raw)} IS NULL THEN {_q(schema['event_time_reason'])}")
    reason = "CASE " + " ".join(reasons) + " ELSE CAST(NULL AS STRING) END"
    parsed = "SELECT " + ", ".join([*cols, "payload", f"{reason} AS dlq_reason"]) + f" FROM {table}"
    whens = []
    for key in schema["keys"]:
        whens.append(f"WHEN `{key['name']}` IS NULL THEN {_q(key['null'])}")
        if key["blank"]:
            whens.append(f"WHEN TRIM(`{key['name']}`) = '' THEN {_q(key['blank'])}")
    if not whens:
        return parsed
    names = ", ".join(f"`{c.name}`" for c in source.columns)
    keyed = "COALESCE(dlq_reason, CASE " + " ".join(whens) + " END)"
    return f"SELECT {names}, payload, {keyed} AS dlq_reason FROM ({parsed})"
