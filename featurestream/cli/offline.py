"""Click commands of the offline store: ``training-set``, ``sql`` and ``materialize``.

Registered on the main CLI with ``main.add_command(...)``. Each reads the repo from the
``-r/--repo`` option of the parent group (``cli.common.config_of``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date
from pathlib import Path
from typing import cast

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from featurestream.cli.common import BREACH_EXIT, EXIT_CODES, config_of
from featurestream.cli.progress import Progress
from featurestream.config import Config
from featurestream.errors import FeatureStreamError

__all__ = ["materialize_command", "sql_command", "training_set_command"]


def _config(ctx: click.Context) -> Config:
    return config_of(ctx)


def _write(table: pa.Table, out: Path) -> None:
    if out.suffix.lower() == ".csv":
        pacsv.write_csv(table, out)
    else:
        pq.write_table(table, out, compression="zstd")


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("training-set", epilog=EXIT_CODES)
@click.option(
    "--labels",
    "labels",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Label rows: .parquet, .csv or .jsonl with entity keys and a label-time column.",
)
@click.option("--features", help="Comma-separated view[@version]:feature references (or on_demand:name).")
@click.option("--feature-service", help="A feature service name (name or name@version).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .parquet or .csv.")
@click.option("--timestamp-column", help="The label-time column (default: event_timestamp, timestamp, ...).")
@click.option("--as-served", is_flag=True, help="Join on when rows became available online, not on feature_time.")
@click.option("--full-feature-names", is_flag=True, help="Name columns view__feature.")
@click.option("--include-feature-times", is_flag=True, help="Add <view>__feature_time columns.")
@_JSON
@click.pass_context
def training_set_command(
    ctx: click.Context,
    labels: Path,
    features: str | None,
    feature_service: str | None,
    out: Path,
    timestamp_column: str | None,
    as_served: bool,
    full_feature_names: bool,
    include_feature_times: bool,
    as_json: bool,
) -> None:
    """Build a point-in-time correct training set from label rows. Exit 2 when the leakage check fails."""
    from featurestream.store import FeatureStore

    try:
        store = FeatureStore(config=_config(ctx))
        ts = store.training_set(
            labels,
            features=[f.strip() for f in features.split(",") if f.strip()] if features else None,
            feature_service=feature_service,
            timestamp_column=timestamp_column,
            as_served=as_served,
            full_feature_names=full_feature_names,
            include_feature_times=include_feature_times,
            progress=not as_json,
        )
        _write(ts.table, out)
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        doc = {
            "out": str(out),
            "rows": ts.table.num_rows,
            "columns": ts.table.column_names,
            "report": dataclasses.asdict(ts.report) | {"leakage_free": ts.report.leakage_free},
        }
        click.echo(json.dumps(doc, indent=1, default=str))
    else:
        click.echo(ts.report.summary(), err=True)
        click.echo(f"wrote {ts.table.num_rows} rows x {ts.table.num_columns} columns to {out}")
    if not ts.report.leakage_free:
        sys.exit(BREACH_EXIT)


@click.command("sql", epilog=EXIT_CODES)
@click.argument("query")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the result to .parquet/.csv.")
@click.option("--limit", default=50, show_default=True, help="Rows to print when not writing a file.")
@click.option("--json", "as_json", is_flag=True, help="Print the first --limit rows as JSON records.")
@click.pass_context
def sql_command(ctx: click.Context, query: str, out: Path | None, limit: int, as_json: bool) -> None:
    """Run ad-hoc DuckDB SQL; every registered view is a table (user_clicks_10m_v1, user_clicks_10m)."""
    from featurestream.store import FeatureStore

    try:
        table = cast(pa.Table, FeatureStore(config=_config(ctx)).sql(query, arrow=True))
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if out is not None:
        _write(table, out)
        if as_json:
            click.echo(json.dumps({"out": str(out), "rows": table.num_rows}))
        else:
            click.echo(f"wrote {table.num_rows} rows to {out}")
        return
    if as_json:
        doc = {"rows": table.num_rows, "records": table.slice(0, limit).to_pylist()}
        click.echo(json.dumps(doc, indent=1, default=str))
        return
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200):
        frame: pd.DataFrame = table.slice(0, limit).to_pandas()
        click.echo(frame.to_string(index=False))
    if table.num_rows > limit:
        click.echo(f"... {table.num_rows - limit} more rows (use --out to write them all)")


@click.command("materialize", epilog=EXIT_CODES)
@click.argument("view")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), help="First date (UTC), inclusive.")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last date (UTC), exclusive (as backfill).")
@_JSON
@click.pass_context
def materialize_command(ctx: click.Context, view: str, start: object, end: object, as_json: bool) -> None:
    """Load the latest offline row per entity of VIEW (name or name@version) into Redis.

    With --start/--end only rows of those UTC dates count: --start inclusive, --end exclusive.
    """
    from featurestream.store import FeatureStore

    d0: date | None = start.date() if start is not None else None  # type: ignore[attr-defined]
    d1: date | None = end.date() if end is not None else None  # type: ignore[attr-defined]
    try:
        store = FeatureStore(config=_config(ctx))
        bar = Progress(f"materialize {view}", unit="rows", enabled=not as_json)
        try:
            result = store.materialize(view, start=d0, end=d1, progress=lambda done, total: bar.update(done, total))
        finally:
            bar.close()
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    rate = result.rows / result.seconds if result.seconds else 0.0
    if as_json:
        doc = dataclasses.asdict(result) | {"skipped": result.skipped, "rows_per_s": round(rate)}
        click.echo(json.dumps(doc, indent=1))
        return
    click.echo(
        f"{result.view}: {result.rows} entities, {result.written} written, {result.skipped} kept "
        f"(Redis had a newer row), {result.seconds:.2f}s ({rate:,.0f} rows/s)"
    )
    if result.keyless:
        click.echo(
            f"{result.view}: {result.keyless} offline rows have a NULL or blank entity key and were not "
            "stored online (no key can hold them)"
        )


@click.command("backfill", epilog=EXIT_CODES)
@click.argument("view")
@click.option(
    "--from",
    "inputs",
    required=True,
    help="Event file or folder (local or s3://bucket/prefix): JSON lines (like the topic), Parquet or CSV.",
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="First date (UTC) to (re)compute, inclusive.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="Last date (UTC), exclusive.")
@_JSON
@click.pass_context
def backfill_command(ctx: click.Context, view: str, inputs: str, start, end, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Run VIEW's SQL in Flink batch mode over historical events into the offline store,
    replacing only the date partitions it touches (or all of --start..--end)."""
    from featurestream.jobs.backfill import backfill
    from featurestream.jobs.control import JobManager
    from featurestream.jobs.flink import JobProgress

    config = _config(ctx)
    jm = JobManager(config)
    fv = jm.view(view)
    bar = Progress(f"backfill {fv.ref}", unit="events", enabled=not as_json)

    def progress(p: JobProgress, total: int) -> None:
        detail = f"stage {p.stages_done}/{p.stages} done  {p.state}"
        bar.update(p.records_read, total, detail, elapsed=p.elapsed_s, force=p.done)

    try:
        result = backfill(
            config,
            fv,
            jm.source_of(fv),
            inputs,
            start=start.date() if start else None,
            end=end.date() if end else None,
            echo=(lambda m: click.echo(m, err=True)) if as_json else click.echo,
            progress=progress,
        )
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(result) | {"view": fv.ref}, indent=1))
        return
    click.echo(
        f"backfilled {fv.ref}: {result.input_events:,} events in {result.seconds:.0f}s "
        f"(job {result.job_id}); {result.dead_letters} dead letter(s); "
        f"partitions now: {', '.join(result.partitions[:10])}{' ...' if len(result.partitions) > 10 else ''}"
    )


@click.command("repair", epilog=EXIT_CODES)
@click.argument("views", nargs=-1)
@_JSON
@click.pass_context
def repair_command(ctx: click.Context, views: tuple[str, ...], as_json: bool) -> None:
    """Finish or roll back interrupted offline partition swaps of VIEWS (name or name@version; all
    registered views of the namespace when none is given).

    A backfill, materialized write or delete killed mid-swap leaves its day readable with exactly the
    old or the new rows (offline/swap.py); the next writer of that day completes it, and this command
    does so now for every day. Readers see the same rows before and after.
    """
    from featurestream.jobs.control import JobManager
    from featurestream.offline.layout import repair
    from featurestream.registry import Registry

    config = _config(ctx)
    try:
        if views:
            jm = JobManager(config)
            targets = [jm.view(v) for v in views]
        else:
            targets = Registry.open(config).views(config.namespace)
        done = {fv.ref: [str(d) for d in repair(config, fv)] for fv in targets}
    except FeatureStreamError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(done, indent=1))
        return
    for ref, days in done.items():
        click.echo(f"{ref}: " + (f"completed interrupted swaps of {', '.join(days)}" if days else "nothing to repair"))
