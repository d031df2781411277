"""What every command shares: the repo of the group's ``-r/--repo``, its config, and the exit codes.

The rule: a command never reads the current directory itself; it asks :func:`config_of`, which
answers from the group's ``--repo`` (default ``.``). Exit codes are the same everywhere:
0 ok, 1 error (a message, no traceback; a usage error too), 2 a check breached (monitor, audit, leakage).
"""

from __future__ import annotations

from pathlib import Path

import click

from featurestream.config import Config, load_config

__all__ = ["BREACH_EXIT", "ERROR_EXIT", "EXIT_CODES", "RepoContext", "config_of", "repo_of"]

ERROR_EXIT = 1
BREACH_EXIT = 2
# \b keeps click from re-wrapping the lines of the epilog.
EXIT_CODES = (
    "\b\nExit codes: 0 ok, 1 error, 2 a check breached.\n(A usage error, such as an unknown option, is an error: 1.)"
)


class RepoContext:
    """The group's context object: the feature repo folder and its config, loaded once on first use."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.repo)
        return self._config


def repo_of(ctx: click.Context) -> Path:
    """The feature repo named by the group's ``-r/--repo`` (``.`` when a command runs on its own;
    a context object with a ``repo`` attribute, as tests pass one, is honoured too)."""
    obj = ctx.find_object(RepoContext)
    if obj is not None:
        return obj.repo
    repo = getattr(ctx.obj, "repo", None)
    return Path(repo) if repo is not None else Path(".")


def config_of(ctx: click.Context) -> Config:
    """The config of :func:`repo_of`'s repo (loaded once per invocation under the group)."""
    obj = ctx.find_object(RepoContext)
    return obj.config if obj is not None else load_config(repo_of(ctx))
