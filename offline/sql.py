"""Ad-hoc DuckDB SQL over the offline store: every registered view is a table.

Each view version is ``<view>_v<version>`` (e.g. ``user_clicks_10m_v1``) and ``<view>`` names the
latest version. Columns: entity keys, ``feature_time`` and ``created_at`` (TIMESTAMPTZ, UTC),
then the features. The file list is taken when the connection is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.offline.duck import connect, quote, view_select
from featurestream.offline.errors import OfflineError

__all__ = ["catalog_connection", "run_sql"]


def catalog_connection(
    config: Config, views: Sequence[FeatureView], *, progress: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one SQL view per feature-view version, plus latest aliases."""
    con = connect(config, progress=progress)
    latest: dict[str, FeatureView] = {}
    for view in views:
        select = view_select(con, config, view)
        body = (
            "SELECT * REPLACE (CAST(feature_time AS TIMESTAMPTZ) AS feature_time, "
            f"CAST(created_at AS TIMESTAMPTZ) AS created_at) FROM ({select})"
        )
        con.execute(f"CREATE VIEW {quote(view.table_name)} AS {body}")
        if view.name not in latest or view.version > latest[view.name].version:
            latest[view.name] = view
    for name, view in latest.items():
        con.execute(f"CREATE VIEW {quote(name)} AS SELECT * FROM {quote(view.table_name)}")
    return con


def run_sql(config: Config, views: Sequence[FeatureView], query: str, *, progress: bool = False) -> pa.Table:
    """Run one query; raises :class:`OfflineError` with DuckDB's message and the known tables."""
    con = catalog_connection(config, views, progress=progress)
    try:
        return con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        tables = sorted({v.table_name for v in views} | {v.name for v in views})
        raise OfflineError(
            f"query failed: {exc}",
            hint=f"tables available: {', '.join(tables) or '(none registered; run featurestream apply)'}",
        ) from exc
    finally:
        con.close()
