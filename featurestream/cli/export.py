"""``featurestream export``: write the registered definitions in another tool's format (Feast)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from featurestream.cli.common import EXIT_CODES, config_of

__all__ = ["export"]


@click.group(epilog=EXIT_CODES)
def export() -> None:
    """Write the registered definitions in another tool's repo format."""


@export.command("feast", epilog=EXIT_CODES)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", help="The featurestream server Feast reads from (default: http://serving.host:serving.port).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def feast_cmd(ctx: click.Context, directory: Path, url: str | None, as_json: bool) -> None:
    """Write a Feast feature repo into DIRECTORY whose online store is `featurestream serve`.

    Then `cd DIRECTORY && feast apply --skip-source-validation` (in a venv with Feast 0.67) and use
    `FeatureStore(".").get_online_features(...)` unchanged.
    """
    from featurestream.feast_export import FeastRepo, latest_views, render_feast_repo, write_feast_repo
    from featurestream.registry import Registry

    cfg = config_of(ctx)
    reg = Registry.open(cfg)
    ns = cfg.namespace
    host = "127.0.0.1" if cfg.serving.host in ("0.0.0.0", "::") else cfg.serving.host
    repo = FeastRepo(
        project=cfg.project,
        url=(url or f"http://{host}:{cfg.serving.port}").rstrip("/"),
        views=latest_views(reg.views(ns)),
        services=reg.services(ns),
        sources=reg.sources(ns),
        offline_root=cfg.offline_location,
        auth=bool(cfg.serving.api_keys),
    )
    paths = write_feast_repo(directory, render_feast_repo(repo))
    if as_json:
        doc = {"directory": str(directory), "url": repo.url, "files": [str(p) for p in paths]}
        doc |= {"views": [v.ref for v in repo.views], "services": [s.name for s in repo.services]}
        click.echo(json.dumps(doc, indent=1))
        return
    click.echo(
        f"wrote a Feast repo to {directory}: {len(repo.views)} feature view(s), {len(repo.services)} "
        f"service(s), online store {repo.url}"
    )
    click.echo(f"next: cd {directory} && feast apply --skip-source-validation")
