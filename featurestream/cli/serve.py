"""``featurestream serve``: run the HTTP app under uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from featurestream.errors import FeatureStreamError

__all__ = ["serve_command"]


@click.command("serve")
@click.option("--repo", "repo", default=".", type=click.Path(file_okay=False, path_type=Path), help="feature repo root")
@click.option("--host", default=None, help="bind address (default: serving.host)")
@click.option("--port", default=None, type=int, help="port (default: serving.port)")
@click.option("--workers", default=None, type=int, help="worker processes (default: serving.workers)")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
def serve_command(repo: Path, host: str | None, port: int | None, workers: int | None, log_level: str) -> None:
    """Serve features over HTTP (Feast-compatible /get-online-features and native /v1)."""
    import os

    import uvicorn

    from featurestream.config import load_config

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
