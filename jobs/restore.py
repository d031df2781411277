"""Where a view's job resumes from: the one restore rule of ``jobs submit``.

A job never starts from empty state while a usable state exists, and never resumes from a state
that does not belong to it:

* candidates are the view's recorded savepoint (``savepoints.json``, written by ``jobs cancel``)
  and every complete retained checkpoint (``<checkpoints>/<job id>/chk-N/_metadata``) of the
  view's earlier runs (``job-runs.json``, written by ``jobs submit``) that were not cancelled on
  purpose (a job cancelled with or without a savepoint leaves its checkpoints behind; only a lost
  or failed job resumes from them);
* a candidate is used only when it was taken from the same job graph (:func:`graph_fingerprint`
  of the compiled spec); candidates of another graph are never used;
* of the usable candidates the newest wins (the ``_metadata`` file's modification time): a
  savepoint is not reused once a newer checkpoint exists, e.g. after a JobManager loss.

When no usable candidate exists but candidates of another graph do, the caller refuses to start
from empty state silently (``--fresh`` or ``--savepoint PATH`` says what is wanted).

A job that starts WITHOUT state (``--fresh``, no candidate, checkpoints lost) never overwrites a
stored row: its Kafka consumer group resumes from the offsets the earlier run committed, so its
first windows miss the events read before them and are partial, and at an equal ``feature_time``
the newest ``created_at`` wins online (and in the offline point-in-time join). The rule:

* at submit, the guard ``W`` is the newest ``feature_time`` already stored for the view version:
  the maximum over the offline store (committed Parquet) and the online store (every key's
  ``_ft``; online runs ahead of offline, which commits on checkpoints) -- :func:`emit_guard`. No
  stored row, no guard;
* the job then writes only rows with ``feature_time > W`` (one filter on the rows view feeding both
  sinks, :func:`featurestream.jobs.compiler.emit_guard_clause`). Every window ending at or before
  ``W`` was emitted by the earlier run (its watermark passed ``W``), so nothing stored is replaced;
  windows after ``W`` that began before the restart miss the events read before it -- the loss
  inherent to starting without state, printed at submit, never hidden. Rows the earlier run wrote
  online after its last checkpoint (``feature_time`` between the offline and the online newest) are
  kept online and stay missing offline (a backfill of those dates recomputes them);
* the guard is not part of :func:`graph_fingerprint` (a guarded run and a normal one are the same
  job graph, so a later normal submit resumes from the guarded run's checkpoints), and it is
  recorded with the run (``job-runs.json``) and its savepoint: a job resumed from a guarded run's
  state is compiled with the same guard again, so the graph that restores the state is exactly the
  one that wrote it (Flink maps state to operators by the generated graph, and a filter may or may
  not fuse into a neighbouring operator). Re-applying it drops nothing: everything at or before
  ``W`` was stored before the guarded run started. A job resumed from an unguarded state gets none.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurestream import storage
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.jobs.compiler import without_emit_guard
from featurestream.online.store import RedisOnlineStore

__all__ = [
    "EmitGuard",
    "RestorePoint",
    "RunLog",
    "checkpoint_base",
    "emit_guard",
    "graph_fingerprint",
    "retained_checkpoints",
]

_WITH = re.compile(r"\bWITH\s*\(.*\)\s*$", re.DOTALL | re.IGNORECASE)
_KEEP_RUNS = 20


def graph_fingerprint(spec: dict[str, Any]) -> str:
    """A digest of what decides a job's operators and their state: its statements without their
    connector options (``WITH (...)``: hosts, credentials) and without an emit guard (the rule
    above), its inserts and its functions' names."""
    shape = {
        "statements": [_WITH.sub("", without_emit_guard(s)) for s in spec.get("statements", [])],
        "inserts": list(spec.get("inserts", [])),
        "functions": [(f.get("name"), f.get("module"), f.get("attr")) for f in spec.get("python_functions", [])],
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def checkpoint_base(config: Config) -> str:
    """Where the jobs of ``config`` keep their checkpoints (``<base>/<job id>/chk-N``):
    ``flink.checkpoints_dir``, else the local stack's own folder when the job goes there, else ""
    (a remote cluster's own setting, unknown here)."""
    if config.flink.checkpoints_dir:
        return config.flink.checkpoints_dir
    if config.targets_local_stack:
        from featurestream.stack.flink import local_checkpoints_dir

        return str(local_checkpoints_dir(config))
    return ""


@dataclass(frozen=True)
class RestorePoint:
    path: str
    kind: str  # "savepoint" | "checkpoint"
    graph: str
    mtime_ns: int
    # the emit guard of the run that wrote this state: re-applied when resuming from it
    emit_after: datetime | None = None


@dataclass(frozen=True)
class EmitGuard:
    """What a job started without state may write: rows with ``feature_time`` after ``after``, the
    newest of ``offline`` (committed Parquet) and ``online`` (Redis ``_ft``)."""

    after: datetime
    offline: datetime | None
    online: datetime | None

    def describe(self) -> str:
        """The submit message: the guard and what it means, in one paragraph."""

        def at(t: datetime | None) -> str:
            return t.isoformat() if t is not None else "none"

        text = (
            f"started without state: writes only rows with feature_time after {at(self.after)} "
            f"(the newest stored: offline {at(self.offline)}, online {at(self.online)}); rows at or "
            "before it are kept as the earlier run wrote them. Windows after it that began before the "
            "restart miss the events read before the consumer group's committed offsets and may be "
            "incomplete until they roll over."
        )
        if self.offline is None or self.offline < self.after:
            text += (
                f" Rows after the offline store's newest ({at(self.offline)}) up to {at(self.after)} exist "
                "online only; 'featurestream backfill' recomputes them offline."
            )
        return text


def emit_guard(config: Config, view: FeatureView, online: RedisOnlineStore) -> EmitGuard | None:
    """The emit guard of ``view``'s job when it starts without state (the rule above): the newest
    ``feature_time`` stored offline or in ``online`` (the view's namespace), None when neither holds
    a row of the view version."""
    from featurestream.offline.duck import newest_feature_time as offline_newest
    from featurestream.online.scan import newest_feature_time as online_newest

    off = offline_newest(config, view)
    on_ms = online_newest(online, view)
    on = None if on_ms is None else datetime.fromtimestamp(on_ms / 1000, tz=UTC)
    newest = max((t for t in (off, on) if t is not None), default=None)
    return None if newest is None else EmitGuard(newest, off, on)


def _when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def retained_checkpoints(config: Config, base: str, job_id: str) -> list[tuple[str, int]]:
    """``[(chk-N folder, _metadata mtime ns)]`` of one job's complete retained checkpoints."""
    if not base:
        return []
    root = storage.join(base, job_id)
    out = []
    for name in storage.list_dirs(config.s3, root):
        if not re.fullmatch(r"chk-\d+", name):
            continue
        folder = storage.join(root, name)
        st = storage.stamp(config.s3, storage.join(folder, "_metadata"))
        if st is not None and st[1] > 0:  # complete: its metadata was written
            out.append((folder, st[0]))
    return out


class RunLog:
    """The state files beside the registry: ``savepoints.json`` and ``job-runs.json``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.savepoints = config.state_path / "savepoints.json"
        self.runs = config.state_path / "job-runs.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        storage.replace_local(path, json.dumps(data, indent=1).encode())

    def record_run(self, name: str, job_id: str, graph: str, emit_after: datetime | None = None) -> None:
        runs = self._read(self.runs)
        entry = {
            "job_id": job_id,
            "graph": graph,
            "checkpoints": checkpoint_base(self.config),
            "submitted_at": time.time(),
            **({"emit_after": _iso(emit_after)} if emit_after is not None else {}),
        }
        runs[name] = [*runs.get(name, []), entry][-_KEEP_RUNS:]
        self._write(self.runs, runs)

    def mark_cancelled(self, name: str, job_id: str) -> None:
        runs = self._read(self.runs)
        for entry in runs.get(name, []):
            if entry.get("job_id") == job_id:
                entry["cancelled"] = True
        self._write(self.runs, runs)

    def record_savepoint(self, name: str, path: str, graph: str, emit_after: datetime | None = None) -> None:
        saved = self._read(self.savepoints)
        saved[name] = {"path": path, "graph": graph, "taken_at": time.time()}
        if emit_after is not None:
            saved[name]["emit_after"] = _iso(emit_after)
        self._write(self.savepoints, saved)

    def candidates(self, name: str, cancelled: set[str] | None = None) -> list[RestorePoint]:
        """Every savepoint and complete retained checkpoint recorded for job ``name``, any graph.
        ``cancelled`` job ids (e.g. cancelled on the cluster directly) contribute no checkpoint."""
        out: list[RestorePoint] = []
        saved = self._read(self.savepoints).get(name)
        if saved is not None:
            # an entry from before graphs were recorded is a bare path: its graph is unknown
            entry = {"path": saved} if isinstance(saved, str) else saved
            path, graph = entry.get("path", ""), entry.get("graph", "")
            st = storage.stamp(self.config.s3, storage.join(path, "_metadata")) if path else None
            if st is not None:
                out.append(RestorePoint(path, "savepoint", graph, st[0], _when(entry.get("emit_after"))))
        for run in self._read(self.runs).get(name, []):
            if run.get("cancelled") or run.get("job_id") in (cancelled or set()):
                continue
            guard = _when(run.get("emit_after"))
            for folder, mtime in retained_checkpoints(self.config, run.get("checkpoints", ""), run["job_id"]):
                out.append(RestorePoint(folder, "checkpoint", run.get("graph", ""), mtime, guard))
        return out

    def graph_of(self, name: str, job_id: str) -> str:
        """The job graph run ``job_id`` of ``name`` was submitted with ("" when not recorded)."""
        return next((r.get("graph", "") for r in self._read(self.runs).get(name, []) if r["job_id"] == job_id), "")

    def emit_after_of(self, name: str, job_id: str) -> datetime | None:
        """The emit guard run ``job_id`` of ``name`` was submitted with (None: no guard, or not recorded)."""
        run: dict[str, Any] = next((r for r in self._read(self.runs).get(name, []) if r["job_id"] == job_id), {})
        return _when(run.get("emit_after"))


def choose(candidates: list[RestorePoint], graph: str) -> tuple[RestorePoint | None, list[RestorePoint]]:
    """(the newest candidate of ``graph``, the candidates of other graphs that were passed over)."""
    usable = [c for c in candidates if c.graph == graph]
    others = [c for c in candidates if c.graph != graph]
    best = max(usable, key=lambda c: (c.mtime_ns, c.kind == "savepoint")) if usable else None
    return best, others
