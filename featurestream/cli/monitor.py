"""``featurestream monitor`` and ``featurestream audit``: the monitoring report for cron, CI and humans.

Both exit with status 2 when something is breached (SLA, drift, null rate, audit mismatches), 1 on
errors, 0 when all is well.
"""

from __future__ import annotations

import json
import sys

import click

from featurestream.cli.common import BREACH_EXIT, EXIT_CODES, config_of
from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.errors import FeatureStreamError

__all__ = ["BREACH_EXIT", "audit_command", "monitor_command", "select_views"]


def select_views(config: Config, refs: tuple[str, ...] | list[str]) -> list[FeatureView]:
    """``name`` (every version) or ``name@version``; no refs: every view of the namespace."""
    from featurestream.registry import Registry, parse_view_ref

    reg = Registry.open(config)
    views = reg.views(config.namespace)
    if not refs:
        return views
    out: list[FeatureView] = []
    for ref in refs:
        name, version = parse_view_ref(ref)
        if version is not None:
            out.append(reg.get_view(config.namespace, name, version))
            continue
        found = [v for v in views if v.name == name]
        if not found:
            reg.get_view(config.namespace, name)  # raises RegistryError naming the fix
        out += found
    return out


def _config(ctx: click.Context) -> Config:
    return config_of(ctx)


@click.command("monitor", epilog=EXIT_CODES)
@click.option("--view", "views", multiple=True, help="NAME or NAME@VERSION (repeatable; default: every view).")
@click.option(
    "--source",
    type=click.Choice(["offline", "served"]),
    default="offline",
    show_default=True,
    help="Where quality and drift read values: offline rows or logged served vectors.",
)
@click.option("--no-flink", is_flag=True, help="Skip job health (Flink REST).")
@click.option("--no-kafka", is_flag=True, help="Skip dead-letter and late counts (Kafka).")
@click.option("--no-drift", is_flag=True, help="Skip drift.")
@click.option("--audit", "with_audit", is_flag=True, help="Also run the online/offline consistency audit.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def monitor_command(
    ctx: click.Context,
    views: tuple[str, ...],
    source: str,
    no_flink: bool,
    no_kafka: bool,
    no_drift: bool,
    with_audit: bool,
    as_json: bool,
) -> None:
    """Freshness, job health, dead letters, data quality and drift per view. Exit 2 on any breach."""
    from featurestream.monitoring.monitor import collect
    from featurestream.monitoring.report import render_text
    from featurestream.online.store import RedisOnlineStore

    try:
        cfg = _config(ctx)
        selected = select_views(cfg, views)
        store = RedisOnlineStore.from_url(cfg.redis.url, cfg.namespace)
        try:
            report = collect(
                cfg,
                selected,
                store,
                flink=not no_flink,
                kafka=not no_kafka,
                drift=not no_drift,
                audit=with_audit,
                source=source,
            )
        finally:
            store.close()
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        click.echo(render_text(report, color=sys.stdout.isatty()))
    if report.breached:
        sys.exit(BREACH_EXIT)


@click.command("audit", epilog=EXIT_CODES)
@click.argument("view")
@click.option("--sample", type=int, default=None, help="Entities to sample (default: monitoring.audit_sample).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
@click.pass_context
def audit_command(ctx: click.Context, view: str, sample: int | None, seed: int, as_json: bool) -> None:
    """Compare online rows of VIEW (NAME or NAME@VERSION) with the offline point-in-time value.

    Exit 2 when any value, missing or extra mismatch is found.
    """
    from featurestream.monitoring.audit import audit_view
    from featurestream.monitoring.report import render_table
    from featurestream.online.store import RedisOnlineStore

    try:
        cfg = _config(ctx)
        from featurestream.registry import Registry

        fv = Registry.open(cfg).find_view(cfg.namespace, view)
        store = RedisOnlineStore.from_url(cfg.redis.url, cfg.namespace)
        try:
            report = audit_view(cfg, fv, store, sample=sample, seed=seed)
        finally:
            store.close()
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        color = sys.stdout.isatty()
        click.echo(
            f"audit {report.view}: {report.entities} entities ({report.sampled_online} sampled online, "
            f"{report.sampled_offline} offline), {report.seconds:.2f}s"
        )
        rows = [[f.feature, str(f.checked), str(f.value), str(f.missing), str(f.extra)] for f in report.features]
        click.echo(
            render_table(
                ["feature", "checked", "value", "missing", "extra"],
                rows,
                bad=[f.mismatches > 0 for f in report.features],
                color=color,
            )
        )
        for f in report.features:
            for ex in f.examples:
                click.echo(
                    f"  {f.feature} [{ex['kind']}] {ex['entity']}: online={ex['online']!r} "
                    f"offline={ex['offline']!r} (online ft {ex['online_feature_time']}, "
                    f"offline ft {ex['offline_feature_time']})"
                )
        click.echo("consistent" if report.ok else f"{report.mismatches} mismatch(es)")
    if not report.ok:
        sys.exit(BREACH_EXIT)
