"""Decoding stored rows into per-read columns and statuses (``api.lookup.classify_reads``,
``assemble_columns``) against a brute-force row-by-row reference, and the plan's column runs."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from featurestream.api.lookup import assemble_columns, classify_reads
from featurestream.api.plan import Column, LookupPlan
from featurestream.online.keys import row_layout
from featurestream.semantics import Status, Validity

NOW = 1_800_000_000_000
HORIZON = 60_000


def _read(name: str, features: int) -> Any:
    names = tuple(f"f{i}" for i in range(features))
    return SimpleNamespace(
        view=SimpleNamespace(ref=f"{name}@1"),
        layout=row_layout(names),
        defaults=(None, None, *[0.0] * features),
        validity=Validity(HORIZON),
        sla_ms=30_000,
    )


def _plan(reads: list[Any], cols: list[tuple[int, int]]) -> LookupPlan:
    columns = tuple(Column(f"c{c}", f"c{c}", f"c{c}", f"c{c}", r, pos, 0.0) for c, (r, pos) in enumerate(cols))
    return LookupPlan("ns", tuple(reads), columns, ("id",), ())


def _reference(read: Any, row: bytes | None) -> tuple[Status, int | None, list[Any]]:
    """One row alone: its status, feature time and values (nulls when missing or not a row of the view)."""
    width = len(read.defaults)
    if row is None:
        return Status.NOT_FOUND, None, [None] * width
    try:
        vals = orjson.loads(row)
    except orjson.JSONDecodeError:
        return Status.ERROR, None, [None] * width
    if type(vals) is not list or len(vals) != width or (vals[0] is not None and type(vals[0]) is not int):
        return Status.ERROR, None, [None] * width
    t = vals[0]
    if t is None:
        return Status.NOT_FOUND, None, vals
    return (Status.PRESENT if t > NOW - HORIZON else Status.OUTSIDE_MAX_AGE), t, vals


def _random_row(rnd: random.Random, width: int) -> bytes | None:
    kind = rnd.random()
    if kind < 0.15:
        return None
    if kind < 0.2:
        return b"not json"
    if kind < 0.25:
        return orjson.dumps([NOW] + [1.0] * (width - 2))  # a row of another view version: one item short
    if kind < 0.3:  # hand-written values of the right length that are not rows
        return rnd.choice(
            [
                orjson.dumps("x" * width),
                orjson.dumps({f"k{i}": i for i in range(width)}),
                orjson.dumps(["t", *[1.0] * (width - 1)]),
                orjson.dumps([1.5, *[1.0] * (width - 1)]),
                orjson.dumps([[NOW], *[1.0] * (width - 1)]),
            ]
        )
    t = NOW - rnd.choice([0, 1, HORIZON - 1, HORIZON, HORIZON + 1, 10 * HORIZON])
    return orjson.dumps([t, t - 5, *[rnd.choice([None, rnd.random(), "s,|\\"]) for _ in range(width - 2)]])


@pytest.mark.parametrize("seed", range(40))
def test_every_read_decoded_as_each_row_alone(seed: int) -> None:
    rnd = random.Random(seed)
    reads = [_read(f"v{i}", rnd.randint(1, 4)) for i in range(rnd.randint(1, 4))]
    n = rnd.randint(1, 5)
    raw: list[Any] = [_random_row(rnd, len(r.defaults)) for r in reads for _ in range(n)]
    cols = [(r, pos) for r in range(len(reads)) for pos in range(2, len(reads[r].defaults))]
    rnd.shuffle(cols)
    plan = _plan(reads, cols)
    out = classify_reads(plan, raw, None, n, NOW)
    for k, read in enumerate(reads):
        for i in range(n):
            status, t, vals = _reference(read, raw[k * n + i])
            assert out[k].statuses[i] == status
            assert out[k].times[i] == t
            assert [out[k].columns[p][i] for p in range(len(read.defaults))] == vals
    stored, statuses, times = assemble_columns(plan, out, n)
    for c, (r, pos) in enumerate(cols):
        assert list(stored[c]) == [out[r].columns[pos][i] for i in range(n)]
        assert statuses[c] is out[r].statuses and times[c] is out[r].times  # shared, as renderers rely on


def test_degraded_reads_are_all_nulls() -> None:
    reads = [_read("a", 2), _read("b", 1)]
    out = classify_reads(_plan(reads, [(0, 2), (1, 2)]), [], Status.DEADLINE_EXCEEDED, 2, NOW)
    assert [r.statuses for r in out] == [[Status.DEADLINE_EXCEEDED] * 2] * 2
    assert out[0].columns == [[None, None]] * 4 and out[1].sla_breached == [True, True]


def test_column_runs_follow_adjacent_positions_of_one_read() -> None:
    reads = [_read("a", 3), _read("b", 2)]
    plan = _plan(reads, [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (0, 2), (1, 3), (1, 2)])
    assert plan.stored_runs == ((0, 2, 3), (1, 2, 2), (0, 2, 1), (1, 3, 1), (1, 2, 1))
