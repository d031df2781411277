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
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurestream import storage
from featurestream.config import Config

__all__ = ["RestorePoint", "RunLog", "checkpoint_base", "graph_fingerprint", "retained_checkpoints"]

_WITH = re.compile(r"\bWITH\s*\(.*\)\s*$", re.DOTALL | re.IGNORECASE)
_KEEP_RUNS = 20


def graph_fingerprint(spec: dict[str, Any]) -> str:
    """A digest of what decides a job's operators and their state: its statements without their
    connector options (``WITH (...)``: hosts, credentials), its inserts and its functions' names."""
    shape = {
        "statements": [_WITH.sub("", s) for s in spec.get("statements", [])],
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

    def record_run(self, name: str, job_id: str, graph: str) -> None:
        runs = self._read(self.runs)
        entry = {
            "job_id": job_id,
            "graph": graph,
            "checkpoints": checkpoint_base(self.config),
            "submitted_at": time.time(),
        }
        runs[name] = [*runs.get(name, []), entry][-_KEEP_RUNS:]
        self._write(self.runs, runs)

    def mark_cancelled(self, name: str, job_id: str) -> None:
        runs = self._read(self.runs)
        for entry in runs.get(name, []):
            if entry.get("job_id") == job_id:
                entry["cancelled"] = True
        self._write(self.runs, runs)

    def record_savepoint(self, name: str, path: str, graph: str) -> None:
        saved = self._read(self.savepoints)
        saved[name] = {"path": path, "graph": graph, "taken_at": time.time()}
        self._write(self.savepoints, saved)

    def candidates(self, name: str, cancelled: set[str] | None = None) -> list[RestorePoint]:
        """Every savepoint and complete retained checkpoint recorded for job ``name``, any graph.
        ``cancelled`` job ids (e.g. cancelled on the cluster directly) contribute no checkpoint."""
        out: list[RestorePoint] = []
        saved = self._read(self.savepoints).get(name)
        if saved is not None:
            # an entry from before graphs were recorded is a bare path: its graph is unknown
            path, graph = (saved, "") if isinstance(saved, str) else (saved.get("path", ""), saved.get("graph", ""))
            st = storage.stamp(self.config.s3, storage.join(path, "_metadata")) if path else None
            if st is not None:
                out.append(RestorePoint(path, "savepoint", graph, st[0]))
        for run in self._read(self.runs).get(name, []):
            if run.get("cancelled") or run.get("job_id") in (cancelled or set()):
                continue
            for folder, mtime in retained_checkpoints(self.config, run.get("checkpoints", ""), run["job_id"]):
                out.append(RestorePoint(folder, "checkpoint", run.get("graph", ""), mtime))
        return out

    def graph_of(self, name: str, job_id: str) -> str:
        """The job graph run ``job_id`` of ``name`` was submitted with ("" when not recorded)."""
        return next((r.get("graph", "") for r in self._read(self.runs).get(name, []) if r["job_id"] == job_id), "")


def choose(candidates: list[RestorePoint], graph: str) -> tuple[RestorePoint | None, list[RestorePoint]]:
    """(the newest candidate of ``graph``, the candidates of other graphs that were passed over)."""
    usable = [c for c in candidates if c.graph == graph]
    others = [c for c in candidates if c.graph != graph]
    best = max(usable, key=lambda c: (c.mtime_ns, c.kind == "savepoint")) if usable else None
    return best, others
