"""``featurestream jobs``: submit, list, cancel and savepoint the streaming job of each view."""

from __future__ import annotations

import json
import sys
import time

import click

from featurestream.cli.common import ERROR_EXIT, EXIT_CODES, RepoContext
from featurestream.definitions import FeatureView
from featurestream.jobs.control import JobManager
from featurestream.jobs.flink import FlinkClient
from featurestream.jobs.restore import EmitGuard
from featurestream.naming import job_name
from featurestream.secrets import redact

__all__ = ["jobs"]


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group(epilog=EXIT_CODES)
def jobs() -> None:
    """Streaming jobs of feature views on the Flink cluster."""


@jobs.command("submit", epilog=EXIT_CODES)
@click.argument("views", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Submit every registered view version.")
@click.option(
    "--fresh",
    is_flag=True,
    help="Ignore recorded savepoints and retained checkpoints; start from the topics' offsets "
    "(writing only rows newer than the newest stored one).",
)
@click.option("--savepoint", help="Restore from this savepoint or retained checkpoint path (one view only).")
@_JSON
@click.pass_obj
def submit_cmd(
    c: RepoContext, views: tuple[str, ...], all_: bool, fresh: bool, savepoint: str | None, as_json: bool
) -> None:
    """Compile and submit VIEW[@VERSION]... (or --all); a running job is left as it is.

    Every view becomes its own Flink job, all submitted by one Flink client start-up. A view that
    fails is reported on its own line and does not stop the others; the exit code is then 1. A job
    resumes from the newest savepoint or retained checkpoint of its own job graph (a job lost with
    its JobManager resumes from its last checkpoint), never from another graph's. A job that starts
    without state over rows already stored writes only rows newer than the newest stored one, so a
    partial first window never replaces a correct row; the note printed says from when.
    """
    jm = JobManager(c.config)
    targets = jm.registry.views(c.config.namespace) if all_ else [jm.view(v) for v in views]
    if not targets:
        raise click.UsageError("name at least one view, or --all")
    if savepoint is not None and len(targets) > 1:
        raise click.UsageError("--savepoint restores one job: name one view")
    t0 = time.monotonic()
    if not as_json:
        click.echo(f"compiling {len(targets)} view(s) and submitting them with one Flink client ...")
    results = jm.submit_many(targets, savepoint=savepoint, fresh=fresh)
    seconds = time.monotonic() - t0
    done = [
        {
            "view": r.view.ref,
            "job_id": r.job_id,
            "submitted": r.submitted,
            "resumed_from": _resumed(jm, r.view) if r.submitted else None,
            "emit_after": _emit_after(jm, r.view) if r.submitted else None,
            **({"error": redact(str(r.error))} if r.error is not None else {}),
        }
        for r in results
    ]
    failed = [r for r in results if r.error is not None]
    if as_json:
        click.echo(json.dumps({"jobs": done, "seconds": round(seconds, 2)}, indent=1))
    else:
        for r in results:
            if r.error is None:
                resumed = _resumed(jm, r.view) if r.submitted else None
                click.echo(
                    f"{r.view.ref:<28} {'submitted' if r.submitted else 'already running'} as {r.job_id}"
                    + (f", resuming from {resumed}" if resumed else "")
                )
                guard = _guard(jm, r.view) if r.submitted else None
                if guard is not None:
                    click.secho(f"  note: {guard.describe()}", fg="yellow")
        for r in failed:
            click.secho(f"error: {r.view.ref}: {redact(str(r.error))}", fg="red", err=True)
        new = sum(1 for r in results if r.submitted)
        kept = len(results) - new - len(failed)
        click.echo(f"{new} submitted, {kept} already running, {len(failed)} failed in {seconds:.1f}s")
    if failed:
        sys.exit(ERROR_EXIT)


def _guard(jm: JobManager, view: FeatureView) -> EmitGuard | None:
    """The emit guard of the view's just-submitted job (it started without state over stored rows)."""
    return jm.guards.get(job_name(view))


def _emit_after(jm: JobManager, view: FeatureView) -> str | None:
    guard = _guard(jm, view)
    return guard.after.isoformat() if guard is not None else None


def _resumed(jm: JobManager, view: FeatureView) -> str | None:
    """What the view's just-submitted job resumed from ("savepoint PATH"), None for the topic."""
    point = jm.restored_from.get(job_name(view))
    return f"{point.kind} {point.path}" if point else None


@jobs.command("list", epilog=EXIT_CODES)
@_JSON
@click.pass_obj
def list_cmd(c: RepoContext, as_json: bool) -> None:
    """Jobs on the cluster with their state and checkpoint counts."""
    fc = FlinkClient(c.config)
    rows = fc.jobs()
    out = []
    for j in rows:
        counts = fc.checkpoints(j["jid"]).get("counts", {}) if j["state"] == "RUNNING" else {}
        out.append({"job_id": j["jid"], "state": j["state"], "name": j["name"], "checkpoints": counts})
    if as_json:
        click.echo(json.dumps({"jobs": out}, indent=1))
        return
    if not rows:
        click.echo("no jobs")
    for r in out:
        counts = r["checkpoints"]
        extra = f"checkpoints {counts.get('completed', 0)} ok / {counts.get('failed', 0)} failed" if counts else ""
        click.echo(f"{r['job_id']}  {r['state']:<10} {r['name']:<50} {extra}")


@jobs.command("cancel", epilog=EXIT_CODES)
@click.argument("view")
@click.option("--no-savepoint", is_flag=True, help="Cancel without a savepoint (state is dropped).")
@_JSON
@click.pass_obj
def cancel_cmd(c: RepoContext, view: str, no_savepoint: bool, as_json: bool) -> None:
    """Stop VIEW's job, by default with a savepoint the next submit resumes from."""
    jm = JobManager(c.config)
    path = jm.cancel(jm.view(view), with_savepoint=not no_savepoint)
    if as_json:
        click.echo(json.dumps({"view": view, "cancelled": True, "savepoint": path}))
    else:
        click.echo(f"cancelled; savepoint {path}" if path else "cancelled")


@jobs.command("savepoint", epilog=EXIT_CODES)
@click.argument("view")
@_JSON
@click.pass_obj
def savepoint_cmd(c: RepoContext, view: str, as_json: bool) -> None:
    """Take a savepoint of VIEW's running job (the job keeps running)."""
    jm = JobManager(c.config)
    v = jm.view(view)
    job = jm.running().get(job_name(v))
    if job is None:
        click.echo(f"error: no running job for {v.ref}\n  fix: featurestream jobs submit {v.ref}", err=True)
        sys.exit(ERROR_EXIT)
    path = jm.flink.savepoint(job["jid"])
    click.echo(json.dumps({"view": v.ref, "savepoint": path}) if as_json else path)
