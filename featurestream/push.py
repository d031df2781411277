"""Push: rows from an application (no Kafka client) appended to a source's Kafka topic.

The rule this module owns: a pushed batch is validated **whole** against the source's schema
before the first byte is sent — an unknown column, a missing NOT NULL column, a value of the wrong
type or a timestamp without a zone rejects the batch, naming each row (0-based) and column, and
nothing is written. Valid rows are appended to the source's topic (``naming.source_topic``) as one
JSON object per message, the same shape the streaming job parses, and the producer is flushed
before the call returns. A broker failure part-way can leave a prefix of the batch written; every
source event carries its event id and the job de-duplicates by it, so pushing the batch again is safe.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from featurestream.config import Config
from featurestream.definitions import Column, Source
from featurestream.errors import FeatureStreamError
from featurestream.naming import source_topic

__all__ = [
    "EventSink",
    "KafkaEventSink",
    "PushError",
    "PushResult",
    "PushUnavailable",
    "encode_rows",
    "push_rows",
    "rows_from_columns",
    "validate_rows",
]

_MAX_PROBLEMS = 20
_INTS = {"BIGINT": 2**63, "INT": 2**31, "INTEGER": 2**31, "SMALLINT": 2**15, "TINYINT": 2**7}
_FLOATS = {"DOUBLE", "FLOAT", "REAL", "DECIMAL"}
_STRINGS = {"STRING", "VARCHAR", "CHAR"}
_TIMES = {"TIMESTAMP", "TIMESTAMP_LTZ", "DATE"}


class PushError(FeatureStreamError):
    """The batch does not fit the source's schema; ``problems`` lists each (row, column) at fault."""

    def __init__(self, source: str, problems: list[str], total: int) -> None:
        self.problems = problems
        more = f" (and {total - len(problems)} more)" if total > len(problems) else ""
        super().__init__(
            f"{total} problem(s) in the rows pushed to source {source!r}, nothing was written: "
            + "; ".join(problems)
            + more,
            hint="fix these rows and push the whole batch again",
        )


class PushUnavailable(FeatureStreamError):
    """The Kafka broker did not take the batch."""


@dataclass(frozen=True)
class PushResult:
    source: str
    topic: str
    rows: int


class EventSink(Protocol):
    """Where pushed events go: ``send`` appends every payload to ``topic`` and returns once they are durable."""

    def send(self, topic: str, payloads: Sequence[bytes]) -> None: ...


def rows_from_columns(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Feast's push shape ``{column: [values]}`` -> one dict per row; columns must have equal lengths."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise PushError("<request>", [f"columns have different lengths: {lengths}"], 1)
    n = next(iter(lengths.values()), 0)
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _base(dtype: str) -> str:
    t = dtype.strip().upper().removesuffix(" NOT NULL").strip()
    for sep in ("(", "<", " "):
        t = t.split(sep, 1)[0]
    return t


def _type_problem(dtype: str, value: Any) -> str | None:
    """Why ``value`` cannot be a ``dtype`` (a Flink SQL type), or None when it fits."""
    base = _base(dtype)
    if base in _STRINGS:
        return None if isinstance(value, str) else "a string"
    if base in _INTS:
        if isinstance(value, int) and not isinstance(value, bool):
            lim = _INTS[base]
            return None if -lim <= value < lim else f"an integer in [{-lim}, {lim})"
        return "an integer"
    if base in _FLOATS:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if base == "BOOLEAN":
        return None if isinstance(value, bool) else "true or false"
    if base in _TIMES:
        if isinstance(value, int) and not isinstance(value, bool):
            return None  # epoch milliseconds
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return "an ISO 8601 time with a zone or epoch milliseconds"
            return (
                None if parsed.tzinfo is not None else "a time with a zone (e.g. 2024-01-01T12:00:00Z), not a naive one"
            )
        return "an ISO 8601 time with a zone or epoch milliseconds"
    if base == "ARRAY":
        if not isinstance(value, list):
            return "a list"
        inner = dtype.strip()[dtype.index("<") + 1 : dtype.rindex(">")]
        for item in value:
            if item is not None and (p := _type_problem(inner, item)) is not None:
                return f"a list of {p}s"
        return None
    return None  # MAP, ROW, ...: the job's parser decides


def _column_problems(source: Source, i: int, row: Mapping[str, Any], known: dict[str, Column]) -> list[str]:
    out = []
    for name in row:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            out.append(
                f"row {i}, column {name!r}: not in the source's schema"
                + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    for col in source.columns:
        value = row.get(col.name)
        required = not col.nullable or col.name in (source.event_time, source.event_id)
        if value is None:
            if required:
                out.append(f"row {i}, column {col.name!r}: expected a {col.dtype} value, found none (NOT NULL)")
            continue
        problem = _type_problem(col.dtype, value)
        if problem is not None:
            out.append(f"row {i}, column {col.name!r}: expected {problem} ({col.dtype}), found {value!r}")
    return out


def validate_rows(source: Source, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows, checked against ``source`` (see the module rule); datetimes become ISO strings.

    Raises :class:`PushError` listing up to 20 problems, each naming its row and column.
    """
    if not rows:
        raise PushError(source.name, ["no rows: expected at least one"], 1)
    known = {c.name: c for c in source.columns}
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, Mapping):
            problems.append(f"row {i}: expected an object of column -> value, found {type(raw).__name__}")
            continue
        row = {k: (v.isoformat() if isinstance(v, datetime | date) else v) for k, v in raw.items()}
        problems += _column_problems(source, i, row, known)
        out.append(row)
    if problems:
        raise PushError(source.name, problems[:_MAX_PROBLEMS], len(problems))
    return out


def encode_rows(rows: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """One compact JSON object per event (what the streaming job reads from the topic)."""
    return [json.dumps(r, separators=(",", ":"), allow_nan=False).encode() for r in rows]


class KafkaEventSink:
    """An :class:`EventSink` on the configured Kafka cluster; the producer starts on first use."""

    def __init__(self, config: Config, *, timeout_s: float = 30.0) -> None:
        self.bootstrap = config.kafka.bootstrap_servers
        self.properties = dict(config.kafka.properties)
        self.timeout_s = timeout_s
        self._producer: Any = None

    def send(self, topic: str, payloads: Sequence[bytes]) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            if self._producer is None:
                from featurestream.kafka_props import client_options

                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    linger_ms=5,
                    max_block_ms=int(self.timeout_s * 1000),
                    **client_options(
                        self.properties, request_timeout_ms=int(self.timeout_s * 1000), bootstrap_timeout_ms=5_000
                    ),
                )
            futures = [self._producer.send(topic, p) for p in payloads]
            self._producer.flush(timeout=self.timeout_s)
            for f in futures:
                f.get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise PushUnavailable(
                f"Kafka at {self.bootstrap} did not take the events for topic {topic!r}: {type(exc).__name__}: {exc}",
                hint="check the broker (featurestream status), then push the same batch again (events are "
                "de-duplicated by their id)",
            ) from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def push_rows(config: Config, source: Source, rows: Sequence[Mapping[str, Any]], sink: EventSink) -> PushResult:
    """Validate ``rows`` against ``source`` and append them to its topic through ``sink``."""
    valid = validate_rows(source, rows)
    topic = source_topic(config.kafka, source.topic)
    sink.send(topic, encode_rows(valid))
    return PushResult(source.name, topic, len(valid))
