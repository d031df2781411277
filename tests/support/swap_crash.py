"""Crash injection for the offline partition swap (:mod:`featurestream.offline.swap`).

A scenario prepares one date partition (its old rows) and staged new files, then runs one swap the
way the backfill does (files moved in from a staging folder) or a partition delete. :func:`armed`
makes the k-th storage mutation (a write, a move, an upload, the delete of one file) die first: a
SIGKILL of the process when run as ``python -m tests.support.swap_crash ROOT SCENARIO K`` (local
disk), or an exception that no ``except Exception`` catches when run in-process (S3 on moto).
:func:`served` is what the readers read (DuckDB over :func:`offline.duck.view_select`, the path of
training sets and the audit).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featurestream import storage
from featurestream.config import Config, load_config
from featurestream.offline import layout
from tests.support.views import make_view

__all__ = [
    "DAY",
    "SCENARIOS",
    "VIEW",
    "Killed",
    "armed",
    "new_rows",
    "old_rows",
    "prepare",
    "run_swap",
    "served",
    "stage_new",
]

VIEW = make_view("clicks", ["user_id"], {"n": "BIGINT"}, ttl=timedelta(days=2), defaults={"n": 0})
DAY = date(2024, 3, 1)
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
# stream-day: a partition as the streaming sink leaves it (two committed files, a _SUCCESS marker
#   and an in-progress hidden file), replaced by two backfilled files;
# empty-day: a day with no partition yet gets two backfilled files;
# delete: a day the backfill no longer produces is deleted.
SCENARIOS = ("stream-day", "empty-day", "delete")
IN_PROGRESS = ".part-7f3e-0-4.inprogress.5c1d"  # the Flink sink's pending file (local disk only)


class Killed(BaseException):
    """The injected crash, in-process: not an Exception, so no handler of the code under test runs."""


def _rows(tag: str, n: int, shift: int = 0) -> list[dict[str, Any]]:
    return [{"user_id": f"{tag}{i}", "feature_time": T0 + timedelta(minutes=i), "n": i + shift} for i in range(n)]


def _sorted(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((r["user_id"], r["n"]) for r in rows)


def old_rows(scenario: str) -> list[tuple[str, int]]:
    """The rows of the day before the swap of ``scenario``, sorted (user_id, n)."""
    return [] if scenario == "empty-day" else _sorted([*_rows("s0-", 3), *_rows("s1-", 2, 10)])


def new_rows(scenario: str, generation: int = 1) -> list[tuple[str, int]]:
    """The rows of the day after the swap (``generation`` 2: after the next swap, which replaces)."""
    if scenario == "delete" and generation == 1:
        return []
    return _sorted([*_rows(f"g{generation}a-", 2, 100), *_rows(f"g{generation}b-", 3, 200)])


def _staging(config: Config) -> str:
    return storage.join(config.offline_location, "_staging", f"date={DAY.isoformat()}")


def stage_new(config: Config, generation: int = 1) -> None:
    """Write the new files of a swap where a backfill's batch job leaves them (outside the view), in
    place of any a crashed swap left there (a re-run backfill has a fresh output folder)."""
    storage.delete(config.s3, [e.location for e in storage.list_files(config.s3, _staging(config))])
    for i, (tag, n, shift) in enumerate(((f"g{generation}a-", 2, 100), (f"g{generation}b-", 3, 200))):
        table = layout._normalise(pa.Table.from_pylist(_rows(tag, n, shift)), VIEW)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        location = storage.join(_staging(config), f"part-{generation}-{i}.parquet")
        storage.write_bytes(config.s3, location, sink.getvalue().to_pybytes())


def prepare(config: Config, scenario: str) -> None:
    """The old partition of ``scenario`` and its staged new files."""
    if scenario != "empty-day":
        layout.write_rows(config, VIEW, _rows("s0-", 3))  # two appends: two committed files
        layout.write_rows(config, VIEW, _rows("s1-", 2, 10))
        part = layout.partition_dir(config, VIEW, DAY)
        storage.write_bytes(config.s3, storage.join(part, "_SUCCESS"), b"")
        if not storage.is_uri(part):
            Path(part, IN_PROGRESS).write_bytes(b"PAR1 half a file")
    if scenario != "delete":
        stage_new(config)


def run_swap(config: Config, scenario: str) -> None:
    """The swap of ``scenario``, as :func:`featurestream.jobs.backfill.backfill` runs it."""
    if scenario == "delete":
        layout.delete_partitions(config, VIEW, [DAY])
        return
    staged = [e for e in storage.list_files(config.s3, _staging(config)) if e.name.endswith(".parquet")]

    def publish(target: str, prefix: str) -> list[str]:
        names = []
        for e in staged:
            names.append(f"{prefix}{e.name}")
            storage.move(config.s3, e.location, storage.join(target, names[-1]))
        return names

    layout.replace_partition(config, VIEW, DAY, publish)


@contextlib.contextmanager
def armed(k: int, die: Callable[[], None]) -> Iterator[list[int]]:
    """Call ``die()`` before the k-th (0-based) storage mutation; yields ``[mutations done]``."""
    done = [0]
    originals = {name: getattr(storage, name) for name in ("write_bytes", "move", "put_file", "delete")}

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def mutation(*args: Any, **kwargs: Any) -> Any:
            if done[0] == k:
                die()
            done[0] += 1
            return fn(*args, **kwargs)

        return mutation

    def delete(s3: Any, locations: list[str]) -> None:
        for loc in locations:  # one file at a time: a kill may land between two deletes
            counted(originals["delete"])(s3, [loc])

    for name in ("write_bytes", "move", "put_file"):
        setattr(storage, name, counted(originals[name]))
    storage.delete = delete  # type: ignore[assignment]
    try:
        yield done
    finally:
        for name, fn in originals.items():
            setattr(storage, name, fn)


def served(config: Config) -> list[tuple[str, int]]:
    """The rows the readers read for the view, sorted (user_id, n)."""
    from featurestream.offline.duck import connect, view_select  # not in the killed child

    con = connect(config)
    try:
        got = con.execute(f"SELECT user_id, n FROM ({view_select(con, config, VIEW)})").fetchall()
    finally:
        con.close()
    return sorted((str(u), int(n)) for u, n in got)


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    root, scenario, k = Path(argv[0]), argv[1], int(argv[2])
    config = load_config(root, env={})
    with armed(k, _sigkill):
        run_swap(config, scenario)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
