"""Loading and checking label rows (the left side of a training set)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from featurestream.offline.errors import LabelError
from featurestream.offline.timestamps import to_utc_column

__all__ = ["TIME_COLUMN_CANDIDATES", "Labels", "load_labels", "prepare_labels"]

Labels: TypeAlias = pd.DataFrame | pa.Table | str | Path

TIME_COLUMN_CANDIDATES = ("event_timestamp", "timestamp", "event_time", "label_time", "ts")


def load_labels(labels: Labels) -> pa.Table:
    """A DataFrame, Arrow table, or a ``.parquet`` / ``.csv`` / ``.json(l)`` file as an Arrow table."""
    if isinstance(labels, pa.Table):
        return labels
    if isinstance(labels, pd.DataFrame):
        return pa.Table.from_pandas(labels, preserve_index=False)
    path = Path(labels)
    if not path.exists():
        raise LabelError(f"labels file {path} does not exist", hint="pass the path of a .parquet, .csv or .jsonl file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq") or path.is_dir():
        return pq.read_table(path)
    if suffix == ".csv":
        return pacsv.read_csv(path)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return pajson.read_json(path)
    raise LabelError(
        f"labels file {path}: expected a .parquet, .csv or .jsonl file, found {suffix or 'no extension'!r}",
        hint="convert the labels to Parquet or CSV",
    )


def prepare_labels(table: pa.Table, time_column: str | None) -> tuple[pa.Table, str]:
    """Pick and normalise the label-time column to UTC; returns (table, column name)."""
    if time_column is None:
        found = [c for c in TIME_COLUMN_CANDIDATES if c in table.column_names]
        if len(found) != 1:
            raise LabelError(
                "labels: expected exactly one label-time column named one of "
                f"{list(TIME_COLUMN_CANDIDATES)}, found {found or 'none'} among {table.column_names}",
                hint="name the label-time column explicitly (timestamp_column=... / --timestamp-column)",
            )
        time_column = found[0]
    elif time_column not in table.column_names:
        raise LabelError(
            f"labels: expected a label-time column {time_column!r}, found columns {table.column_names}",
            hint="pass the name of the column holding each label's time",
        )
    idx = table.column_names.index(time_column)
    table = table.set_column(idx, time_column, to_utc_column(table[time_column], time_column))
    # Drop pandas metadata: it would restore the caller's original time zone in to_pandas().
    return table.replace_schema_metadata(None), time_column
