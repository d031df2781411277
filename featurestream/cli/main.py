"""The ``featurestream`` command. Every subcommand has ``--help``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from featurestream.cli.common import ERROR_EXIT, EXIT_CODES, RepoContext
from featurestream.cli.failures import connection_failure
from featurestream.errors import FeatureStreamError
from featurestream.secrets import redact

__all__ = ["main"]

pass_ctx = click.make_pass_decorator(RepoContext)


def _emit(as_json: bool, doc: object, text: list[str]) -> None:
    """Print ``doc`` as JSON with ``--json``, else the human lines."""
    if as_json:
        click.echo(json.dumps(doc, indent=1, default=str))
    else:
        for line in text:
            click.echo(line)


class _Group(click.Group):
    """Turns FeatureStreamError -- and a service that cannot be reached (cli.failures) -- into one
    clean message and exit code 1 (no traceback). A usage error (an unknown option, a missing
    argument) exits 1 as well, not click's 2: 2 means a check breached, and only that."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            setattr(exc, "exit_code", ERROR_EXIT)  # noqa: B010 (click types it as a class variable)
            raise

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            setattr(exc, "exit_code", ERROR_EXIT)  # noqa: B010 (click types it as a class variable)
            raise
        except FeatureStreamError as exc:
            click.secho(f"error: {redact(str(exc))}", fg="red", err=True)
            sys.exit(ERROR_EXIT)
        except Exception as exc:
            failure = connection_failure(exc)
            if failure is None:
                raise
            click.secho(f"error: {failure}", fg="red", err=True)
            sys.exit(ERROR_EXIT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.option(
    "--repo",
    "-r",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The feature repo (folder with featurestream.yaml and sql/).",
)
@click.pass_context
def main(ctx: click.Context, repo: Path) -> None:
    """featurestream: real-time ML features from Flink SQL, served from Redis, trained from Parquet.

    Every command works on the repo named by -r/--repo (default: the current folder).
    """
    ctx.obj = RepoContext(repo)


def _services(only: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in only.split(",") if s.strip()) if only else None


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _plan_doc(result: Any) -> dict[str, object]:
    return {
        "ok": result.ok,
        "new_views": [v.ref for v in result.new_views],
        "unchanged_views": [v.ref for v in result.unchanged_views],
        "new_sources": [s.name for s in result.new_sources],
        "changed_sources": {s.name: w for s, w in result.changed_sources},
        "services": [f"{s.name}@{s.version}" for s in result.services],
        "warnings": result.warnings,
        "problems": result.problems,
    }


def _status_doc(s: Any) -> dict[str, object]:
    return {
        "name": s.name,
        "pid": s.pid,
        "port": s.port,
        "healthy": s.healthy,
        "address": s.address,
        "started": s.started,
        "rss_mb": round(s.rss_mb, 1),
    }


@main.command(epilog=EXIT_CODES)
@_JSON
@pass_ctx
def setup(c: RepoContext, as_json: bool) -> None:
    """Resolve the Java side (Kafka broker, Flink Kafka connector, Parquet format) with Maven and build
    the planner JVM's class archive (stack.planner_cds)."""
    from featurestream.cli.progress import Progress
    from featurestream.stack import Stack

    bar = Progress("setup: Maven downloads", unit="files", enabled=not as_json)
    try:  # Maven does not say how many files it will fetch: a count, a rate and the megabytes, no ETA
        did = Stack(c.config, log=(lambda m: None) if as_json else click.echo).setup(
            on_download=lambda files, size: bar.update(files, None, f"{size / 1e6:,.1f} MB")
        )
    finally:
        bar.close()
    from featurestream.jobs.planner_cds import archive_file, ensure_archive

    if not as_json and c.config.stack.planner_cds and not archive_file(c.config).exists():
        click.echo("setup: building the planner's class archive (once per JVM and jar set, 20-40 s)")
    try:
        archive = ensure_archive(c.config)
    except RuntimeError as exc:  # the planner still works without it, only its start is slower
        archive = None
        click.echo(f"setup: warning: {exc}; apply starts its planner without the archive", err=True)
    jars = c.config.jars_path
    lines = ["jars resolved" if did else f"jars already present in {jars}"]
    if archive is not None:
        lines.append(f"planner class archive built: {archive}")
    _emit(as_json, {"resolved": did, "jars": str(jars), "planner_cds": str(archive) if archive else None}, lines)


@main.command(epilog=EXIT_CODES)
@click.option("--only", help="Comma-separated subset of services: kafka,redis,flink; redis-cluster (on demand only).")
@_JSON
@pass_ctx
def up(c: RepoContext, only: str | None, as_json: bool) -> None:
    """Start the local stack (Kafka KRaft, Redis, Flink) and wait until each answers. Idempotent."""
    from featurestream.stack import Stack

    stack = Stack(c.config, log=(lambda m: None) if as_json else click.echo)
    statuses = stack.up(_services(only))
    total = sum(s.rss_mb for s in statuses)
    _emit(
        as_json,
        {"services": [_status_doc(s) for s in statuses], "state": str(c.config.state_path)},
        [
            f"stack up: {', '.join(s.name for s in statuses)}; resident memory {total:.0f} MB; "
            f"logs and pids in {c.config.state_path}"
        ],
    )


@main.command(epilog=EXIT_CODES)
@click.option("--only", help="Comma-separated subset of services: kafka,redis,flink.")
@_JSON
@pass_ctx
def down(c: RepoContext, only: str | None, as_json: bool) -> None:
    """Stop the processes 'featurestream up' started (by pid; nothing else is touched)."""
    from featurestream.stack import Stack

    stopped = Stack(c.config, log=(lambda m: None) if as_json else click.echo).down(_services(only))
    _emit(
        as_json,
        {"stopped": [str(s) for s in stopped]},
        [f"stopped {len(stopped)} process(es)" if stopped else "nothing was running"],
    )


@main.command(epilog=EXIT_CODES)
@_JSON
@pass_ctx
def status(c: RepoContext, as_json: bool) -> None:
    """Show each local service: pid, port, health, memory. Exit code 1 when any is down."""
    from featurestream.stack import Stack

    rows = Stack(c.config).status()
    if as_json:
        _emit(True, {"services": [_status_doc(s) for s in rows]}, [])
    else:
        click.echo(f"{'service':<18} {'pid':>7} {'port':>6} {'health':<8} {'rss MB':>7}  address")
        for s in rows:
            health = click.style("up", fg="green") if s.healthy else click.style("down", fg="red")
            click.echo(f"{s.name:<18} {s.pid or '-':>7} {s.port:>6} {health:<17} {s.rss_mb:>7.0f}  {redact(s.address)}")
    if not all(s.healthy for s in rows):
        sys.exit(ERROR_EXIT)


@main.command("plan", epilog=EXIT_CODES)
@_JSON
@pass_ctx
def plan_cmd(c: RepoContext, as_json: bool) -> None:
    """Show what 'apply' would change (validates with Flink's planner, writes nothing). Exit 1 on problems."""
    from featurestream.apply import plan

    if not as_json:
        click.echo("validating definitions with Flink's planner ...")
    result = plan(c.config)
    _emit(as_json, _plan_doc(result), result.summary())
    if not result.ok:
        sys.exit(ERROR_EXIT)


@main.command("apply", epilog=EXIT_CODES)
@_JSON
@pass_ctx
def apply_cmd(c: RepoContext, as_json: bool) -> None:
    """Validate every source, view and service and register them atomically (all or nothing)."""
    from featurestream.apply import apply

    kafka = c.config.kafka
    if kafka.properties:  # a secured cluster is configured: check it before anything is registered
        from featurestream.kafka_props import describe_listener, preflight

        if not as_json:
            click.echo(f"checking Kafka at {describe_listener(kafka.bootstrap_servers, kafka.properties)} ...")
        preflight(kafka.bootstrap_servers, kafka.properties)
    if not as_json:
        click.echo("validating definitions with Flink's planner ...")
    result = apply(c.config)
    _emit(
        as_json,
        _plan_doc(result),
        [
            *result.summary(),
            f"applied: {len(result.new_views)} new view version(s), {len(result.unchanged_views)} unchanged",
        ],
    )


@main.command("ls", epilog=EXIT_CODES)
@_JSON
@pass_ctx
def ls_cmd(c: RepoContext, as_json: bool) -> None:
    """List registered feature views (every version), sources and feature services."""
    from featurestream.durations import format_duration
    from featurestream.registry import Registry

    reg = Registry.open(c.config)
    ns = c.config.namespace
    views, sources, services = reg.views(ns), reg.sources(ns), reg.services(ns)
    if as_json:
        doc = {
            "views": [v.to_dict() for v in views],
            "sources": sources,
            "services": [s.to_dict() for s in services],
        }
        _emit(True, doc, [])
        return
    click.echo(f"{'view':<28} {'ver':>3}  {'window':<9} {'entities':<12} {'ttl':>5}  features")
    for v in views:
        click.echo(
            f"{v.name:<28} {v.version:>3}  {v.window or '-':<9} {','.join(v.entities):<12} "
            f"{format_duration(v.ttl):>5}  {', '.join(v.feature_names)}"
        )
    for src in sources:
        click.echo(f"source {src['name']} <- topic {src['topic']} ({len(src['columns'])} columns)")
    for svc in services:
        click.echo(f"service {svc.name}@{svc.version}: {', '.join(svc.features)}")


@main.command("describe", epilog=EXIT_CODES)
@click.argument("view")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (the only format; accepted for symmetry).")
@pass_ctx
def describe_cmd(c: RepoContext, view: str, as_json: bool) -> None:
    """Show one view (NAME or NAME@VERSION) as JSON: schema, defaults, lineage, SQL."""
    from featurestream.registry import Registry

    reg = Registry.open(c.config)
    v = reg.find_view(c.config.namespace, view)
    doc = v.to_dict()
    doc["lineage"] = reg.lineage().get(f"{v.namespace}/{v.ref}")
    click.echo(json.dumps(doc, indent=2, default=str))


@main.command("init", epilog=EXIT_CODES)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--project", help="Project name in featurestream.yaml (default: the folder's name).")
@_JSON
@click.pass_context
def init_cmd(ctx: click.Context, directory: Path | None, project: str | None, as_json: bool) -> None:
    """Scaffold a working feature repo in DIRECTORY (default: the -r/--repo folder).

    A source, a windowed view, a row-wise view, a feature service, an on-demand function and a
    README, which plan, apply and jobs submit accept as they are. Existing files are never overwritten.
    """
    from featurestream.scaffold import init_repo

    target = directory if directory is not None else ctx.find_object(RepoContext).repo  # type: ignore[union-attr]
    written = init_repo(target, project=project)
    _emit(
        as_json,
        {"directory": str(target), "files": [str(p) for p in written]},
        [*(f"+ {p}" for p in written), f"next: featurestream -r {target} plan"],
    )


@main.command("demo", epilog=EXIT_CODES)
@click.option("--events", default=20_000, show_default=True, help="Events per source.")
@click.option("--wait", "wait_s", default=240.0, show_default=True, help="Seconds to wait for results.")
@pass_ctx
def demo_cmd(c: RepoContext, events: int, wait_s: float) -> None:
    """Run the demo pipeline end to end on the local stack and print what it did."""
    from featurestream.demo import run_demo

    run_demo(c.config, click.echo, events=events, wait_s=wait_s)


from featurestream.cli.deploy import deploy  # noqa: E402
from featurestream.cli.export import export  # noqa: E402
from featurestream.cli.jobs import jobs  # noqa: E402
from featurestream.cli.monitor import audit_command, monitor_command  # noqa: E402
from featurestream.cli.offline import (  # noqa: E402
    backfill_command,
    materialize_command,
    repair_command,
    sql_command,
    training_set_command,
)
from featurestream.cli.push import push_command  # noqa: E402
from featurestream.cli.registry import registry  # noqa: E402
from featurestream.cli.serve import serve_command  # noqa: E402

main.add_command(jobs)
main.add_command(deploy)
main.add_command(registry)
main.add_command(export)
main.add_command(training_set_command)
main.add_command(sql_command)
main.add_command(materialize_command)
main.add_command(backfill_command)
main.add_command(repair_command)
main.add_command(serve_command)
main.add_command(push_command)
main.add_command(monitor_command)
main.add_command(audit_command)

if __name__ == "__main__":  # pragma: no cover
    main()
