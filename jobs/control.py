"""Job control: map registered views to their streaming jobs on a Flink cluster.

Submit (resuming from the newest savepoint or retained checkpoint of the same job graph, the
rule of :mod:`featurestream.jobs.restore`), list, cancel with a savepoint.
The CLI (``featurestream jobs``), the demo and the tests all go through
:class:`JobManager`.
"""

from __future__ import annotations

import contextlib
import time

from featurestream.config import Config
from featurestream.definitions import FeatureView, Source
from featurestream.errors import RegistryError
from featurestream.jobs.flink import FlinkClient
from featurestream.jobs.restore import RestorePoint, RunLog, choose, graph_fingerprint
from featurestream.kafka_props import KafkaConnectError, describe_listener, kafka_admin
from featurestream.naming import dlq_topic, job_name, late_topic, source_topic
from featurestream.registry import Registry

__all__ = ["JobManager", "view_source"]


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


class JobManager:
    """Maps registered views to Flink jobs (by job name) on the configured cluster."""

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry.open(config)
        self.flink = FlinkClient(config)
        self.log = RunLog(config)
        # what the last submit of each job name resumed from (None: the topic's offsets)
        self.restored_from: dict[str, RestorePoint | None] = {}

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

    def submit(self, view: FeatureView, *, savepoint: str | None = None, fresh: bool = False) -> tuple[str, bool]:
        """Submit the view's streaming job unless it already runs. Returns (job id, submitted now)."""
        from featurestream.jobs.compiler import compile_streaming_job

        name = job_name(view)
        running = self.running()
        if name in running:
            return running[name]["jid"], False
        source = self.source_of(view)
        self.ensure_topics(view, source)  # the Kafka preflight: fails within seconds on bad credentials
        overview = self.flink._request("GET", "/overview")
        deadline = time.monotonic() + 60  # slots of just-cancelled jobs come back within seconds
        while int(overview.get("slots-available", 0)) < 1 and time.monotonic() < deadline:
            time.sleep(1)
            overview = self.flink._request("GET", "/overview")
        if int(overview.get("slots-available", 0)) < 1:
            raise RegistryError(
                f"the Flink cluster has no free task slot ({overview.get('slots-total', 0)} in use) for {view.ref}",
                hint="cancel a job ('featurestream jobs cancel VIEW') or raise stack.flink.task_slots "
                "(then 'featurestream down --only flink && featurestream up')",
            )
        spec = compile_streaming_job(view, source, self.config)
        graph = graph_fingerprint(spec)
        point = None
        if savepoint is not None:
            point = RestorePoint(savepoint, "savepoint", graph, 0)
        elif not fresh:
            point = self.restore_point(name, graph)
        if point is None:  # a job from the topic's start fills the store; a restored one does not refill it
            self.mark_online_generation()
        job_id = self.flink.submit(spec, savepoint=point.path if point else None)
        self.log.record_run(name, job_id, graph)
        self.restored_from[name] = point
        return job_id, True

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
            self.log.record_savepoint(name, path, graph)
            self.log.mark_cancelled(name, job["jid"])
            return path
        self.flink.cancel(job["jid"])
        self.log.mark_cancelled(name, job["jid"])
        return None
