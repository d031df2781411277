"""The one owner of replacing a date partition of the offline store: the swap protocol, its
recovery rule, and which days a backfill may replace while the live stream writes.

Works on a partition *location* (local directory or ``s3://`` prefix, :mod:`featurestream.storage`)
with nothing but one-object atomic writes (temp + fsync + rename locally, one PUT on S3) and
deletes, so it is the same protocol on a disk and on an object store without rename.

What readers see (:func:`committed_files`, used by :mod:`offline.layout`, hence by
:mod:`offline.duck`, the training sets and the audit): when ``_manifest.json`` exists, exactly the
files its ``files`` lists; otherwise every visible data file (name not starting with ``.`` or ``_``,
non-empty) -- the streaming job's Flink sink only makes committed files visible.

The swap (:func:`replace`), each numbered step one atomic write or one delete::

    0. recover   finish or roll back an interrupted swap of this partition (rule below)
    1. begin     manifest {state: begun, swap: ID, files: OLD}     readers: OLD (frozen)
    2. stage     write the new files, each named part-ID-...       readers: OLD (unlisted)
    3. commit    manifest {state: committed, swap: ID,
                           files: NEW, replaced: OLD}              readers: NEW
    4. clean     delete the OLD files, one by one                  readers: NEW (listed)
    5. release   delete the manifest                               readers: NEW (visible = listed)

A manifest therefore exists only while a swap is in flight or after it was interrupted, and a
process killed between any two steps leaves the day with exactly the old rows (before 3) or exactly
the new rows (from 3 on) -- never both, never none. Deleting a partition is a swap to no files.

Recovery rule (:func:`recover`; every writer runs it on a partition before touching it, and
:func:`repair` runs it over a view): a manifest found on disk belongs to an interrupted swap.
Make the directory hold what readers already read, then delete the manifest:

- ``begun``     -> roll back: delete the files named ``part-ID-*`` (and their hidden temp files);
- ``committed`` -> finish: delete the ``replaced`` files that are not in ``files``;
- format 1 (written by earlier releases, kept after the swap) -> delete the visible files it
  does not list (what that release's next replace did).

Recovery never changes what a reader sees, deletes only files the interrupted swap named (never a
file another writer, e.g. the stream, added meanwhile), and is itself safe to kill and re-run: the
manifest is deleted last.

One writer per partition at a time: nothing here is locked (an object store gives no lock). A
commit re-reads the manifest first and refuses when another swap took it over, which catches most
overlaps but not all. Backfills of one view must not run concurrently.

The live stream (:func:`open_days_from`, :class:`PartitionInUseError`): the streaming job writes a
day's partition for as long as it can still emit rows with a ``feature_time`` on that day. Rows
behind its watermark are dropped (late), so it writes only days from the UTC date of its watermark,
less the view's horizon (window span + watermark delay, covering rows in flight and a restart from
the last checkpoint). While the view's streaming job runs, a backfill may replace only days before
that *open day*; with no watermark yet every day is open. A stopped job is not writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from featurestream import storage
from featurestream.config import S3Config
from featurestream.offline.errors import OfflineError

__all__ = [
    "MANIFEST",
    "PartitionInUseError",
    "StreamFrontier",
    "committed_files",
    "open_days_from",
    "recover",
    "replace",
]

MANIFEST = "_manifest.json"
BEGUN, COMMITTED = "begun", "committed"

Write = Callable[[str, str], list[str]]
"""``write(partition_location, prefix)`` writes the new files, each atomically under a unique name
starting with ``prefix``, and returns their names."""


def visible(name: str) -> bool:
    """A data file name readers consider (not hidden ``.x``, not a marker ``_x``)."""
    return not name.startswith((".", "_"))


def _visible_names(s3: S3Config, part: str) -> list[str]:
    return [e.name for e in storage.list_files(s3, part) if visible(e.name) and e.size > 0]


def _read_manifest(s3: S3Config, part: str) -> dict[str, Any] | None:
    location = storage.join(part, MANIFEST)
    try:
        doc = json.loads(storage.read_bytes(s3, location))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise OfflineError(
            f"{location}: expected a JSON manifest {{'files': [...]}}, found unreadable JSON",
            hint="re-run the backfill or write_rows(replace=True) for that date to rewrite it",
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise OfflineError(
            f"{location}: expected a JSON manifest {{'files': [...]}}, found {type(doc).__name__}",
            hint="re-run the backfill or write_rows(replace=True) for that date to rewrite it",
        )
    return doc


def _publish(s3: S3Config, part: str, doc: dict[str, Any]) -> None:
    """One atomic write of the manifest (one PUT on S3, temp + fsync + rename locally)."""
    storage.write_bytes(s3, storage.join(part, MANIFEST), json.dumps(doc, indent=1).encode())


def committed_files(s3: S3Config, part: str) -> list[str]:
    """The locations of the files readers read in one partition (the reading rule above)."""
    doc = _read_manifest(s3, part)
    if doc is None:
        return [storage.join(part, n) for n in _visible_names(s3, part)]
    return [storage.join(part, str(n)) for n in doc["files"]]


def _prefix(swap: str) -> str:
    return f"part-{swap}-"


def _doomed(s3: S3Config, part: str, doc: dict[str, Any]) -> list[str]:
    """The files recovery deletes for a found manifest (the recovery rule above)."""
    listed = {str(n) for n in doc["files"]}
    state = doc.get("state")
    if state == BEGUN:
        prefix = _prefix(str(doc["swap"]))
        return [e.name for e in storage.list_files(s3, part) if e.name.lstrip(".").startswith(prefix)]
    if state == COMMITTED:
        present = {e.name for e in storage.list_files(s3, part)}
        return [str(n) for n in doc.get("replaced", []) if n not in listed and n in present]
    return [n for n in _visible_names(s3, part) if n not in listed]  # format 1


def recover(s3: S3Config, part: str) -> bool:
    """Finish or roll back an interrupted swap of ``part``; True when there was one."""
    doc = _read_manifest(s3, part)
    if doc is None:
        return False
    storage.delete(s3, [storage.join(part, n) for n in _doomed(s3, part, doc)])
    storage.delete(s3, [storage.join(part, MANIFEST)])
    return True


def replace(s3: S3Config, part: str, write: Write) -> list[str]:
    """Replace the files of one partition as a whole (the swap above); returns the new locations.

    An exception from ``write`` rolls the swap back before it propagates; a killed process leaves
    a manifest that the next writer's :func:`recover` resolves.
    """
    recover(s3, part)
    swap = uuid.uuid4().hex[:16]
    prefix = _prefix(swap)
    old = _visible_names(s3, part)
    _publish(s3, part, {"format": 2, "state": BEGUN, "swap": swap, "files": old})  # 1. begin
    try:
        names = write(part, prefix)  # 2. stage
        wrong = [n for n in names if not n.startswith(prefix)]
        if wrong:
            raise OfflineError(
                f"partition swap {part}: expected new file names starting with {prefix!r}, found {wrong}",
                hint="the write callback must name its files with the prefix it is given",
            )
    except Exception:
        recover(s3, part)  # roll back what was staged
        raise
    current = _read_manifest(s3, part)
    if current is None or current.get("swap") != swap:
        raise OfflineError(
            f"partition swap {part}: another writer took over the partition while this swap staged its files",
            hint="run one backfill (or write_rows(replace=True)) per view at a time, then re-run this one",
        )
    doc = {"format": 2, "state": COMMITTED, "swap": swap, "files": sorted(names), "replaced": old}
    _publish(s3, part, doc)  # 3. commit
    keep = set(names)
    storage.delete(s3, [storage.join(part, n) for n in old if n not in keep])  # 4. clean
    storage.delete(s3, [storage.join(part, MANIFEST)])  # 5. release
    if not names and not storage.is_uri(part):
        with contextlib.suppress(OSError):
            os.rmdir(part)  # an emptied local partition disappears (kept when anything else is left)
    return [storage.join(part, n) for n in names]


# --------------------------------------------------------------------------- the live stream


class PartitionInUseError(OfflineError):
    """A backfill would replace a date partition that the view's live streaming job still writes."""


