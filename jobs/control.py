"""Job control: map registered views to their streaming jobs on a Flink cluster.

Submit (resuming from the recorded savepoint unless told otherwise), list, cancel with a
savepoint. The CLI (``featurestream jobs``), the demo and the tests all go through
:class:`JobManager`.
"""

from __future__ import annotations

import contextlib
import json
import time

from featurestream.config import Config
from featurestream.definitions import FeatureView, Source
from featurestream.errors import RegistryError
from featurestream.jobs.flink import FlinkClient
from featurestream.naming import job_name, source_topic
from featurestream.registry import Registry

__all__ = ["JobManager"]


class JobManager:
    """Maps registered views to Flink jobs (by job name) on the configured cluster."""

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry.open(config)
        self.flink = FlinkClient(config)
        self.savepoints = config.state_path / "savepoints.json"

    def view(self, ref: str) -> FeatureView:
        self.registry.reload()  # a stat; picks up an apply made after this manager was built
        return self.registry.find_view(self.config.namespace, ref)

    def source_of(self, view: FeatureView) -> Source:
        self.registry.reload()
        srcs = {s["name"]: s for s in self.registry.sources(view.namespace)}
        if len(view.sources) != 1 or view.sources[0] not in srcs:
            raise RegistryError(f"view {view.ref} must read exactly one registered source, found {view.sources}")
        return Source.from_dict(srcs[view.sources[0]])

    def running(self) -> dict[str, dict]:  # type: ignore[type-arg]
        return {
            j["name"]: j
            for j in self.flink.jobs()
            if j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")
        }

    def ensure_topic(self, topic: str) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=self.config.kafka.bootstrap_servers,
            request_timeout_ms=10_000,
            api_version_auto_timeout_ms=5_000,
        )
        try:
            if topic not in admin.list_topics():
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(topic, self.config.stack.kafka.partitions, 1)])
        finally:
            admin.close()

    def _saved(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.savepoints.read_text()))
        except (OSError, ValueError):
            return {}

    def submit(self, view: FeatureView, *, savepoint: str | None = None, fresh: bool = False) -> tuple[str, bool]:
        """Submit the view's streaming job unless it already runs. Returns (job id, submitted now)."""
        from featurestream.jobs.compiler import compile_streaming_job

        name = job_name(view)
        running = self.running()
        if name in running:
            return running[name]["jid"], False
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
        source = self.source_of(view)
        self.ensure_topic(source_topic(self.config.kafka, source.topic))
        spec = compile_streaming_job(view, source, self.config)
        if savepoint is None and not fresh:
            savepoint = self._saved().get(name)
        job_id = self.flink.submit(spec, savepoint=savepoint)
        return job_id, True

    def cancel(self, view: FeatureView, *, with_savepoint: bool = True) -> str | None:
        """Stop the view's job; with a savepoint (recorded, used by the next submit) by default."""
        name = job_name(view)
        job = self.running().get(name)
        if job is None:
            raise RegistryError(f"no running job for {view.ref}", hint="see 'featurestream jobs list'")
        if with_savepoint:
            path = self.flink.savepoint(job["jid"], cancel=True)
            saved = self._saved()
            saved[name] = path
            self.savepoints.write_text(json.dumps(saved, indent=1))
            return path
        self.flink.cancel(job["jid"])
        return None
