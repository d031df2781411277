"""Backfill: the view's own SQL in Flink batch mode over historical event files.

Input files (JSON lines like the topic, or Parquet / CSV with the source's columns) are staged as
JSON lines so the batch job parses, validates and de-duplicates them exactly as the streaming job
does; the job then replaces only the date partitions it produces (and, with --start/--end, every
date partition of that range), each by the partition swap of :mod:`offline.swap` (a kill at any
step leaves each day with its old rows or its new ones), locally or on ``s3://``. Inputs may be
local or ``s3://`` files. Malformed events are written beside the output with their reason.

A backfill never replaces a partition the view's live streaming job still writes (the rule of
:mod:`offline.swap`: days from the UTC date of the job's watermark less the view's horizon). The
window is checked before the batch job runs, and every day about to be replaced again before the
first swap; either refuses with :class:`~featurestream.offline.swap.PartitionInUseError`.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

from featurestream import storage
from featurestream.config import Config, S3Config
from featurestream.dates import DateWindow
from featurestream.definitions import FeatureView, Source
from featurestream.errors import FeatureStreamError
from featurestream.jobs.flink import FlinkClient, JobProgress
from featurestream.naming import job_name
from featurestream.offline.swap import StreamFrontier, open_days_from

__all__ = ["BackfillResult", "backfill", "live_stream", "stage_events"]


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


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def _input_files(s3: S3Config, location: str) -> list[storage.Entry]:
    """The event files at ``location``: the file itself, or every visible file under the folder/prefix."""
    found = storage.stamp(s3, location)
    if found is not None:
        name = location.rstrip("/").rsplit("/", 1)[-1]
        return [storage.Entry(location, name, found[1])]
    files = [
        e
        for e in storage.list_files(s3, location, recursive=True)
        if not any(part.startswith((".", "_")) for part in e.location[len(location) :].split("/") if part)
    ]
    if not files:
        raise BackfillError(
            f"backfill input {location}: expected an event file or a folder (prefix) of them, found nothing",
            hint="pass a local file or folder, or s3://bucket/prefix holding .jsonl, .parquet or .csv files",
        )
    return files


def stage_events(s3: S3Config, source: Source, inputs: str | Path, staging: Path) -> int:
    """Write every input event (local or ``s3://`` files) as one JSON line under ``staging``; returns how many."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    staging.mkdir(parents=True, exist_ok=True)
    n = 0
    out = staging / "events.jsonl"
    with open(out, "wb") as fh:
        for entry in _input_files(s3, str(inputs)):
            fs, path = storage.filesystem(s3, entry.location)
            suffix = Path(entry.name).suffix.lower()
            if suffix in (".jsonl", ".json", ".ndjson", ".txt") or not suffix:
                with fs.open_input_stream(path) as src:
                    for line in io.BytesIO(src.read()):
                        if line.strip():
                            fh.write(line.rstrip(b"\r\n") + b"\n")
                            n += 1
                continue
            if suffix == ".parquet":
                table = pq.read_table(path, filesystem=fs)
            elif suffix == ".csv":
                with fs.open_input_stream(path) as src:
                    table = pcsv.read_csv(src)
            else:
                raise BackfillError(
                    f"{entry.location}: unsupported event file type {suffix!r}",
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


_RUNNING = ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")
# How long a running job may show no watermark before it is believed to have none (see live_stream).
WATERMARK_FETCH_S = 12.0


def live_stream(flink: FlinkClient, view: FeatureView, source: Source) -> StreamFrontier | None:
    """Where the view's running streaming job may still write (None when no job of the view runs):
    its smallest watermark and the view's horizon (:func:`jobs.compiler.state_ttl`: window span +
    the source's watermark delay), the rule of :mod:`offline.swap`."""
    from featurestream.jobs.compiler import state_ttl

    name = job_name(view)
    running = [j for j in flink.jobs() if j.get("name") == name and j.get("state") in _RUNNING]
    if not running:
        return None
    marks = [flink.min_watermark(j["jid"]) for j in running]
    # Flink's REST serves watermarks from a metric cache it refreshes in the background at most every
    # `metrics.fetcher.update-interval` (10 s): the first questions about a job may find the cache
    # still empty. So "no watermark" is believed only after it has had one refresh to show up.
    deadline = time.monotonic() + WATERMARK_FETCH_S
    while None in marks and time.monotonic() < deadline:
        time.sleep(1.0)
        marks = [flink.min_watermark(j["jid"]) for j in running]
    known = [m for m in marks if m is not None]
    watermark = None if len(known) < len(marks) else min(known)
    return open_days_from(name, watermark, state_ttl(view, source))


def _window_text(window: DateWindow) -> str:
    return f"the window [{window.start or '...'}, {window.end or '...'})"


def backfill(
    config: Config,
    view: FeatureView,
    source: Source,
    inputs: str | Path,
    *,
    start: date | None = None,
    end: date | None = None,
    echo: Callable[[str], None] = lambda m: None,
    progress: Callable[[JobProgress, int], None] | None = None,
    timeout_s: float = 3600.0,
) -> BackfillResult:
    """Run the batch job of ``view`` over ``inputs`` and swap its date partitions into the store.

    With ``start``/``end`` (UTC dates ``[start, end)``, :class:`featurestream.dates.DateWindow`) only
    rows of that window are written, and every partition of the window is replaced. ``progress``
    gets every poll of the running job (state, events read, rows written) with the number of staged
    input events (the total ``records_read`` grows to), about once a second.
    """
    window = DateWindow(start, end)  # refuses an empty window before anything is staged
    from featurestream.jobs.compiler import compile_batch_job
    from featurestream.offline.layout import delete_partitions, partition_dates, replace_partition

    flink = FlinkClient(config)
    stream = live_stream(flink, view, source)
    if stream is not None and window.bounded:  # open days are every day from one on: check the window's last
        last = (
            window.last_day
            if window.last_day is not None
            else max(window.start or date.min, stream.open_day or date.min)
        )
        stream.check(view.ref, [last], what=_window_text(window))
    t0 = time.monotonic()
    run = f"{view.namespace}-{view.name}-v{view.version}-{time.time_ns()}"
    local_work = config.state_path / "backfill" / run
    # The job's files live where its cluster reaches them: beside an object-store offline store
    # (hidden under ``_backfill``), else in the local state folder.
    remote = not config.offline_is_local
    work = storage.join(config.offline_location, "_backfill", run) if remote else str(local_work)
    n = stage_events(config.s3, source, inputs, local_work / "input")
    if n == 0:
        raise BackfillError(f"no events found in {inputs}")
    echo(f"staged {n:,} events from {inputs}")
    staged = storage.join(work, "input")
    if remote:
        storage.put_file(config.s3, local_work / "input" / "events.jsonl", storage.join(staged, "events.jsonl"))
    output, rejected_at = storage.join(work, "output"), storage.join(work, "rejected")
    spec = compile_batch_job(
        view,
        source,
        config,
        input_path=storage.as_flink_uri(staged),
        output_path=storage.as_flink_uri(output),
        dead_letter_path=storage.as_flink_uri(rejected_at),
        start=window.start,
        end=window.end,
    )
    echo(f"running the view's SQL in Flink {spec['mode']} mode ...")
    job_id = flink.submit(spec)  # detached: the job's progress is polled over REST, not waited on
    flink.wait_until_done(job_id, on_progress=(lambda p: progress(p, n)) if progress else None, timeout=timeout_s)

    produced = [d for d in storage.list_dirs(config.s3, output) if d.startswith("date=")]
    doomed: set[str] = set()
    if window.bounded:
        doomed = {str(d) for d in partition_dates(config, view) if d in window}
    stream = live_stream(flink, view, source)  # again: a stream may have started while the job ran
    if stream is not None:
        days = {date.fromisoformat(d) for d in doomed} | {date.fromisoformat(n.split("=", 1)[1]) for n in produced}
        what = _window_text(window) if window.bounded else f"the rows of {inputs}"
        stream.check(view.ref, days, what=what)
    for name in produced:
        day = name.split("=", 1)[1]
        doomed.discard(day)
        files = [e for e in storage.list_files(config.s3, storage.join(output, name)) if _visible(e.name) and e.size]

        def publish(target: str, prefix: str, files: list[storage.Entry] = files) -> list[str]:
            names = []
            for e in files:
                new = f"{prefix}{uuid.uuid4().hex[:8]}-{e.name}"
                storage.move(config.s3, e.location, storage.join(target, new))
                names.append(new)
            return names

        replace_partition(config, view, day, publish)  # the partition swap of offline.swap
    delete_partitions(config, view, [date.fromisoformat(d) for d in doomed])  # in range, no longer produced
    rejected = {"dead": 0, "late": 0}
    for kind in rejected:
        for e in storage.list_files(config.s3, storage.join(rejected_at, kind), recursive=True):
            if _visible(e.name):
                rejected[kind] += sum(
                    1 for line in storage.read_bytes(config.s3, e.location).splitlines() if line.strip()
                )
    shutil.rmtree(local_work / "input", ignore_errors=True)
    if remote:
        storage.delete(config.s3, [e.location for e in storage.list_files(config.s3, staged, recursive=True)])
    echo(
        f"swapped in {len(produced)} date partition(s); {rejected['dead']} dead letter(s), "
        f"{rejected['late']} late event(s) kept under {rejected_at}"
    )
    after = sorted(str(d) for d in partition_dates(config, view))
    return BackfillResult(job_id, n, time.monotonic() - t0, after, rejected["dead"], produced, rejected["late"])


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