@dataclass(frozen=True)
class StreamFrontier:
    """Where a running streaming job of one view may still write: every day from ``open_day`` on
    (``open_day`` None: the job has no watermark yet, so every day is open)."""

    job: str
    watermark: datetime | None
    horizon: timedelta

    @property
    def open_day(self) -> date | None:
        if self.watermark is None:
            return None
        return (self.watermark - self.horizon).astimezone(UTC).date()

    def is_open(self, day: date) -> bool:
        """Whether the stream may still write ``day``."""
        first = self.open_day
        return first is None or day >= first

    def check(self, view: str, days: Iterable[date], *, what: str) -> None:
        """Raise :class:`PartitionInUseError` when any of ``days`` is open; ``what`` says why those
        days would be replaced (e.g. "the window [2024-03-01, 2024-03-08)")."""
        busy = sorted(d for d in set(days) if self.is_open(d))
        if not busy:
            return
        first = self.open_day
        if first is None:
            raise PartitionInUseError(
                f"backfill of {view}: {what} would replace {_days(busy)}, and the live streaming job "
                f"{self.job} has no watermark yet, so it may still write any day",
                hint=f"wait until the stream has processed events, or stop it first "
                f"('featurestream jobs cancel {view}')",
            )
        assert self.watermark is not None
        raise PartitionInUseError(
            f"backfill of {view}: {what} would replace {_days(busy)}, which the live streaming job "
            f"{self.job} still writes (its watermark is {self.watermark.isoformat()}, horizon "
            f"{self.horizon}: days from {first} on are open)",
            hint=f"backfill only closed days with --end {first} (exclusive), or stop the stream first "
            f"('featurestream jobs cancel {view}')",
        )


def _days(days: Sequence[date]) -> str:
    text = ", ".join(d.isoformat() for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    return f"the partition{'s' if len(days) > 1 else ''} of {text}"


def open_days_from(job: str, watermark_ms: int | None, horizon: timedelta) -> StreamFrontier:
    """The :class:`StreamFrontier` of a running job from its smallest watermark (epoch ms, None when
    it has none yet) and the view's horizon (window span + the source's watermark delay)."""
    wm = None if watermark_ms is None else datetime.fromtimestamp(watermark_ms / 1000, tz=UTC)
    return StreamFrontier(job, wm, horizon)
