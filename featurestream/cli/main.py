"""The ``featurestream`` command. Every subcommand has ``--help``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from featurestream.cli.failures import connection_failure
from featurestream.config import Config, load_config
from featurestream.errors import FeatureStreamError
from featurestream.secrets import redact

__all__ = ["main"]


class _Ctx:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.repo)
        return self._config


pass_ctx = click.make_pass_decorator(_Ctx)


class _Group(click.Group):
    """Turns FeatureStreamError -- and a service that cannot be reached (cli.failures) -- into one
    clean message and exit code 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FeatureStreamError as exc:
            click.secho(f"error: {redact(str(exc))}", fg="red", err=True)
            sys.exit(1)
        except Exception as exc:
            failure = connection_failure(exc)
            if failure is None:
                raise
            click.secho(f"error: {failure}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    """featurestream: real-time ML features from Flink SQL, served from Redis, trained from Parquet."""
    ctx.obj = _Ctx(repo)


def _services(only: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in only.split(",") if s.strip()) if only else None


@main.command()
@pass_ctx
def setup(c: _Ctx) -> None:
    """Resolve the Java side (Kafka broker, Flink Kafka connector, Parquet format) with Maven."""
    from featurestream.stack import Stack

    did = Stack(c.config, log=click.echo).setup()
    click.echo("jars resolved" if did else f"jars already present in {c.config.state_path / 'jars'}")


@main.command()
@click.option("--only", help="Comma-separated subset of services: kafka,redis,flink; redis-cluster (on demand only).")
@pass_ctx
def up(c: _Ctx, only: str | None) -> None:
    """Start the local stack (Kafka KRaft, Redis, Flink) and wait until each answers. Idempotent."""
    from featurestream.stack import Stack

    stack = Stack(c.config, log=click.echo)
    statuses = stack.up(_services(only))
    total = sum(s.rss_mb for s in statuses)
    click.echo(
        f"stack up: {', '.join(s.name for s in statuses)}; resident memory {total:.0f} MB; "
        f"logs and pids in {c.config.state_path}"
    )


@main.command()
@click.option("--only", help="Comma-separated subset of services: kafka,redis,flink; redis-cluster (on demand only).")
@pass_ctx
def down(c: _Ctx, only: str | None) -> None:
    """Stop the processes 'featurestream up' started (by pid; nothing else is touched)."""
    from featurestream.stack import Stack

    stopped = Stack(c.config, log=click.echo).down(_services(only))
    click.echo(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@main.command()
@pass_ctx
def status(c: _Ctx) -> None:
    """Show each local service: pid, port, health, memory. Exit code 1 when any is down."""
    from featurestream.stack import Stack

    rows = Stack(c.config).status()
    click.echo(f"{'service':<18} {'pid':>7} {'port':>6} {'health':<8} {'rss MB':>7}  address")
    for s in rows:
        health = click.style("up", fg="green") if s.healthy else click.style("down", fg="red")
        click.echo(f"{s.name:<18} {s.pid or '-':>7} {s.port:>6} {health:<17} {s.rss_mb:>7.0f}  {redact(s.address)}")
    if not all(s.healthy for s in rows):
        sys.exit(1)


@main.command("plan")
@pass_ctx
def plan_cmd(c: _Ctx) -> None:
    """Show what 'apply' would change (validates with Flink's planner, writes nothing)."""
    from featurestream.apply import plan

    click.echo("validating definitions with Flink's planner ...")
    result = plan(c.config)
    for line in result.summary():
        click.echo(line)
    if not result.ok:
        sys.exit(1)


@main.command("apply")
@pass_ctx
def apply_cmd(c: _Ctx) -> None:
    """Validate every source, view and service and register them atomically (all or nothing)."""
    from featurestream.apply import apply

    kafka = c.config.kafka
    if kafka.properties:  # a secured cluster is configured: check it before anything is registered
        from featurestream.kafka_props import describe_listener, preflight

        click.echo(f"checking Kafka at {describe_listener(kafka.bootstrap_servers, kafka.properties)} ...")
        preflight(kafka.bootstrap_servers, kafka.properties)
    click.echo("validating definitions with Flink's planner ...")
    result = apply(c.config)
    for line in result.summary():
        click.echo(line)
    click.echo(f"applied: {len(result.new_views)} new view version(s), {len(result.unchanged_views)} unchanged")


@main.command("ls")
@pass_ctx
def ls_cmd(c: _Ctx) -> None:
    """List registered feature views (every version), sources and feature services."""
    from featurestream.registry import Registry

    reg = Registry.open(c.config)
    ns = c.config.namespace
    click.echo(f"{'view':<28} {'ver':>3}  {'window':<9} {'entities':<12} {'ttl':>5}  features")
    from featurestream.durations import format_duration

    for v in reg.views(ns):
        click.echo(
            f"{v.name:<28} {v.version:>3}  {v.window or '-':<9} {','.join(v.entities):<12} "
            f"{format_duration(v.ttl):>5}  {', '.join(v.feature_names)}"
        )
    for s in reg.sources(ns):
        click.echo(f"source {s['name']} <- topic {s['topic']} ({len(s['columns'])} columns)")
    for svc in reg.services(ns):
        click.echo(f"service {svc.name}@{svc.version}: {', '.join(svc.features)}")


@main.command("describe")
@click.argument("view")
@pass_ctx
def describe_cmd(c: _Ctx, view: str) -> None:
    """Show one view (NAME or NAME@VERSION): schema, defaults, lineage, SQL."""
    import json

    from featurestream.registry import Registry

    reg = Registry.open(c.config)
    v = reg.find_view(c.config.namespace, view)
    doc = v.to_dict()
    doc["lineage"] = reg.lineage().get(f"{v.namespace}/{v.ref}")
    click.echo(json.dumps(doc, indent=2, default=str))


@main.command("demo")
@click.option("--events", default=20_000, show_default=True, help="Events per source.")
@click.option("--wait", "wait_s", default=240.0, show_default=True, help="Seconds to wait for results.")
@pass_ctx
def demo_cmd(c: _Ctx, events: int, wait_s: float) -> None:
    """Run the demo pipeline end to end on the local stack and print what it did."""
    from featurestream.demo import run_demo

    run_demo(c.config, click.echo, events=events, wait_s=wait_s)


from featurestream.cli.deploy import deploy  # noqa: E402
from featurestream.cli.jobs import jobs  # noqa: E402
from featurestream.cli.monitor import audit_command, monitor_command  # noqa: E402
from featurestream.cli.offline import backfill_command, materialize_command, sql_command, training_set_command  # noqa: E402
from featurestream.cli.registry import registry  # noqa: E402
from featurestream.cli.serve import serve_command  # noqa: E402

main.add_command(jobs)
main.add_command(deploy)
main.add_command(registry)
main.add_command(training_set_command)
main.add_command(sql_command)
main.add_command(materialize_command)
main.add_command(backfill_command)
main.add_command(serve_command)
main.add_command(monitor_command)
main.add_command(audit_command)

if __name__ == "__main__":  # pragma: no cover
    main()
