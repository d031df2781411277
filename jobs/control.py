"""Job control: map registered views to their streaming jobs on a Flink cluster.

Submit (resuming from the newest savepoint or retained checkpoint of the same job graph, the
rule of :mod:`featurestream.jobs.restore`; a job starting without state gets that module's emit
guard), list, cancel with a savepoint.
The CLI (``featurestream jobs``), the demo and the tests all go through
:class:`JobManager`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from featurestream.config import Config
from featurestream.definitions import FeatureView, Source
from featurestream.errors import FeatureStreamError, RegistryError
from featurestream.jobs.flink import FlinkClient, FlinkError
from featurestream.jobs.restore import EmitGuard, RestorePoint, RunLog, choose, emit_guard, graph_fingerprint
from featurestream.kafka_props import KafkaConnectError, describe_listener, kafka_admin
from featurestream.naming import dlq_topic, job_name, late_topic, source_topic
from featurestream.registry import Registry

__all__ = ["JobManager", "ViewSubmission", "view_source"]


def view_source(registry: Registry, view: FeatureView) -> Source:
    """The one registered source ``view`` reads (a streaming job reads exactly one).

    Raises :class:`RegistryError` when the view names no source, several, or one not registered.
    """
    registry.reload()
    srcs = {s["name"]: s for s in registry.sources(view.namespace)}
    if len(view.sources) != 1 or view.sources[0] not in srcs:
        raise RegistryError(
            f"view {view.ref} must read exactly one registered source, found {view.sources}",
            hint="name one source of sql/sources/ in the view's FROM clause and run 'featurestream apply'",
        )
    return Source.from_dict(srcs[view.sources[0]])


@dataclass(frozen=True)
class ViewSubmission:
    """What ``submit_many`` did for one view: its job id (``submitted`` False when it already ran),
    or the error that kept it from running."""

    view: FeatureView
    job_id: str | None
    submitted: bool
    error: FeatureStreamError | None = None


class JobManager:
    """Maps registered views to Flink jobs (by job name) on the configured cluster."""

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry.open(config)
        self.flink = FlinkClient(config)
        self.log = RunLog(config)
        # what the last submit of each job name resumed from (None: the topic's offsets)
        self.restored_from: dict[str, RestorePoint | None] = {}
        # the emit guard each job name's last submit computed (None: resumed from state, or nothing stored)
        self.guards: dict[str, EmitGuard | None] = {}

    def view(self, ref: str) -> FeatureView:
        self.registry.reload()  # a stat; picks up an apply made after this manager was built
        return self.registry.find_view(self.config.namespace, ref)

    def source_of(self, view: FeatureView) -> Source:
        return view_source(self.registry, view)

    def running(self) -> dict[str, dict]:  # type: ignore[type-arg]
        return {
            j["name"]: j
            for j in self.flink.jobs()
            if j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")
        }

    def ensure_topics(self, view: FeatureView, source: Source, *, timeout_s: float = 5.0) -> list[str]:
        """Create the view's source, dead-letter and late topics when missing (partitions and
        replication from ``kafka.topics``); returns the topics created. Connecting is the Kafka
        preflight: wrong credentials or an unreachable listener fail here within ``timeout_s``
        with :class:`KafkaConnectError`, before anything is submitted."""
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        kafka = self.config.kafka
        t = kafka.topics
        wanted = {
            source_topic(kafka, source.topic): t.source,
            dlq_topic(view, kafka): t.dlq,
            late_topic(view, kafka): t.late,
        }
        admin = kafka_admin(kafka.bootstrap_servers, kafka.properties, timeout_s=timeout_s)
        created = []
        try:
            existing = set(admin.list_topics())
            for topic, settings in wanted.items():
                if topic in existing:
                    continue
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(topic, settings.partitions, settings.replication_factor)])
                    created.append(topic)
        except KafkaError as exc:
            raise KafkaConnectError(
                f"cannot create the topics of {view.ref} on Kafka at "
                f"{describe_listener(kafka.bootstrap_servers, kafka.properties)}: {type(exc).__name__}: {exc}",
                hint="check kafka.topics (replication_factor <= brokers) and the ACLs of the configured user",
            ) from exc
        finally:
            admin.close()
        return created

    def restore_point(self, name: str, graph: str) -> RestorePoint | None:
        """The newest savepoint or retained checkpoint of job ``name`` taken from job graph
        ``graph`` (None: nothing recorded). Raises :class:`RegistryError` when only states of
        another job graph exist: they are never used, and starting empty must be asked for."""
        cancelled = {j["jid"] for j in self.flink.jobs() if j.get("state") == "CANCELED"}
        best, others = choose(self.log.candidates(name, cancelled), graph)
        if best is None and others:
            newest = max(others, key=lambda c: c.mtime_ns)
            raise RegistryError(
                f"the recorded {newest.kind} of {name} ({newest.path}) was taken from another job graph "
                f"({newest.graph or 'unknown'}, this one is {graph}); it is never restored into this job",
                hint="start from the topic's offsets with 'featurestream jobs submit --fresh', "
                "or name a compatible state with --savepoint PATH",
            )
        return best

    def emit_guard(self, view: FeatureView) -> EmitGuard | None:
        """The emit guard of ``view``'s job when it starts without state
        (:func:`featurestream.jobs.restore.emit_guard`). Raises :class:`RegistryError` when the
        online store cannot be read: starting without knowing what is stored could overwrite it."""
        from redis.exceptions import RedisError

        from featurestream.online.store import RedisOnlineStore

        try:
            store = RedisOnlineStore.from_url(self.config.redis.url, view.namespace)
            try:
                return emit_guard(self.config, view, store)
            finally:
                store.close()
        except RedisError as exc:  # the URL may hold a password: it is not repeated here
            raise RegistryError(
                f"cannot read the online rows of {view.ref} (redis.url) to guard a start without state: "
                f"{type(exc).__name__}: {exc}",
                hint="start Redis ('featurestream up') or fix redis.url, then submit again",
            ) from exc

    def _recorded_guard(self, name: str, path: str) -> datetime | None:
        """The emit guard recorded with the state at ``path`` (a savepoint named by hand)."""
        return next((c.emit_after for c in self.log.candidates(name) if c.path == path), None)

    def submit(self, view: FeatureView, *, savepoint: str | None = None, fresh: bool = False) -> tuple[str, bool]:
        """Submit the view's streaming job unless it already runs. Returns (job id, submitted now)."""
        (one,) = self.submit_many([view], savepoint=savepoint, fresh=fresh)
        if one.error is not None:
            raise one.error
        assert one.job_id is not None
        return one.job_id, one.submitted

    def submit_many(
        self, views: list[FeatureView], *, savepoint: str | None = None, fresh: bool = False
    ) -> list[ViewSubmission]:
        """Submit the streaming job of every view that is not running yet, with ONE Flink client
        start-up; each view stays its own job (own name, configuration, checkpoints and restore path).

        A view resumes from ``savepoint`` (only with a single view), else, unless ``fresh``, from the
        newest savepoint or retained checkpoint of its own job graph (:meth:`restore_point`); a
        resumed job keeps the emit guard its state was written with, a job starting without state
        gets a new one (:meth:`emit_guard`, recorded in :attr:`guards`). Returns
        one :class:`ViewSubmission` per view, in order; a view that fails (its topics, a free slot,
        compiling, Flink refusing it) carries its own error and never stops the others.
        """
        from featurestream.jobs.compiler import compile_streaming_job
        from featurestream.stack.jars import require_jars

        require_jars(self.config.jars_path, "flink")  # before any topic is created or view compiled
        if savepoint is not None and len(views) > 1:
            raise RegistryError(
                f"one savepoint cannot restore {len(views)} jobs",
                hint="name one view with --savepoint; the others resume from their recorded savepoints",
            )
        out: dict[str, ViewSubmission] = {}
        running = self.running()
        specs: list[tuple[FeatureView, dict[str, Any]]] = []
        restore: dict[str, str] = {}
        points: dict[str, RestorePoint | None] = {}
        graphs: dict[str, str] = {}
        guards: dict[str, EmitGuard | None] = {}
        emits: dict[str, datetime | None] = {}
        for view in views:
            name = job_name(view)
            if view.ref in out or any(v.ref == view.ref for v, _ in specs):
                continue  # named twice: one job
            if name in running:
                out[view.ref] = ViewSubmission(view, running[name]["jid"], False)
                continue
            try:
                source = self.source_of(view)
                self.ensure_topics(view, source)  # the Kafka preflight: fails within seconds on bad credentials
                spec = compile_streaming_job(view, source, self.config)
                graph = graph_fingerprint(spec)
                point = None
                if savepoint is not None:
                    point = RestorePoint(savepoint, "savepoint", graph, 0, self._recorded_guard(name, savepoint))
                elif not fresh:  # the rule of featurestream.jobs.restore: same graph, newest state
                    point = self.restore_point(name, graph)
                # without state: write only after the newest stored row; resumed: the state's own guard
                guard = self.emit_guard(view) if point is None else None
                emit_after = guard.after if guard is not None else (point.emit_after if point else None)
                if emit_after is not None:  # the same graph (fingerprint), filtered rows
                    spec = compile_streaming_job(view, source, self.config, emit_after=emit_after)
            except FeatureStreamError as exc:
                out[view.ref] = ViewSubmission(view, None, False, exc)
                continue
            specs.append((view, spec))
            graphs[name], points[name], guards[name], emits[name] = graph, point, guard, emit_after
            if point is not None:
                restore[name] = point.path
        free = self._free_slots(len(specs)) if specs else 0
        for view, _ in specs[free:]:
            out[view.ref] = ViewSubmission(
                view,
                None,
                False,
                RegistryError(
                    f"the Flink cluster has no free task slot for {view.ref} ({free} free for {len(specs)} new jobs)",
                    hint="cancel a job ('featurestream jobs cancel VIEW') or raise stack.flink.task_slots "
                    "(then 'featurestream down --only flink && featurestream up')",
                ),
            )
        specs = specs[:free]
        if any(points[job_name(v)] is None for v, _ in specs):
            # a job from the topic's start fills the store; a restored one does not refill it
            self.mark_online_generation()
        results = self.flink.submit_many([s for _, s in specs], restore=restore) if specs else []
        for (view, _), res in zip(specs, results, strict=True):
            err = None if res.job_id else FlinkError(res.error or f"submitting {view.ref} failed")
            out[view.ref] = ViewSubmission(view, res.job_id, res.job_id is not None, err)
            if res.job_id:
                name = job_name(view)
                self.log.record_run(name, res.job_id, graphs[name], emits[name])
                self.restored_from[name] = points[name]
                self.guards[name] = guards[name]
        return [out[v.ref] for v in views]

    def _free_slots(self, wanted: int, wait_s: float = 60.0) -> int:
        """Free task slots, waiting up to ``wait_s`` for ``wanted`` of them (slots of just-cancelled
        jobs come back within seconds)."""
        deadline = time.monotonic() + wait_s
        free = int(self.flink._request("GET", "/overview").get("slots-available", 0))
        while free < wanted and time.monotonic() < deadline:
            time.sleep(1)
            free = int(self.flink._request("GET", "/overview").get("slots-available", 0))
        return min(free, wanted)

    def mark_online_generation(self) -> str:
        """Write the online store's generation marker unless present (the job starts filling it)."""
        from redis.exceptions import RedisError

        from featurestream.online.client import redis_client
        from featurestream.online.generation import ensure_generation

        client = redis_client(self.config.redis.url, socket_connect_timeout=5, socket_timeout=5)
        try:
            return ensure_generation(client)
        except RedisError as exc:  # the URL may hold a password: it is not repeated here
            raise RegistryError(
                f"cannot write the online store's generation marker (redis.url): {type(exc).__name__}: {exc}",
                hint="start Redis ('featurestream up') or fix redis.url, then submit again",
            ) from exc
        finally:
            client.close()

    def cancel(self, view: FeatureView, *, with_savepoint: bool = True) -> str | None:
        """Stop the view's job; with a savepoint (recorded, used by the next submit) by default."""
        name = job_name(view)
        job = self.running().get(name)
        if job is None:
            raise RegistryError(f"no running job for {view.ref}", hint="see 'featurestream jobs list'")
        if with_savepoint:
            from featurestream.jobs.compiler import compile_streaming_job

            # the graph the running job was submitted with (recorded), else today's compile of it
            graph = self.log.graph_of(name, job["jid"]) or graph_fingerprint(
                compile_streaming_job(view, self.source_of(view), self.config)
            )
            path = self.flink.savepoint(job["jid"], cancel=True)
            self.log.record_savepoint(name, path, graph, self.log.emit_after_of(name, job["jid"]))
            self.log.mark_cancelled(name, job["jid"])
            return path
        self.flink.cancel(job["jid"])
        self.log.mark_cancelled(name, job["jid"])
        return None
