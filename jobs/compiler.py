"""Compile one feature view into a Flink job spec (see ``jobs/runner.py``).

Streaming job, one per view version::

    Kafka ─► featurestream-json format ─┬─► dead-letter topic (malformed, or a NULL/blank entity key)
                                        └─► de-duplicate by event id ─┬─► late topic (behind the watermark)
                                                                      └─► the view's SELECT
                                                    ─► rows + created_at ─┬─► Parquet (offline, by date)
                                                                          └─► Redis (online, featurestream-redis)

De-duplication comes before the late split: a copy of an event that was already counted is a
duplicate wherever it arrives (Flink's Deduplicate operator drops it; ``monitoring.jobs`` reports
the count), and the late topic holds exactly the events that were not counted.

The format (``jobs/java``) parses on the JVM and adds ``payload`` and ``dlq_reason`` to the typed
columns; its rules (``format_schema``) are written here, once. The online sink (``featurestream-redis``,
the same jar) writes on the JVM too; it receives every rule as an option from its Python owner
(:func:`online_table_ddl`), so no Python runs inside the job. Everything after the source is one
query result feeding a STATEMENT SET, so the offline and online stores receive exactly the same rows.
The batch (backfill) job runs the same view SQL over files (filesystem connector, the same format),
with the same parsing, de-duplication and output columns.

A streaming job started without restored state may carry an *emit guard* (:func:`emit_guard_clause`,
decided by :func:`featurestream.jobs.restore.emit_guard`): the rows view keeps only rows with
``feature_time`` after the newest one already stored, so its first, partial windows never replace
rows the earlier run wrote. The guard is written here, once; :func:`without_emit_guard` is how the
job-graph fingerprint recognises and ignores it.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from featurestream.columns import CREATED_AT, FEATURE_TIME, PARTITION_DATE
from featurestream.config import Config
from featurestream.dates import DateWindow
from featurestream.definitions import Column, FeatureView, Source
from featurestream.durations import flink_intervals
from featurestream.kafka_props import flink_options
from featurestream.naming import (
    backfill_job_name,
    consumer_group,
    dlq_topic,
    job_name,
    late_topic,
    offline_dir,
    source_topic,
    transactional_id_prefix,
)
from featurestream.online.keys import key_parts
from featurestream.online.scripts import WRITE_LUA
from featurestream.online.store import key_ttl_ms
from featurestream.secrets import REDIS_PASSWORD_ENV, split_password
from featurestream.storage import as_flink_uri

__all__ = [
    "JSON_FORMAT",
    "REDIS_SINK",
    "blank_key_reason",
    "compile_batch_job",
    "compile_streaming_job",
    "drop_source_statements",
    "emit_guard_clause",
    "format_schema",
    "null_key_reason",
    "offline_table_ddl",
    "online_table_ddl",
    "source_statements",
    "state_ttl",
    "without_emit_guard",
]

# The source format and the online sink (jobs/java: built by `featurestream setup`, on the cluster's classpath).
JSON_FORMAT = "featurestream-json"
REDIS_SINK = "featurestream-redis"
# Processing-time attribute of the streaming source: de-duplication keeps the first copy by arrival.
PROCTIME = "fs_proctime"
# The least time an event id is remembered (covers restarts and short source stalls; see state_ttl).
STATE_TTL_FLOOR = timedelta(minutes=10)

_SCALAR_CASTS = {
    "STRING": None,
    "VARCHAR": None,
    "CHAR": None,
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INT",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "DECIMAL",
}


def job_placement(config: Config) -> dict[str, str]:
    """Where a job keeps its state, how wide it runs and which Python runs its functions, carried
    in the job's own configuration (so any cluster runs it the same way): ``flink.checkpoints_dir``
    / ``savepoints_dir`` (e.g. ``s3://...``), ``flink.parallelism`` and ``flink.python_executable``
    (a path on the cluster; for the local stack, the stack's own runtime). Unset values leave the
    cluster's defaults. Nothing here names a path of the submitting machine unless the target is
    the local stack, whose cluster shares this machine. Checkpoints are always retained on
    cancellation and failure: the restore rule (:mod:`featurestream.jobs.restore`) resumes a job lost
    with its JobManager from its last one, on any cluster."""
    f = config.flink
    out: dict[str, str] = {"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
    python = f.python_executable or (
        (config.stack.flink.python or sys.executable) if config.targets_local_stack else ""
    )
    if python:
        out["python.executable"] = python
    if f.checkpoints_dir:
        out["execution.checkpointing.dir"] = f.checkpoints_dir
    if f.savepoints_dir:
        out["execution.checkpointing.savepoint-dir"] = f.savepoints_dir
    if f.parallelism:
        out["parallelism.default"] = str(f.parallelism)
    return out


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _interval_ms(td: timedelta) -> str:
    """A Flink SQL INTERVAL literal for ``td`` (whole units when possible, else seconds.millis)."""
    ms = round(td.total_seconds() * 1000)
    for unit, size in (("DAY", 86_400_000), ("HOUR", 3_600_000), ("MINUTE", 60_000), ("SECOND", 1000)):
        if ms % size == 0:
            n = ms // size
            return f"INTERVAL '{n}' {unit}" + (f"({len(str(n))})" if n > 99 else "")
    secs = ms // 1000
    return f"INTERVAL '{secs}.{ms % 1000:03d}' SECOND({max(2, len(str(secs)))}, 3)"


def _base_type(dtype: str) -> str:
    return dtype.split("(")[0].split("<")[0].strip().upper()


def state_ttl(view: FeatureView, source: Source) -> timedelta:
    """How long the job's keyed state (the event ids of de-duplication, any regular join) outlives
    its last access: the view's horizon, i.e. its longest INTERVAL (window size, HOP/CUMULATE span,
    SESSION gap, OVER range) plus the source's watermark delay, and at least ``STATE_TTL_FLOOR``.

    A copy of an event is recognised while its id is in state, on time or late; window state is freed
    by the watermark, not by this TTL. A copy arriving later than this after the first one is not
    recognised: behind the watermark it goes to the late topic (not counted), on time it would count
    twice, which needs a source stalled for longer than the horizon with copies in flight."""
    span = max(flink_intervals(view.sql), default=timedelta(0))
    return max(span + source.watermark_delay, STATE_TTL_FLOOR)


def _dedupe_order(event_time: str, streaming: bool) -> str:
    """Streaming keeps the first copy by arrival (Flink's keep-first Deduplicate: one state lookup,
    emits at once, never waits for the watermark; copies carry the same payload). Batch keeps the
    earliest by event time (deterministic over files)."""
    return f"`{PROCTIME}`" if streaming else f"`{event_time}`"


INVALID_JSON = "invalid JSON: not a JSON object"


def null_key_reason(column: str, what: str = "entity key") -> str:
    """The dead-letter reason of an event whose entity key (or event id) ``column`` is NULL or absent."""
    return f"{what} {column} is NULL"


def blank_key_reason(column: str) -> str:
    """The dead-letter reason of an event whose text entity key ``column`` is empty or only blanks."""
    return f"entity key {column} is blank"


def _key_rules(source: Source, view: FeatureView) -> list[dict[str, str | None]]:
    """The view's rules for an event that cannot be keyed, in the order they are checked: a NULL
    event id (all such events would be one event to de-duplication), then each of the view's entity
    columns that the source carries, NULL (any type) or blank (text types: empty or only spaces, as
    SQL ``TRIM(x) = ''``). Such an event would otherwise be grouped under a NULL key and stored
    online as ``None`` or ``""``, colliding with a real entity. The format applies them after the
    payload's own rules (:func:`format_schema`)."""
    rules: list[dict[str, str | None]] = []
    if source.event_id:
        rules.append({"name": source.event_id, "null": null_key_reason(source.event_id, "event id"), "blank": None})
    for name in view.entities:
        col = source.column(name)
        if col is None:
            continue
        text = _base_type(col.dtype) in ("STRING", "VARCHAR", "CHAR")
        rules.append({"name": name, "null": null_key_reason(name), "blank": blank_key_reason(name) if text else None})
    return rules


def _parsed_type(column: Column, event_time: str) -> str:
    """The column's type after parsing: text types stay STRING, timestamps get millisecond precision,
    the event time is always TIMESTAMP_LTZ(3) (the watermark's column), anything else as declared."""
    base = _base_type(column.dtype)
    if column.name == event_time:
        return "TIMESTAMP_LTZ(3)"
    if base.startswith("TIMESTAMP"):
        return "TIMESTAMP_LTZ(3)" if base == "TIMESTAMP_LTZ" else "TIMESTAMP(3)"
    if base not in _SCALAR_CASTS:
        raise ValueError(
            f"source column {column.name!r} has type {column.dtype}; JSON sources support STRING, BOOLEAN, "
            "integer, FLOAT/DOUBLE/DECIMAL and TIMESTAMP/TIMESTAMP_LTZ columns"
        )
    return "STRING" if _SCALAR_CASTS[base] is None else column.dtype


def unique_source(source: Source) -> str:
    """The view of ``source``'s valid events with one copy per event id (before the late split)."""
    return f"`{source.name}_unique`"


def drop_source_statements(source: Source) -> list[str]:
    """DROP statements for every temporary object :func:`source_statements` creates, dependents first."""
    return [
        f"DROP TEMPORARY VIEW IF EXISTS `{source.name}`",
        f"DROP TEMPORARY VIEW IF EXISTS {unique_source(source)}",
        f"DROP TEMPORARY VIEW IF EXISTS `{source.name}_parsed`",
        f"DROP TEMPORARY TABLE IF EXISTS `{source.name}_raw`",
    ]


def late_condition(event_time: str) -> str:
    """An event the watermark has passed: not counted by any window, sent to the late sink."""
    return f"`{event_time}` < CURRENT_WATERMARK(`{event_time}`)"


def format_schema(source: Source, view: FeatureView) -> dict[str, Any]:
    """The ``featurestream-json.schema`` option: every dead-letter rule of ``source`` as ``view``
    reads it, in the order they are checked (per column: missing when required, then of the wrong
    type; then the event time; then the view's key rules, :func:`_key_rules`).

    This is the one owner of the reasons; the Java format (``jobs/java``) applies them, reading a
    field's text as ``JSON_VALUE`` would and typing it with Flink SQL's ``TRY_CAST``. Timestamps are
    epoch milliseconds or ISO-8601 UTC text."""
    columns = []
    for c in source.columns:
        castable = _base_type(c.dtype) not in ("STRING", "VARCHAR", "CHAR")
        _parsed_type(c, source.event_time)  # rejects unsupported types
        columns.append(
            {
                "name": c.name,
                "missing": None if c.nullable else f"missing required field {c.name}",
                "wrong": f"field {c.name} is not a {c.dtype}: " if castable else None,
            }
        )
    return {
        "payload": "payload",
        "reason": "dlq_reason",
        "event_time": source.event_time,
        "invalid": INVALID_JSON,
        "event_time_reason": (
            f"field {source.event_time} must be epoch milliseconds or ISO-8601 UTC (2026-01-01T00:00:00Z)"
        ),
        "columns": columns,
        "keys": _key_rules(source, view),
    }


def source_statements(
    source: Source,
    config: Config,
    view: FeatureView,
    *,
    streaming: bool,
    path: str | None = None,
    late_filter: bool | None = None,
) -> list[str]:
    """DDL that makes ``source.name`` a clean, typed, de-duplicated, on-time table for the view.

    Streaming reads Kafka; otherwise files under ``path`` (one JSON object per line, like the topic).
    Both parse on the JVM with the ``featurestream-json`` format, which adds the raw ``payload`` and a
    ``dlq_reason`` (NULL when valid; the view's key rules included, :func:`format_schema`) to the
    typed columns; ``<source>_parsed`` adds the Kafka position. ``<source>_unique`` keeps one copy
    per event id of the valid events, and
    ``late_filter`` (default: ``streaming``) drops the ones behind the watermark from the main path
    (they go to the late sink from ``<source>_unique``, so a late copy of a counted event is a
    duplicate, never a late event).
    """
    late_filter = streaming if late_filter is None else late_filter
    ev = source.event_time
    meta = []
    if streaming:
        meta = [
            "`kafka_partition` INT METADATA FROM 'partition' VIRTUAL",
            "`kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL",
        ]
        options = {
            "connector": "kafka",
            "topic": source_topic(config.kafka, source.topic),
            "properties.bootstrap.servers": config.kafka.bootstrap_servers,
            "properties.group.id": consumer_group(view),
            "scan.startup.mode": "group-offsets",
            "properties.auto.offset.reset": "earliest",
            **flink_options(config.kafka.properties),
        }
    else:
        options = {"connector": "filesystem", "path": str(path)}
    options["format"] = JSON_FORMAT
    options[f"{JSON_FORMAT}.schema"] = json.dumps(format_schema(source, view), separators=(",", ":"))
    with_clause = ",\n    ".join(f"{_q(k)} = {_q(v)}" for k, v in options.items())
    typed = [f"`{c.name}` {_parsed_type(c, ev)}" for c in source.columns]
    dedupe_by_arrival = streaming and bool(source.event_id)  # the only reader of the arrival time
    if dedupe_by_arrival:
        meta.append(f"`{PROCTIME}` AS PROCTIME()")
    ddl = (
        f"CREATE TEMPORARY TABLE `{source.name}_raw` (\n"
        + "".join(f"    {col},\n" for col in [*typed, "`payload` STRING", "`dlq_reason` STRING", *meta])
        + f"    WATERMARK FOR `{ev}` AS `{ev}` - {_interval_ms(source.watermark_delay)}\n"
        f") WITH (\n    {with_clause}\n)"
    )
    extra = ["payload", "kafka_partition", "kafka_offset"] if streaming else ["payload"]
    if dedupe_by_arrival:
        extra.append(f"`{PROCTIME}`")
    cols = [f"`{c.name}`" for c in source.columns if c.name != ev]
    parsed = ",\n    ".join([*cols, f"`{ev}`", *extra, "dlq_reason"])
    stmts = [ddl, f"CREATE TEMPORARY VIEW `{source.name}_parsed` AS\nSELECT\n    {parsed}\nFROM `{source.name}_raw`"]
    # Valid events, one copy per event id; late ones are split off after this (unique_source).
    if source.event_id:
        order = _dedupe_order(ev, streaming)
        unique = (
            f"SELECT * FROM (\n"
            f"    SELECT *, ROW_NUMBER() OVER (PARTITION BY `{source.event_id}` ORDER BY {order} ASC) AS fs_rn\n"
            f"    FROM `{source.name}_parsed` WHERE dlq_reason IS NULL\n"
            f") WHERE fs_rn = 1"
        )
    else:
        unique = f"SELECT * FROM `{source.name}_parsed` WHERE dlq_reason IS NULL"
    stmts.append(f"CREATE TEMPORARY VIEW {unique_source(source)} AS\n{unique}")
    names = ", ".join(f"`{c.name}`" for c in source.columns)
    body = f"SELECT {names} FROM {unique_source(source)}"
    if late_filter:
        body += f" WHERE CURRENT_WATERMARK(`{ev}`) IS NULL OR `{ev}` >= CURRENT_WATERMARK(`{ev}`)"
    stmts.append(f"CREATE TEMPORARY VIEW `{source.name}` AS\n{body}")
    return stmts


def offline_table_ddl(
    view: FeatureView,
    config: Config,
    table: str = "fs_offline",
    fmt: str = "parquet",
    streaming: bool = True,
    path: str | None = None,
) -> str:
    """The offline sink: ``<offline>/<ns>/<view>/v<version>/date=YYYY-MM-DD/`` files.

    Parquet is written without dictionary encoding (``parquet.enable.dictionary``; Flink's writer
    takes it for every column or none): a feature row's times and values are mostly distinct, so
    the dictionaries grew to their limit in every row group and fell back to plain anyway, and
    filling them (hashing each INT96 timestamp) was about half of a row-wise job's CPU (issue 13,
    bench/README.md). Entity columns lose their dictionary too: files are ~4 % larger and a DuckDB
    scan grouping by a string key reads them slower (1M rows: 33 against 16 ms), off the hot path."""
    target = path or as_flink_uri(offline_dir(config.offline_location, view))
    cols = [f"`{e}` STRING" for e in view.entities]
    cols += [f"`{FEATURE_TIME}` TIMESTAMP(3)"]
    cols += [f"`{f.name}` {_sink_type(f.dtype)}" for f in view.features]
    cols += [f"`{CREATED_AT}` TIMESTAMP(3)", f"`{PARTITION_DATE}` STRING"]
    options = {
        "connector": "filesystem",
        "path": target,
        "format": fmt,
        "sink.partition-commit.policy.kind": "success-file",
    }
    if streaming:
        options.update(
            {
                "sink.partition-commit.trigger": "process-time",
                "sink.partition-commit.delay": "0 s",
                "sink.rolling-policy.rollover-interval": "1 min",
                "sink.rolling-policy.check-interval": "10 s",
            }
        )
    if fmt == "parquet":
        options["parquet.utc-timezone"] = "true"
        options["parquet.enable.dictionary"] = "false"
    with_clause = ",\n    ".join(f"{_q(k)} = {_q(v)}" for k, v in options.items())
    return (
        f"CREATE TEMPORARY TABLE `{table}` (\n    "
        + ",\n    ".join(cols)
        + f"\n) PARTITIONED BY (`{PARTITION_DATE}`) WITH (\n    {with_clause}\n)"
    )


def _sink_type(dtype: str) -> str:
    return dtype.replace(" NOT NULL", "")


def online_table_ddl(view: FeatureView, config: Config, table: str = "fs_online") -> str:
    """The online sink: ``featurestream-redis`` (``jobs/java``) writing each row of ``fs_rows`` to Redis.

    Its columns are ``<entities>, feature_time, created_at, <features>``; every rule it applies comes
    from its Python owner as an option: the key's prefix and suffix (:func:`online.keys.key_parts`;
    the entity part and the keyless rule are :func:`online.keys.encode_entity` and ``is_keyless``,
    which the Java encoder mirrors and a parity test checks), the write rule
    (:data:`online.scripts.WRITE_LUA`) and its ttl (:func:`online.store.key_ttl_ms`), and the URL
    without its password plus the name of the TaskManager's variable holding it
    (:mod:`featurestream.secrets`). The writer flushes every 500 rows, every 50 ms and at each
    checkpoint (before the barrier goes on), so a checkpoint never leaves rows behind; a batch is
    written by the writer's own I/O thread, one batch in flight, while the task encodes the next."""
    prefix, suffix = key_parts(view.namespace, view.name, view.version)
    cols = [f"`{e}` STRING" for e in view.entities]
    cols += [f"`{FEATURE_TIME}` TIMESTAMP(3)", f"`{CREATED_AT}` TIMESTAMP(3)"]
    cols += [f"`{f.name}` {_sink_type(f.dtype)}" for f in view.features]
    options = {
        "connector": REDIS_SINK,
        "url": split_password(config.redis.url)[0],
        "password-env": REDIS_PASSWORD_ENV,
        "key.prefix": prefix,
        "key.suffix": suffix,
        "key.columns": str(len(view.entities)),
        "ttl-ms": str(key_ttl_ms(view)),
        "write-script": WRITE_LUA,
    }
    with_clause = ",\n    ".join(f"{_q(k)} = {_q(v)}" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE `{table}` (\n    " + ",\n    ".join(cols) + f"\n) WITH (\n    {with_clause}\n)"


# The guard clause, recognisable in a statement (the fingerprint strips it, see without_emit_guard).
_GUARD_TAG = "/* featurestream emit guard */"
_GUARD = re.compile(r"\nWHERE " + re.escape(_GUARD_TAG) + r" [^\n]*")


def emit_guard_clause(emit_after: datetime) -> str:
    """The rows view's filter of a job started without state: only rows with ``feature_time``
    strictly after ``emit_after`` (timezone-aware, kept to the millisecond like the sinks) reach the
    sinks. The one place the guard's SQL is written; it filters ``fs_rows``, which feeds the offline
    and the online sink alike."""
    if emit_after.tzinfo is None:
        raise ValueError(f"emit_after must be timezone-aware (UTC), got {emit_after!r}")
    at = emit_after.astimezone(UTC)
    lit = at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}"
    return f"\nWHERE {_GUARD_TAG} CAST(`{FEATURE_TIME}` AS TIMESTAMP(3)) > TIMESTAMP '{lit}'"


def without_emit_guard(statement: str) -> str:
    """``statement`` without its :func:`emit_guard_clause` (unchanged when it has none)."""
    return _GUARD.sub("", statement)


def _rows_view(view: FeatureView, emit_after: datetime | None) -> str:
    ents = ", ".join(f"CAST(`{e}` AS STRING) AS `{e}`" for e in view.entities)
    feats = ", ".join(f"`{f.name}`" for f in view.features)
    guard = emit_guard_clause(emit_after) if emit_after is not None else ""
    return (
        "CREATE TEMPORARY VIEW fs_rows AS\n"
        f"SELECT {ents}, CAST(`{FEATURE_TIME}` AS TIMESTAMP(3)) AS `{FEATURE_TIME}`, {feats},\n"
        f"    CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS {CREATED_AT}\n"
        f"FROM (\n{view.sql}\n){guard}"
    )


def _kafka_sink_ddl(table: str, topic: str, columns: list[str], config: Config, txn_prefix: str) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": config.kafka.bootstrap_servers,
        "format": "json",
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": txn_prefix,
        "properties.transaction.timeout.ms": "600000",
        **flink_options(config.kafka.properties),
    }
    with_clause = ",\n    ".join(f"{_q(k)} = {_q(v)}" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE `{table}` (\n    " + ",\n    ".join(columns) + f"\n) WITH (\n    {with_clause}\n)"


def compile_streaming_job(
    view: FeatureView,
    source: Source,
    config: Config,
    *,
    offline_format: str = "parquet",
    online: bool = True,
    emit_after: datetime | None = None,
) -> dict[str, Any]:
    """The spec of the streaming job of ``view`` over Kafka ``source``; with ``emit_after`` (a job
    started without state, :func:`featurestream.jobs.restore.emit_guard`) only rows with
    ``feature_time`` after it are written (:func:`emit_guard_clause`)."""
    ev = source.event_time
    stmts = source_statements(source, config, view, streaming=True)
    stmts.append(_rows_view(view, emit_after))
    stmts.append(offline_table_ddl(view, config, fmt=offline_format))
    name = job_name(view)
    stmts.append(
        _kafka_sink_ddl(
            "fs_dlq",
            dlq_topic(view, config.kafka),
            [
                "`payload` STRING",
                "`reason` STRING",
                "`source` STRING",
                "`topic` STRING",
                "`kafka_partition` INT",
                "`kafka_offset` BIGINT",
                "`view` STRING",
            ],
            config,
            transactional_id_prefix(view, "dlq"),
        )
    )
    stmts.append(
        _kafka_sink_ddl(
            "fs_late",
            late_topic(view, config.kafka),
            [
                "`payload` STRING",
                f"`{ev}` TIMESTAMP_LTZ(3)",
                "`watermark` TIMESTAMP_LTZ(3)",
                "`source` STRING",
                "`kafka_partition` INT",
                "`kafka_offset` BIGINT",
                "`view` STRING",
            ],
            config,
            transactional_id_prefix(view, "late"),
        )
    )
    ents = ", ".join(f"`{e}`" for e in view.entities)
    feats = ", ".join(f"`{f.name}`" for f in view.features)
    inserts = [
        f"INSERT INTO fs_offline SELECT {ents}, `{FEATURE_TIME}`, {feats}, {CREATED_AT}, "
        f"DATE_FORMAT(`{FEATURE_TIME}`, 'yyyy-MM-dd') FROM fs_rows",
        f"INSERT INTO fs_dlq SELECT payload, dlq_reason, {_q(source.name)}, "
        f"{_q(source_topic(config.kafka, source.topic))}, kafka_partition, "
        f"kafka_offset, {_q(view.ref)} FROM `{source.name}_parsed` WHERE dlq_reason IS NOT NULL",
        f"INSERT INTO fs_late SELECT payload, `{ev}`, CURRENT_WATERMARK(`{ev}`), {_q(source.name)}, "
        f"kafka_partition, kafka_offset, {_q(view.ref)} FROM {unique_source(source)} "
        f"WHERE {late_condition(ev)}",
    ]
    if online:
        stmts.append(online_table_ddl(view, config))
        inserts.append(f"INSERT INTO fs_online SELECT {ents}, `{FEATURE_TIME}`, {CREATED_AT}, {feats} FROM fs_rows")
    return {
        "name": name,
        "mode": "streaming",
        "view": view.ref,
        "namespace": view.namespace,
        "config": {
            "table.exec.state.ttl": f"{int(state_ttl(view, source).total_seconds() * 1000)} ms",
            # With de-duplication, optimise the branches' common part (parsed source, Deduplicate) as
            # one block so they share it: otherwise each branch prunes its own columns below the
            # Deduplicate and gets its own (twice the state; ~2.9x the events/s when the parse was
            # SQL). Without, the branches share the source scan anyway (sub-plan reuse) and each
            # folds its projection and filters into one Calc: three per event instead of five.
            "table.optimizer.reuse-optimize-block-with-digest-enabled": "true" if source.event_id else "false",
            # With flink.object_reuse, chained operators hand each row on without a serializer copy.
            # SQL operators never modify their input and copy what they keep (window buffers, state,
            # sinks), so only the copies go: without it, every event's row (payload included) is
            # deep-copied at each of the ~6 hops of the source chain, a third of its time (profile in
            # bench/README.md). On by default since no Python operator is left: FlinkConfig.object_reuse.
            "pipeline.object-reuse": "true" if config.flink.object_reuse else "false",
            "pipeline.auto-watermark-interval": "200 ms",
            "execution.checkpointing.interval": config.flink.checkpoint_interval,
            **config.flink.restart_strategy(),
            **(
                {"table.exec.source.idle-timeout": config.flink.source_idle_timeout}
                if config.flink.source_idle_timeout
                else {}
            ),
            **job_placement(config),
        },
        "python_functions": [],
        "statements": stmts,
        "inserts": inserts,
        **({"emit_after": emit_after.astimezone(UTC).isoformat()} if emit_after is not None else {}),
    }


def compile_batch_job(
    view: FeatureView,
    source: Source,
    config: Config,
    *,
    input_path: str,
    output_path: str,
    dead_letter_path: str,
    offline_format: str = "parquet",
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """The backfill job: the view's SQL over JSON-lines files into ``output_path`` (offline layout
    of one view version; the caller swaps its date partitions into the store). Only rows with
    ``feature_time`` in the UTC dates ``[start, end)`` are written (:class:`featurestream.dates.DateWindow`).

    Aligned windows run in Flink batch mode. SESSION windows are not supported by Flink's batch mode,
    so those views run in streaming mode over the bounded files (the job ends with the input, and the
    final watermark closes every window); events behind the watermark then go to a late file.
    """
    bounded_streaming = view.window == "SESSION"
    stmts = source_statements(source, config, view, streaming=False, path=input_path, late_filter=bounded_streaming)
    stmts.append(_rows_view(view, None))  # a backfill recomputes from the files: no guard
    stmts.append(offline_table_ddl(view, config, fmt=offline_format, streaming=bounded_streaming, path=output_path))
    ev = source.event_time
    stmts.append(
        "CREATE TEMPORARY TABLE fs_dlq (`payload` STRING, `reason` STRING) WITH ("
        f"'connector' = 'filesystem', 'path' = {_q(dead_letter_path + '/dead')}, 'format' = 'json')"
    )
    inserts = [
        f"INSERT INTO fs_dlq SELECT payload, dlq_reason FROM `{source.name}_parsed` WHERE dlq_reason IS NOT NULL"
    ]
    if bounded_streaming:
        stmts.append(
            f"CREATE TEMPORARY TABLE fs_late (`payload` STRING, `{ev}` TIMESTAMP_LTZ(3)) WITH ("
            f"'connector' = 'filesystem', 'path' = {_q(dead_letter_path + '/late')}, 'format' = 'json')"
        )
        inserts.append(
            f"INSERT INTO fs_late SELECT payload, `{ev}` FROM {unique_source(source)} WHERE {late_condition(ev)}"
        )
    ents = ", ".join(f"`{e}`" for e in view.entities)
    feats = ", ".join(f"`{f.name}`" for f in view.features)
    kept = DateWindow(start, end).time_condition(f"`{FEATURE_TIME}`")
    cond = f" WHERE {kept}" if kept else ""
    inserts.insert(
        0,
        f"INSERT INTO fs_offline SELECT {ents}, `{FEATURE_TIME}`, {feats}, {CREATED_AT}, "
        f"DATE_FORMAT(`{FEATURE_TIME}`, 'yyyy-MM-dd') FROM fs_rows{cond}",
    )
    return {
        "name": backfill_job_name(view),
        "mode": "streaming" if bounded_streaming else "batch",
        "view": view.ref,
        "config": {"execution.checkpointing.interval": "2 s"} if bounded_streaming else {},
        "python_functions": [],
        "statements": stmts,
        "inserts": inserts,
    }
