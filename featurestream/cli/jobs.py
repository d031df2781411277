"""``featurestream jobs``: submit, list, cancel and savepoint the streaming job of each view."""

from __future__ import annotations

import sys
import time

import click

from featurestream.jobs.control import JobManager
from featurestream.jobs.flink import FlinkClient

__all__ = ["jobs"]


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
    from featurestream.naming import job_name

    jm = JobManager(c.config)
    v = jm.view(view)
    job = jm.running().get(job_name(v))
    if job is None:
        click.echo(f"no running job for {v.ref}", err=True)
        sys.exit(1)
    click.echo(jm.flink.savepoint(job["jid"]))
