"""``featurestream push SOURCE FILE|-``: validate rows against a source and append them to its topic."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from featurestream.cli.common import EXIT_CODES, config_of

__all__ = ["push_command", "read_rows"]


def read_rows(text: str, origin: str) -> list[Any]:
    """Rows from JSON lines, a JSON array of objects, or Feast's columnar ``{"df": {col: [...]}}`` /
    ``{col: [...]}``. Raises click.UsageError naming the line that is not JSON."""
    from featurestream.push import rows_from_columns

    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError:
            doc = None  # JSON lines: one object per line
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict):
            columns = doc.get("df", doc)
            if isinstance(columns, dict) and all(isinstance(v, list) for v in columns.values()):
                return rows_from_columns(columns)
            return [doc]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise click.UsageError(f"{origin}:{n}: expected one JSON object per line, found {exc.msg}") from exc
    return rows


@click.command("push", epilog=EXIT_CODES)
@click.argument("source")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def push_command(ctx: click.Context, source: str, file: Path, as_json: bool) -> None:
    """Append the rows of FILE (JSON lines, a JSON array, or Feast's {"df": {column: [values]}}; - for
    stdin) to SOURCE's Kafka topic. The whole batch is checked against the source's schema first:
    a bad row or column is reported and nothing is written."""
    from featurestream.definitions import Source
    from featurestream.errors import RegistryError
    from featurestream.push import KafkaEventSink, push_rows
    from featurestream.registry import Registry

    cfg = config_of(ctx)
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    rows = read_rows(text, str(file))
    found = {s["name"]: s for s in Registry.open(cfg).sources(cfg.namespace)}
    if source not in found:
        raise RegistryError(
            f"expected a registered source named {source!r} in namespace {cfg.namespace!r}, found none",
            hint=f"sources: {', '.join(sorted(found)) or 'none (run featurestream apply)'}",
        )
    sink = KafkaEventSink(cfg)
    try:
        result = push_rows(cfg, Source.from_dict(found[source]), rows, sink)
    finally:
        sink.close()
    if as_json:
        click.echo(json.dumps({"source": result.source, "topic": result.topic, "rows": result.rows}))
    else:
        click.echo(f"pushed {result.rows} row(s) to {result.topic}")
