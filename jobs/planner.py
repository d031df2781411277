"""Flink's own planner, used at ``apply`` time: validate view SQL and infer output schemas.

One local TableEnvironment (a JVM through py4j, ~10 s to start) validates every new or changed
view: the source DDL that the streaming job will use is registered, then the view's SELECT is
planned. Errors carry Flink's message with the position mapped back to the view's file and line.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from featurestream.config import Config
from featurestream.definitions import Column, FeatureView, Source
from featurestream.errors import DefinitionError, StackError

__all__ = ["FlinkPlanner"]

_POS = re.compile(r"(?:At|From) line (\d+), column (\d+)")
_MISSING_COLUMN = re.compile(r"Column '([^']+)' not found")


class FlinkPlanner:
    def __init__(self, config: Config) -> None:
        from pyflink.table import EnvironmentSettings, TableEnvironment

        from featurestream.stack.jars import flink_jars, format_jar

        jars_dir = config.jars_path
        jars = flink_jars(jars_dir)
        if not jars:
            # Without them Flink only says "Could not find any factory for identifier 'kafka'".
            raise StackError(
                f"expected the Flink Kafka connector and Parquet jars in {jars_dir / 'flink'}, found none",
                hint="run `featurestream setup` (resolves them with Maven, once)",
            )
        if not format_jar(jars_dir).exists():
            raise StackError(
                f"featurestream's source format is not built for these sources ({format_jar(jars_dir)} is missing)",
                hint="run `featurestream setup` (builds jobs/java with Maven, once per change)",
            )
        self.config = config
        self.t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        conf = self.t_env.get_config()
        conf.set("table.local-time-zone", "UTC")
        conf.set("pipeline.jars", ";".join(p.as_uri() for p in jars))
        self._registered: dict[str, str] = {}  # source name -> the SQL it was registered with
        self._failed: dict[str, str] = {}

    def register_source(self, source: Source, view: FeatureView) -> None:
        from featurestream.jobs.compiler import source_statements

        if self._registered.get(source.name) == source.sql:
            return  # the job options (group id) differ per view, the schema does not
        if self._failed.get(source.name) == source.sql:
            raise DefinitionError(f"source {source.name} was rejected (see above)", path=source.path)
        if source.name in self._registered:  # redefined (a new repo on the same planner)
            self.t_env.execute_sql(f"DROP TEMPORARY VIEW IF EXISTS `{source.name}`")
            self.t_env.execute_sql(f"DROP TEMPORARY VIEW IF EXISTS `{source.name}_parsed`")
            self.t_env.execute_sql(f"DROP TEMPORARY TABLE IF EXISTS `{source.name}_raw`")
            del self._registered[source.name]
        try:
            for stmt in source_statements(source, self.config, view, streaming=True):
                self.t_env.execute_sql(stmt)
        except Exception as exc:
            self._failed[source.name] = source.sql
            raise DefinitionError(f"Flink rejected the source: {_flink_message(exc)}", path=source.path) from exc
        self._registered[source.name] = source.sql

    def output_columns(self, view: FeatureView) -> list[Column]:
        """Plan the view's SELECT (streaming) and return its output columns with Flink types."""
        try:
            table = self.t_env.sql_query(view.sql)
            columns = []
            for col in table._j_table.getResolvedSchema().getColumns():
                dtype = str(col.getDataType().toString())
                nullable = not dtype.endswith("NOT NULL")
                columns.append(Column(str(col.getName()), dtype.replace(" NOT NULL", ""), nullable))
            # the physical plan catches what validation alone does not (e.g. non-append results)
            table.explain()
        except Exception as exc:
            msg = _flink_message(exc)
            line = None
            m = _POS.search(msg)
            if m:
                line = view.sql_line + int(m.group(1)) - 1
            raise DefinitionError(
                f"Flink rejected the SQL: {msg}",
                path=view.path,
                line=line or view.sql_line,
                hint=self._did_you_mean(msg),
            ) from exc
        return columns

    def _did_you_mean(self, msg: str) -> str | None:
        """For Flink's "Column 'x' not found": the closest columns of the registered sources."""
        m = _MISSING_COLUMN.search(msg)
        if m is None:
            return None
        known: set[str] = set()
        for name in self._registered:
            try:
                known.update(str(c) for c in self.t_env.from_path(f"`{name}`").get_schema().get_field_names())
            except Exception:
                continue
        close = difflib.get_close_matches(m.group(1), sorted(known), n=3, cutoff=0.6)
        if not close:
            return None
        return "did you mean " + " or ".join(repr(c) for c in close) + "? (columns of the source's schema)"


def _flink_message(exc: Any) -> str:
    text = str(exc)
    # keep the first meaningful Java exception line(s), not the stack trace
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    keep: list[str] = []
    for ln in lines:
        if ln.startswith(("py4j", "An error occurred", ":")) and not keep:
            ln = ln.lstrip(": ")
            if ln.startswith(("py4j", "An error occurred")):
                continue
        keep.append(ln)
        if len(keep) >= 3:
            break
    causes = [ln for ln in lines if ln.startswith("Caused by:")]
    msg = " | ".join(keep)
    if causes:
        msg += " | " + causes[-1]
    return msg[:1500]
