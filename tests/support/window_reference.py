"""A brute-force model of Flink's event-time window TVFs, to check feature jobs against.

It is deliberately naive — every window of every key is enumerated from the events — so it
shares no code or cleverness with Flink's slicing implementation. Semantics modelled:

* TUMBLE(size), HOP(slide, size), CUMULATE(step, max): windows ``[start, end)`` aligned to the
  epoch (UTC), one output row per key and window holding at least one event;
* SESSION(gap) per key: a window ``[t, t + gap)`` per event, overlapping windows merged;
* a window is emitted once the watermark reaches ``end - 1 ms``; the caller passes the final
  watermark (the reference emits every window with ``end - 1 <= final_watermark``);
* events de-duplicated by id (the first occurrence in arrival order wins), malformed and late
  events excluded by the caller (see :func:`split_events`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Agg",
    "WindowSpec",
    "duplicate_copies",
    "latest_per_key",
    "parse_event_time",
    "reference_rows",
    "split_events",
    "valid_events",
]

Agg = Callable[[list[dict[str, Any]]], Any]


@dataclass(frozen=True)
class WindowSpec:
    kind: str  # TUMBLE | HOP | CUMULATE | SESSION
    size_ms: int  # TUMBLE size, HOP size, CUMULATE max size, SESSION gap
    step_ms: int = 0  # HOP slide, CUMULATE step


def parse_event_time(value: Any) -> int | None:
    """Epoch ms from a JSON event_time (number of ms, or ISO-8601 UTC text), as the job parses it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        text = value.replace("T", " ").replace("Z", "")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        if dt.tzinfo is not None:
            return None  # offsets other than Z are rejected by the job, like here
        return int(dt.replace(tzinfo=UTC).timestamp() * 1000)
    return None


def _parse_valid(
    payloads: Iterable[bytes],
    required: Sequence[str],
    time_field: str,
    numeric: Sequence[str],
    keys: Sequence[str],
) -> Iterable[dict[str, Any] | None]:
    """Each payload as a valid event with ``_t`` = epoch ms, or None when the job dead-letters it:
    not a JSON object, a required field missing, a numeric field not a number, a bad event time, or
    an entity key NULL or blank (empty or spaces only, as Flink's TRIM sees it)."""
    for raw in payloads:
        try:
            ev = json.loads(raw)
        except ValueError:
            yield None
            continue
        if not isinstance(ev, dict) or any(ev.get(f) is None for f in required):
            yield None
            continue
        if any(ev.get(f) is not None and not _is_number(ev[f]) for f in numeric):
            yield None
            continue
        if any(ev.get(k) is None or (isinstance(ev[k], str) and not ev[k].strip(" ")) for k in keys):
            yield None
            continue
        t = parse_event_time(ev.get(time_field))
        yield None if t is None else {**ev, "_t": t}


def split_events(
    payloads: Iterable[bytes],
    required: Sequence[str],
    *,
    time_field: str = "event_time",
    id_field: str = "event_id",
    numeric: Sequence[str] = (),
    keys: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], int]:
    """(valid de-duplicated events with ``_t`` = epoch ms, count of malformed payloads)."""
    valid: list[dict[str, Any]] = []
    seen: set[Any] = set()
    bad = 0
    for ev in _parse_valid(payloads, required, time_field, numeric, keys):
        if ev is None:
            bad += 1
        elif ev.get(id_field) not in seen:
            seen.add(ev.get(id_field))
            valid.append(ev)
    return valid, bad


