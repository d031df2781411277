"""``featurestream jobs``: submit, list, cancel and savepoint the streaming job of each view."""

from __future__ import annotations

import contextlib
import json
import sys
import time

import click

from featurestream.config import Config
from featurestream.definitions import FeatureView, Source
from featurestream.errors import RegistryError
from featurestream.flink import FlinkClient
from featurestream.registry import Registry

__all__ = ["JobManager", "jobs"]


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

        admin = KafkaAdminClient(bootstrap_servers=self.config.kafka.bootstrap_servers, request_timeout_ms=10000)
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
        from jobs.compiler import compile_streaming_job, job_name

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
        self.ensure_topic(self.config.kafka.topic_prefix + source.topic)
        spec = compile_streaming_job(view, source, self.config)
        if savepoint is None and not fresh:
            savepoint = self._saved().get(name)
        job_id = self.flink.submit(spec, savepoint=savepoint)
        return job_id, True

    def cancel(self, view: FeatureView, *, with_savepoint: bool = True) -> str | None:
        """Stop the view's job; with a savepoint (recorded, used by the next submit) by default."""
        from jobs.compiler import job_name

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


@click.group()
def jobs() -> None:
    """Streaming jobs of feature views on the Flink cluster."""


@jobs.command("submit")
@click.argument("views", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Submit every registered view version.")
@click.option("--fresh", is_flag=True, help="Ignore a recorded savepoint and start from the topic's offsets.")
@click.option("--savepoint", help="Restore from this savepoint or retained checkpoint path.")
@click.pass_obj
def submit_cmd(c, views: tuple[str, ...], all_: bool, fresh: bool, savepoint: str | None) -> None:  # type: ignore[no-untyped-def]
    """Compile and submit VIEW[@VERSION]... (or --all); a running job is left as it is."""
    jm = JobManager(c.config)
    targets = jm.registry.views(c.config.namespace) if all_ else [jm.view(v) for v in views]
    if not targets:
        raise click.UsageError("name at least one view, or --all")
    for v in targets:
        t0 = time.monotonic()
        click.echo(f"{v.ref:<28} compiling and submitting ...")
        jid, new = jm.submit(v, savepoint=savepoint, fresh=fresh)
        click.echo(
            f"{v.ref:<28} {'submitted' if new else 'already running'} as {jid}"
            + (f" in {time.monotonic() - t0:.1f}s" if new else "")
        )


@jobs.command("list")
@click.pass_obj
def list_cmd(c) -> None:  # type: ignore[no-untyped-def]
    """Jobs on the cluster with their state, checkpoints and restarts."""
    fc = FlinkClient(c.config)
    rows = fc.jobs()
    if not rows:
        click.echo("no jobs")
    for j in rows:
        extra = ""
        if j["state"] == "RUNNING":
            counts = fc.checkpoints(j["jid"]).get("counts", {})
            extra = f"checkpoints {counts.get('completed', 0)} ok / {counts.get('failed', 0)} failed"
        click.echo(f"{j['jid']}  {j['state']:<10} {j['name']:<50} {extra}")


@jobs.command("cancel")
@click.argument("view")
@click.option("--no-savepoint", is_flag=True, help="Cancel without a savepoint (state is dropped).")
@click.pass_obj
def cancel_cmd(c, view: str, no_savepoint: bool) -> None:  # type: ignore[no-untyped-def]
    """Stop VIEW's job, by default with a savepoint the next submit resumes from."""
    jm = JobManager(c.config)
    path = jm.cancel(jm.view(view), with_savepoint=not no_savepoint)
    click.echo(f"cancelled; savepoint {path}" if path else "cancelled")


@jobs.command("savepoint")
@click.argument("view")
@click.pass_obj
def savepoint_cmd(c, view: str) -> None:  # type: ignore[no-untyped-def]
    """Take a savepoint of VIEW's running job (the job keeps running)."""
    from jobs.compiler import job_name

    jm = JobManager(c.config)
    v = jm.view(view)
    job = jm.running().get(job_name(v))
    if job is None:
        click.echo(f"no running job for {v.ref}", err=True)
        sys.exit(1)
    click.echo(jm.flink.savepoint(job["jid"]))
