"""Health of the running streaming jobs, from Flink's REST API: watermark age and consumer lag.

For the job of each view (named by :func:`naming.job_name`):

* **watermark** — the smallest ``currentInputWatermark`` over every vertex and subtask (what the
  slowest operator has seen); its age is ``now - watermark``. Flink reports ``Long.MIN_VALUE`` before
  the first watermark: that is "no watermark yet", not an age.
* **consumer lag** — the sum over source subtasks of ``pendingRecords`` (records in Kafka the source
  has not read yet, FLIP-33), when the connector reports it.
* **last checkpoint** — age of the latest completed checkpoint.
* **duplicates** — copies of an already-seen event id the job dropped (on time or behind the
  watermark): the Deduplicate operator's records in minus records out, summed over its subtasks.
  ``None`` for a source without ``event_id`` (nothing is de-duplicated).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from featurestream.definitions import FeatureView
from featurestream.errors import FeatureStreamError
from featurestream.jobs.flink import FlinkClient
from featurestream.naming import job_name

__all__ = ["JobHealth", "job_health"]

_RUNNING = ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")


@dataclass(frozen=True)
class JobHealth:
    view: str
    job: str
    job_id: str | None
    state: str
    watermark_ms: int | None = None
    watermark_age_s: float | None = None
    pending_records: int | None = None
    checkpoint_age_s: float | None = None
    duplicates: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "job": self.job,
            "job_id": self.job_id,
            "state": self.state,
            "watermark_ms": self.watermark_ms,
            "watermark_age_s": self.watermark_age_s,
            "pending_records": self.pending_records,
            "checkpoint_age_s": self.checkpoint_age_s,
            "duplicates": self.duplicates,
            "error": self.error,
        }


def _vertex_sums(
    client: FlinkClient,
    job_id: str,
    vertices: list[dict[str, Any]],
    vertex: Callable[[str], bool],
    metric: Callable[[str], bool],
) -> list[dict[str, int]]:
    """Per vertex whose name ``vertex`` accepts: ``{metric id: value summed over subtasks}`` of the
    metrics whose id ``metric`` accepts (vertices reporting none of them are left out)."""
    out = []
    for v in vertices:
        if not vertex(str(v.get("name", ""))):
            continue
        ids = [str(m["id"]) for m in client.subtask_metrics(job_id, v["id"]) if metric(str(m["id"]))]
        if ids:
            sums = client.subtask_metrics(job_id, v["id"], ids, agg="sum")
            out.append({str(m["id"]): int(float(m["sum"])) for m in sums if m.get("sum") is not None})
    return out


def _pending(client: FlinkClient, job_id: str, vertices: list[dict[str, Any]]) -> int | None:
    found = _vertex_sums(
        client, job_id, vertices, lambda n: n.startswith("Source"), lambda m: m.endswith(".pendingRecords")
    )
    return sum(sum(s.values()) for s in found) if found else None


DEDUPLICATE = "Deduplicate"  # Flink's operator for ROW_NUMBER() ... WHERE rn = 1 (jobs.compiler)


def _duplicates(client: FlinkClient, job_id: str, vertices: list[dict[str, Any]]) -> int | None:
    """Records into the Deduplicate operator minus records out of it, over every subtask."""
    found = _vertex_sums(
        client,
        job_id,
        vertices,
        lambda n: DEDUPLICATE in n,
        lambda m: DEDUPLICATE in m and m.endswith((".numRecordsIn", ".numRecordsOut")),
    )
    if not found:
        return None
    ins = sum(x for s in found for k, x in s.items() if k.endswith(".numRecordsIn"))
    return ins - sum(x for s in found for k, x in s.items() if k.endswith(".numRecordsOut"))


def _checkpoint_age(client: FlinkClient, job_id: str, now_ms: int) -> float | None:
    latest = (client.checkpoints(job_id).get("latest") or {}).get("completed") or {}
    ts = latest.get("latest_ack_timestamp")
    return None if not ts else (now_ms - int(ts)) / 1000


def job_health(client: FlinkClient, views: Sequence[FeatureView], *, now_ms: int | None = None) -> list[JobHealth]:
    """One entry per view: its job's state, watermark age, consumer lag, checkpoint age, duplicates."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        jobs = client.jobs()
    except FeatureStreamError as exc:
        return [JobHealth(v.ref, job_name(v), None, "UNKNOWN", error=exc.message) for v in views]
    by_name: dict[str, dict[str, Any]] = {}
    for j in jobs:  # prefer a running job over finished ones of the same name
        if j["name"] not in by_name or j["state"] in _RUNNING:
            by_name[j["name"]] = j
    out: list[JobHealth] = []
    for v in views:
        name = job_name(v)
        found = by_name.get(name)
        if found is None:
            out.append(JobHealth(v.ref, name, None, "NOT_RUNNING"))
            continue
        jid, state = found["jid"], found["state"]
        if state not in _RUNNING:
            out.append(JobHealth(v.ref, name, jid, state))
            continue
        try:
            vertices = list(client.job(jid).get("vertices", []))
            wm = client.min_watermark(jid, vertices)
            out.append(
                JobHealth(
                    v.ref,
                    name,
                    jid,
                    state,
                    watermark_ms=wm,
                    watermark_age_s=None if wm is None else (now - wm) / 1000,
                    pending_records=_pending(client, jid, vertices),
                    checkpoint_age_s=_checkpoint_age(client, jid, now),
                    duplicates=_duplicates(client, jid, vertices),
                )
            )
        except FeatureStreamError as exc:
            out.append(JobHealth(v.ref, name, jid, state, error=exc.message))
    return out
