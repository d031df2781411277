"""Feature logging: a sample of served vectors, written to Parquet off the request path.

``FeatureLogger.offer`` is the only call on the request path: one random draw and, for a sampled
request, one ``put_nowait`` of references to the already-built result (no copying, no I/O). A full
queue drops the vector and counts the drop — logging never slows or fails a lookup. A daemon thread
turns queued results into rows and writes one Parquet file per flush (``flush_rows`` rows or
``flush_interval_s``), atomically (hidden temp file renamed into place), under::

    <offline>/<namespace>/_served/date=YYYY-MM-DD/part-<uuid>.parquet

(``<state_dir>/served/<namespace>/...`` when the offline store is on an object store: the log is
local to each serving process.)

One row per served value: ``served_at`` (UTC), ``request_id``, ``view``, ``version``, ``feature``,
``entity`` (the key encoding of :mod:`online.keys`), ``status``, ``value`` (JSON text, as served with
defaults applied), ``value_num`` (the value as a double when numeric or boolean), ``feature_time``.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featurestream.config import Config
from featurestream.ondemand import ON_DEMAND_VIEW
from featurestream.online.keys import encode_entity, encode_value

__all__ = ["SERVED_DIR", "SERVED_SCHEMA", "FeatureLogger", "served_dir"]

log = logging.getLogger(__name__)

SERVED_DIR = "_served"
SERVED_SCHEMA = pa.schema(
    [
        ("served_at", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("view", pa.string()),
        ("version", pa.int32()),
        ("feature", pa.string()),
        ("entity", pa.string()),
        ("status", pa.string()),
        ("value", pa.string()),
        ("value_num", pa.float64()),
        ("feature_time", pa.timestamp("ms", tz="UTC")),
    ]
)
_STOP = object()


def served_dir(config: Config, namespace: str | None = None) -> Path:
    """``<offline>/<namespace>/_served``: where logged vectors of one namespace live.

    With an object-store offline store (``s3://``) the log stays local to the serving process:
    ``<state_dir>/served/<namespace>/_served``.
    """
    base = config.offline_path if config.offline_is_local else config.state_path / "served"
    return base / (namespace or config.namespace) / SERVED_DIR


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


class FeatureLogger:
    """Sampled, asynchronous logging of served feature vectors (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        sample_rate: float | None = None,
        queue_size: int | None = None,
        flush_rows: int | None = None,
        flush_interval_s: float | None = None,
        seed: int | None = None,
    ) -> None:
        mon = config.monitoring
        self.config = config
        self.sample_rate = mon.log_sample_rate if sample_rate is None else sample_rate
        self.flush_rows = flush_rows or mon.log_flush_rows
        self.flush_interval_s = flush_interval_s or mon.log_flush_interval_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size or mon.log_queue_size)
        self._rand = random.Random(seed)
        self._thread: threading.Thread | None = None
        self.offered = self.sampled = self.dropped = self.rows_written = self.files_written = self.errors = 0

    # ------------------------------------------------------------------ request path

    def offer(self, namespace: str, plan: Any, entities: Mapping[str, Sequence[Any]], result: Any) -> None:
        """Maybe queue one lookup's result (``api.lookup.LookupResult``); never blocks, never raises."""
        self.offered += 1
        if self.sample_rate <= 0 or (self.sample_rate < 1 and self._rand.random() >= self.sample_rate):
            return
        try:
            self._queue.put_nowait((time.time(), namespace, plan, entities, result))
            self.sampled += 1
        except queue.Full:
            self.dropped += 1

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="featurestream-feature-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the writer thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("feature log queue full at shutdown; dropping queued vectors")
        self._thread.join(timeout)
        self._thread = None

    def stats(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "sample_rate": self.sample_rate,
            "offered": self.offered,
            "sampled": self.sampled,
            "dropped": self.dropped,
            "queued": self._queue.qsize(),
            "rows_written": self.rows_written,
            "files_written": self.files_written,
            "errors": self.errors,
        }

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        count = 0
        next_flush = time.monotonic() + self.flush_interval_s
        while True:
            timeout = max(next_flush - time.monotonic(), 0.01)
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            stop = item is _STOP
            if item is not None and not stop:
                try:
                    for ns, row in self._rows(item):
                        pending.setdefault((ns, row["served_at"].date().isoformat()), []).append(row)
                        count += 1
                except Exception:  # a malformed result must not kill the logger
                    self.errors += 1
                    log.exception("feature log: could not convert a served vector")
            if stop or count >= self.flush_rows or time.monotonic() >= next_flush:
                for (ns, day), rows in pending.items():
                    self._write(ns, day, rows)
                pending, count = {}, 0
                next_flush = time.monotonic() + self.flush_interval_s
            if stop:
                return

    def _rows(self, item: tuple[float, str, Any, Mapping[str, Sequence[Any]], Any]) -> list[tuple[str, dict[str, Any]]]:
        ts, namespace, plan, entities, res = item
        served_at = datetime.fromtimestamp(ts, UTC)
        request_id = uuid.uuid4().hex[:16]
        out: list[tuple[str, dict[str, Any]]] = []
        for c, col in enumerate(plan.columns):
            values = res.served(c)
            if col.udf is None:
                view = plan.reads[col.read].view
                vname, version, feature = view.name, view.version, col.short_name
                ents = [entities[e] for e in view.entities]
            else:
                vname, version, feature = ON_DEMAND_VIEW, 0, col.short_name
                ents = [entities[e] for e in plan.entity_names if e in entities]
            for i in range(res.n):
                v = values[i]
                ft = res.times[c][i]
                out.append(
                    (
                        namespace,
                        {
                            "served_at": served_at,
                            "request_id": request_id,
                            "view": vname,
                            "version": version,
                            "feature": feature,
                            "entity": encode_entity([e[i] for e in ents]) if ents else "",
                            "status": res.statuses[c][i].value,
                            "value": encode_value(v).decode(),
                            "value_num": _num(v),
                            "feature_time": None if ft is None else datetime.fromtimestamp(ft / 1000, UTC),
                        },
                    )
                )
        return out

    def _write(self, namespace: str, day: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            table = pa.Table.from_pylist(rows, schema=SERVED_SCHEMA)
            directory = served_dir(self.config, namespace) / f"date={day}"
            directory.mkdir(parents=True, exist_ok=True)
            name = f"part-{uuid.uuid4().hex}.parquet"
            tmp = directory / f".{name}.inprogress"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, directory / name)
            self.rows_written += len(rows)
            self.files_written += 1
        except Exception:  # disk full, permissions: count, log, keep serving
            self.errors += 1
            log.exception("feature log: writing %d rows failed", len(rows))
