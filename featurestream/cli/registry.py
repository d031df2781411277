"""``featurestream registry``: the way back from a corrupt registry file."""

from __future__ import annotations

import json

import click

from featurestream.cli.common import EXIT_CODES
from featurestream.registry_file import prev_path, restore_previous

__all__ = ["registry"]


@click.group(epilog=EXIT_CODES)
def registry() -> None:
    """The registry file itself (where 'apply' records definitions)."""


@registry.command("restore", epilog=EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def restore_cmd(c, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Put back the last good registry (registry.json.prev), kept by every write.

    The document it replaces is kept as the new .prev when it still parses, so a restore can be
    undone by running it again.
    """
    path = c.config.registry_file
    doc = restore_previous(path)
    views = len(doc.get("views", []))
    if as_json:
        click.echo(
            json.dumps({"restored": str(path), "from": str(prev_path(path)), "revision": doc.get("revision", 0)})
        )
        return
    click.echo(f"restored {path} from {prev_path(path)}: revision {doc.get('revision', 0)}, {views} view version(s)")
