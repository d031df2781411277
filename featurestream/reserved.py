"""Names a feature view may not output, because the platform already uses them for its own columns.

The one list (:data:`RESERVED_COLUMNS`) is composed from each name's owner -- the offline columns of
:mod:`featurestream.columns`, the online hash fields of :mod:`featurestream.online.keys` -- so a new
internal column is reserved by adding it here from its owner, never by copying its text. Names
compare case-insensitively: DuckDB and Parquet readers fold case, so ``Date`` collides with ``date``.
``feature_time`` is not reserved: every view must output it.
"""

from __future__ import annotations

import re

from featurestream.columns import CREATED_AT, PARTITION_DATE
from featurestream.definitions import FeatureView
from featurestream.online.keys import CREATED_FIELD, FEATURE_TIME_FIELD

__all__ = ["RESERVED_COLUMNS", "reserved_problems"]

RESERVED_COLUMNS: dict[str, str] = {
    CREATED_AT: "the offline store's column of when a row was computed",
    PARTITION_DATE: "the offline store's date partition column",
    FEATURE_TIME_FIELD: "the online store's hash field of feature_time",
    CREATED_FIELD: "the online store's hash field of created_at",
}
_BY_FOLDED = {name.casefold(): name for name in RESERVED_COLUMNS}


def reserved_problems(view: FeatureView, columns: list[str]) -> list[str]:
    """One ``file:line: ...`` problem per output column of ``view`` that uses a reserved name."""
    out = []
    for col in columns:
        reserved = _BY_FOLDED.get(col.casefold())
        if reserved is None:
            continue
        out.append(
            f"{view.path}:{_line_of(view, col)}: view {view.ref} outputs a column named {col!r}, a reserved name "
            f"({RESERVED_COLUMNS[reserved]}); rename it, e.g. '... AS {col.strip('_')}_value'"
        )
    return out


def _line_of(view: FeatureView, column: str) -> int:
    """The file line where ``column`` is named as an output (``AS column``), else where it first
    appears in the SQL, else where the SQL starts."""
    lines = view.sql.splitlines()
    name = re.escape(column)
    for pattern in (rf"\bAS\s+`?{name}`?(?![\w])", rf"(?<![\w]){name}(?![\w])"):
        rx = re.compile(pattern, re.IGNORECASE)
        for i, text in enumerate(lines):
            if rx.search(text):
                return view.sql_line + i
    return view.sql_line
