"""``featurestream serve``: run the HTTP app under uvicorn, for the repo of the group's ``-r/--repo``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from featurestream.cli.common import EXIT_CODES, repo_of
from featurestream.errors import FeatureStreamError

__all__ = ["serve_command"]


@click.command("serve", epilog=EXIT_CODES)
# Kept (hidden) so `featurestream serve --repo X` scripts still work; the group's -r/--repo is the way.
@click.option("--repo", "repo", default=None, hidden=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default=None, help="bind address (default: serving.host)")
@click.option("--port", default=None, type=int, help="port (default: serving.port)")
@click.option("--workers", default=None, type=int, help="worker processes (default: serving.workers)")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def serve_command(
    ctx: click.Context, repo: Path | None, host: str | None, port: int | None, workers: int | None, log_level: str
) -> None:
    """Serve features over HTTP (Feast-compatible /get-online-features and native /v1)."""
    import os

    import uvicorn

    from featurestream.config import load_config

    repo = repo if repo is not None else repo_of(ctx)
    try:
        cfg = load_config(repo)
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = workers or cfg.serving.workers
    os.environ["FEATURESTREAM_SERVE_ROOT"] = str(repo.resolve())
    uvicorn.run(
        "featurestream.api.main:app_from_env",
        factory=True,
        host=host or cfg.serving.host,
        port=port or cfg.serving.port,
        workers=n,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