def valid_events(
    payloads: Iterable[bytes],
    required: Sequence[str],
    *,
    time_field: str = "event_time",
    numeric: Sequence[str] = (),
    keys: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every valid event with ``_t`` = epoch ms, copies included (a source without an event id:
    nothing is de-duplicated)."""
    return [ev for ev in _parse_valid(payloads, required, time_field, numeric, keys) if ev is not None]


def duplicate_copies(
    payloads: Iterable[bytes],
    required: Sequence[str],
    *,
    time_field: str = "event_time",
    id_field: str = "event_id",
    numeric: Sequence[str] = (),
    keys: Sequence[str] = (),
) -> int:
    """How many valid payloads repeat the id of an earlier valid one (on time or late alike)."""
    seen: set[Any] = set()
    copies = 0
    for ev in _parse_valid(payloads, required, time_field, numeric, keys):
        if ev is not None:
            copies += ev.get(id_field) in seen
            seen.add(ev.get(id_field))
    return copies


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return True
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _windows(spec: WindowSpec, t: int) -> list[tuple[int, int]]:
    if spec.kind == "TUMBLE":
        s = t - t % spec.size_ms
        return [(s, s + spec.size_ms)]
    if spec.kind == "HOP":
        last = t - t % spec.step_ms
        out = []
        s = last
        while s > t - spec.size_ms:
            out.append((s, s + spec.size_ms))
            s -= spec.step_ms
        return out
    if spec.kind == "CUMULATE":
        s = t - t % spec.size_ms
        first_end = s + (t - s) // spec.step_ms * spec.step_ms + spec.step_ms
        return [(s, e) for e in range(first_end, s + spec.size_ms + 1, spec.step_ms)]
    raise ValueError(spec.kind)


def _sessions(spec: WindowSpec, events: list[dict[str, Any]]) -> list[tuple[int, int, list[dict[str, Any]]]]:
    out: list[tuple[int, int, list[dict[str, Any]]]] = []
    for ev in sorted(events, key=lambda e: e["_t"]):
        if out and ev["_t"] <= out[-1][1]:  # Flink merges touching windows too (TimeWindow.intersects)
            start, end, members = out[-1]
            out[-1] = (start, max(end, ev["_t"] + spec.size_ms), [*members, ev])
        else:
            out.append((ev["_t"], ev["_t"] + spec.size_ms, [ev]))
    return out


def reference_rows(
    events: list[dict[str, Any]], key: str, spec: WindowSpec, aggs: dict[str, Agg], final_watermark: int
) -> dict[tuple[Any, int], dict[str, Any]]:
    """``{(key value, window_end ms): {feature: value}}`` for every emitted window."""
    by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_key[ev[key]].append(ev)
    out: dict[tuple[Any, int], dict[str, Any]] = {}
    for k, evs in by_key.items():
        groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        if spec.kind == "SESSION":
            for start, end, members in _sessions(spec, evs):
                groups[(start, end)] = members
        else:
            for ev in evs:
                for w in _windows(spec, ev["_t"]):
                    groups[w].append(ev)
        for (start, end), members in groups.items():
            if end - 1 > final_watermark:
                continue
            row = {name: fn(members) for name, fn in aggs.items()}
            row["_window_start"] = start
            out[(k, end)] = row
    return out


def latest_per_key(rows: dict[tuple[Any, int], dict[str, Any]]) -> dict[Any, tuple[int, dict[str, Any]]]:
    """``{key: (window_end, row)}`` of the newest window per key: what the online store must hold."""
    latest: dict[Any, tuple[int, dict[str, Any]]] = {}
    for (key, end), row in rows.items():
        if key not in latest or end > latest[key][0]:
            latest[key] = (end, row)
    return latest


# ---------------------------------------------------------------- SQL aggregate equivalents


def count(members: list[dict[str, Any]]) -> int:
    return len(members)


def sum_of(field: str) -> Agg:
    def agg(members: list[dict[str, Any]]) -> Any:
        vals = [float(m[field]) for m in members if m.get(field) is not None]
        return math.fsum(vals) if vals else None

    return agg


def max_of(field: str) -> Agg:
    def agg(members: list[dict[str, Any]]) -> Any:
        vals = [float(m[field]) for m in members if m.get(field) is not None]
        return max(vals) if vals else None

    return agg


def count_distinct(field: str) -> Agg:
    def agg(members: list[dict[str, Any]]) -> int:
        return len({m[field] for m in members if m.get(field) is not None})

    return agg
