"""Names a feature view may not output, because the platform already uses them for its own columns.

The one list (:data:`RESERVED_COLUMNS`) is composed from each name's owner -- the offline columns of
:mod:`featurestream.columns`, the online hash fields of :mod:`featurestream.online.keys` -- so a new
internal column is reserved by adding it here from its owner, never by copying its text. Names
compare case-insensitively: DuckDB and Parquet readers fold case, so ``Date`` collides with ``date``.
``feature_time`` is not reserved: every view must output it.

A source may not declare a column the streaming job adds beside the source's own columns
(:data:`JOB_COLUMNS`: the raw payload, its Kafka position, the dead-letter reason, the
de-duplication rank): the job's parsed table would hold the name twice.
"""

from __future__ import annotations

import re
from pathlib import Path

from featurestream.columns import CREATED_AT, PARTITION_DATE
from featurestream.definitions import FeatureView, Source
from featurestream.online.keys import CREATED_FIELD, FEATURE_TIME_FIELD

__all__ = [
    "DEDUPE_RANK",
    "DLQ_REASON",
    "JOB_COLUMNS",
    "KAFKA_OFFSET",
    "KAFKA_PARTITION",
    "PAYLOAD",
    "RESERVED_COLUMNS",
    "reserved_problems",
    "reserved_source_problems",
]

# The columns a streaming job adds to a source's events (jobs.compiler builds them).
PAYLOAD = "payload"
KAFKA_PARTITION = "kafka_partition"
KAFKA_OFFSET = "kafka_offset"
DLQ_REASON = "dlq_reason"
DEDUPE_RANK = "fs_rn"
JOB_COLUMNS: dict[str, str] = {
    PAYLOAD: "the job's column of the raw event",
    KAFKA_PARTITION: "the job's column of the event's Kafka partition",
    KAFKA_OFFSET: "the job's column of the event's Kafka offset",
    DLQ_REASON: "the job's column of why an event goes to the dead-letter topic",
    DEDUPE_RANK: "the job's de-duplication rank column",
}

RESERVED_COLUMNS: dict[str, str] = {
    CREATED_AT: "the offline store's column of when a row was computed",
    PARTITION_DATE: "the offline store's date partition column",
    FEATURE_TIME_FIELD: "the online store's hash field of feature_time",
    CREATED_FIELD: "the online store's hash field of created_at",
}
_BY_FOLDED = {name.casefold(): name for name in RESERVED_COLUMNS}


def reserved_problems(view: FeatureView, columns: list[str]) -> list[str]:
    """One ``file:line: ...`` problem per output column of ``view`` that uses a reserved name."""
    out = []
    for col in columns:
        reserved = _BY_FOLDED.get(col.casefold())
        if reserved is None:
            continue
        out.append(
            f"{view.path}:{_line_of(view, col)}: view {view.ref} outputs a column named {col!r}, a reserved name "
            f"({RESERVED_COLUMNS[reserved]}); rename it, e.g. '... AS {col.strip('_')}_value'"
        )
    return out


def _line_of(view: FeatureView, column: str) -> int:
    """The file line where ``column`` is named as an output (``AS column``), else where it first
    appears in the SQL, else where the SQL starts."""
    lines = view.sql.splitlines()
    name = re.escape(column)
    for pattern in (rf"\bAS\s+`?{name}`?(?![\w])", rf"(?<![\w]){name}(?![\w])"):
        rx = re.compile(pattern, re.IGNORECASE)
        for i, text in enumerate(lines):
            if rx.search(text):
                return view.sql_line + i
    return view.sql_line


def reserved_source_problems(source: Source, root: Path) -> list[str]:
    """One ``file:line: ...`` problem per column of ``source`` that uses a name the job adds
    (:data:`JOB_COLUMNS`). (A source column named like an output column, e.g. ``created_at``, is
    fine: only a view that outputs it collides.) ``root``: the repo ``source.path`` is relative to."""
    taken = {n.casefold(): (n, why) for n, why in JOB_COLUMNS.items()}
    out = []
    for col in source.columns:
        hit = taken.get(col.name.casefold())
        if hit is None:
            continue
        out.append(
            f"{source.path}:{_source_line(source, root, col.name)}: source {source.name} declares a column named "
            f"{col.name!r}, a reserved name ({hit[1]}); rename the event field, e.g. '{col.name.strip('_')}_value'"
        )
    return out


def _source_line(source: Source, root: Path, column: str) -> int:
    """The line of ``source``'s file that declares ``column`` (1 when the file cannot be read)."""
    try:
        lines = (root / source.path).read_text().splitlines()
    except OSError:
        lines = source.sql.splitlines()
    rx = re.compile(rf"^\s*`?{re.escape(column)}`?\s+\w", re.IGNORECASE)
    return next((i + 1 for i, text in enumerate(lines) if rx.search(text)), 1)
