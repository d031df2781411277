"""The column names every store and job agrees on; defined here once, imported everywhere.

A feature view's output and the offline store's rows carry the entity keys, the features and
these two columns (online they become the hash fields ``_ft``/``_ct``, see :mod:`online.keys`).
"""

from __future__ import annotations

__all__ = ["CREATED_AT", "FEATURE_TIME", "PARTITION_DATE"]

FEATURE_TIME = "feature_time"
"""When the row's values hold (a window's end, or the event time of a row-wise view); UTC."""

CREATED_AT = "created_at"
"""When the row was computed (null or ``feature_time`` for backfilled rows); ties of
``feature_time`` are broken by the latest ``created_at``."""

PARTITION_DATE = "date"
"""The offline store's partition column (``date=YYYY-MM-DD`` folders): the UTC date of ``feature_time``."""
