"""Backfill: the view's own SQL in Flink batch mode over historical event files.

Input files (JSON lines like the topic, or Parquet / CSV with the source's columns) are staged as
JSON lines so the batch job parses, validates and de-duplicates them exactly as the streaming job
does; the job then overwrites only the date partitions it produces (and, with --start/--end, every
date partition of that range). Malformed events are written beside the output with their reason.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

from featurestream.config import Config
from featurestream.definitions import FeatureView, Source
from featurestream.errors import FeatureStreamError

__all__ = ["BackfillResult", "backfill", "stage_events"]


class BackfillError(FeatureStreamError):
    """The backfill input or job failed."""


@dataclass
class BackfillResult:
    job_id: str
    input_events: int
    seconds: float
    partitions: list[str]  # every date partition of the view after the backfill
    dead_letters: int
    replaced: list[str]  # the partitions this backfill wrote
    late: int = 0


def _input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    raise BackfillError(f"backfill input {path} does not exist", hint="pass a file or a folder of event files")


def stage_events(source: Source, inputs: Path, staging: Path) -> int:
    """Write every input event as one JSON line under ``staging``; returns how many."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    staging.mkdir(parents=True, exist_ok=True)
    n = 0
    out = staging / "events.jsonl"
    with open(out, "wb") as fh:
        for f in _input_files(inputs):
            suffix = f.suffix.lower()
            if suffix in (".jsonl", ".json", ".ndjson", ".txt") or not suffix:
                with open(f, "rb") as src:
                    for line in src:
                        if line.strip():
                            fh.write(line.rstrip(b"\r\n") + b"\n")
                            n += 1
                continue
            if suffix == ".parquet":
                table = pq.read_table(f)
            elif suffix == ".csv":
                table = pcsv.read_csv(f)
            else:
                raise BackfillError(
                    f"{f}: unsupported event file type {suffix!r}",
                    hint="use .jsonl (one event per line), .parquet or .csv",
                )
            ev = source.event_time
            for row in table.to_pylist():
                value = row.get(ev)
                if hasattr(value, "timestamp"):
                    if value.tzinfo is None:  # naive timestamps are UTC
                        value = value.replace(tzinfo=UTC)
                    row[ev] = int(value.timestamp() * 1000)
                fh.write(json.dumps(row, default=str).encode() + b"\n")
                n += 1
    return n


def backfill(
    config: Config,
    view: FeatureView,
    source: Source,
    inputs: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    echo: Callable[[str], None] = lambda m: None,
) -> BackfillResult:
    """Run the batch job of ``view`` over ``inputs`` and swap its date partitions into the store."""
    from featurestream.jobs.compiler import compile_batch_job
    from featurestream.jobs.flink import FlinkClient
    from featurestream.offline.layout import partition_dates, partition_dir

    t0 = time.monotonic()
    work = config.state_path / "backfill" / f"{view.namespace}-{view.name}-v{view.version}-{time.time_ns()}"
    staging = work / "input"
    n = stage_events(source, inputs, staging)
    if n == 0:
        raise BackfillError(f"no events found in {inputs}")
    echo(f"staged {n:,} events from {inputs}")
    output = work / "output"
    spec = compile_batch_job(
        view,
        source,
        config,
        input_path=staging.as_uri(),
        output_path=output.as_uri(),
        dead_letter_path=(work / "rejected").as_uri(),
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
    )
    echo(f"running the view's SQL in Flink {spec['mode']} mode ...")
    job_id = FlinkClient(config).submit(spec, wait=True, timeout=3600)

    produced = sorted(p for p in output.glob("date=*") if p.is_dir()) if output.exists() else []
    doomed: set[str] = set()
    if start or end:
        lo, hi = start or date.min, end or date.max
        doomed = {str(d) for d in partition_dates(config, view) if lo <= d < hi}
    for part in produced:
        for junk in part.iterdir():
            if junk.name.startswith((".", "_")):
                if junk.is_dir():
                    shutil.rmtree(junk)
                else:
                    junk.unlink()
        day = part.name.split("=", 1)[1]
        doomed.discard(day)
        target = partition_dir(config, view, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".{target.name}.replaced-{time.time_ns()}")
        if target.exists():
            target.rename(old)
        part.rename(target)  # the partition is swapped in one rename
        shutil.rmtree(old, ignore_errors=True)
    for day in doomed:  # in the requested range but no longer produced
        shutil.rmtree(partition_dir(config, view, day), ignore_errors=True)
    rejected = {"dead": 0, "late": 0}
    for kind in rejected:
        d = work / "rejected" / kind
        if d.exists():
            rejected[kind] = sum(
                sum(1 for line in f.open("rb") if line.strip())
                for f in d.rglob("*")
                if f.is_file() and not f.name.startswith((".", "_"))
            )
    shutil.rmtree(staging, ignore_errors=True)
    echo(
        f"swapped in {len(produced)} date partition(s); {rejected['dead']} dead letter(s), "
        f"{rejected['late']} late event(s) kept under {work / 'rejected'}"
    )
    after = sorted(str(d) for d in partition_dates(config, view))
    return BackfillResult(
        job_id, n, time.monotonic() - t0, after, rejected["dead"], [p.name for p in produced], rejected["late"]
    )


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
