"""``featurestream serve``: run the HTTP app under uvicorn, for the repo of the group's ``-r/--repo``."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import click

from featurestream.cli.common import EXIT_CODES, repo_of
from featurestream.errors import FeatureStreamError

__all__ = ["is_loopback", "serve_command"]


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@click.command("serve", epilog=EXIT_CODES)
# Kept (hidden) so `featurestream serve --repo X` scripts still work; the group's -r/--repo is the way.
@click.option("--repo", "repo", default=None, hidden=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default=None, help="bind address (default: serving.host)")
@click.option("--port", default=None, type=int, help="port (default: serving.port)")
@click.option("--workers", default=None, type=int, help="worker processes (default: serving.workers)")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--insecure", is_flag=True, help="allow a non-loopback bind address without API keys")
@click.pass_context
def serve_command(
    ctx: click.Context,
    repo: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    log_level: str,
    insecure: bool,
) -> None:
    """Serve features over HTTP (Feast-compatible /get-online-features and native /v1).

    Refuses to listen beyond this machine (a non-loopback address) while no API keys are
    configured, unless --insecure says that is intended.
    """
    import os

    import uvicorn

    from featurestream.api.server import http_protocol
    from featurestream.config import load_config

    repo = repo if repo is not None else repo_of(ctx)
    try:
        cfg = load_config(repo)
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    bind = host or cfg.serving.host
    if not cfg.serving.api_keys and not insecure and not is_loopback(bind):
        raise click.ClickException(
            f"refusing to serve on {bind} without API keys: expected a loopback address (127.0.0.1, ::1, "
            "localhost) or serving.api_keys configured; fix: add serving.api_keys (key_env or key_file), "
            "bind --host 127.0.0.1, or pass --insecure if an open server is intended"
        )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = workers or cfg.serving.workers
    os.environ["FEATURESTREAM_SERVE_ROOT"] = str(repo.resolve())
    uvicorn.run(
        "featurestream.api.main:app_from_env",
        factory=True,
        host=bind,
        port=port or cfg.serving.port,
        workers=n,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        # httptools, stamping each request's arrival (admission control); plain lookups answered by the protocol
        http=http_protocol(cfg.serving.http_fast_path),
    )
