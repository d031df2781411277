"""Flink's own planner, used at ``apply`` time: validate view SQL and infer output schemas.

One local TableEnvironment (a JVM through py4j, ~10 s to start) validates every new or changed
view: the source DDL that the streaming job will use is registered, then the view's SELECT is
planned. Errors carry Flink's message with the position mapped back to the view's file and line.

What a view costs here (profiled with jstack samples of the planner JVM, 100 views x 50
features): ``explain()`` translates the optimised plan into operators, generating their Java code,
and by default then re-parses every generated method longer than 4,000 characters (an ANTLR
Java parser) to split it for the JIT: ~3/4 of the time. That split only matters to a JIT that
runs the code, never to a plan that is only checked, so it is switched off here (the jobs
themselves plan with Flink's default); optimisation and code generation still run for every
view. Reading the output schema column by column cost two py4j round trips per column; it is read
as one string. A view whose SQL and sources' SQL were already planned by this planner (the same
definition applied to a second namespace) reuses that result: planning is a function of exactly
those texts.

A batch of views (``plan_views``, what ``apply`` calls) is planned by up to two sessions at once, each
a TableEnvironment of its own in the same JVM, on its own py4j connection (see ``_Session`` for why),
and the results are merged in the views' order: sources are registered and errors are built on the
main session, in order, exactly as one view after the other would; the worker sessions are created
and given the batch's sources in the background meanwhile. The JVM started for planning runs the
quick JIT compiler only (``_PLANNER_JVM_ARGS``): with the optimising one, compiling the planner's
own code cost more CPU than planning 100 views did. It maps the class archive that ``setup`` builds
(``planner_cds``), when there is one for this JVM and these jars.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import threading
import time
from typing import Any

from featurestream.config import Config
from featurestream.definitions import Column, FeatureView, Source
from featurestream.errors import DefinitionError

__all__ = ["FlinkPlanner"]

_POS = re.compile(r"(?:At|From) line (\d+), column (\d+)")
_MISSING_COLUMN = re.compile(r"Column '([^']+)' not found")
_MORE_FRAMES = re.compile(r"\.\.\. \d+ more")
# Generated methods longer than this are split for the JIT (an ANTLR parse of the generated code);
# a plan that is only checked never runs its code, so nothing here is split.
_NO_CODE_SPLIT = str(2**31 - 1)
# a batch is spread over worker sessions only when each gets at least this many views (a session
# costs a TableEnvironment and its own registration of the sources)
_MIN_VIEWS_PER_SESSION = 4
_WORKERS = 2
_CREATE = threading.Lock()
# The planner's own code is large (Calcite and Flink's planner) and runs for seconds to minutes per
# apply: the optimising JIT (C2) spends more CPU compiling it than its faster code saves there. With
# the quick compiler (C1) only, planning 100 fresh views takes half the CPU (bench/README.md).
_PLANNER_JVM_ARGS = "-XX:TieredStopAtLevel=1"


class FlinkPlanner:
    """The single owner of apply-time planning: a main session plus, for a batch of views, worker
    sessions that plan in parallel (:meth:`plan_views`), results in the views' order."""

    def __init__(self, config: Config, *, workers: int | None = None) -> None:
        from featurestream.stack.jars import flink_jars, require_jars

        require_jars(config.jars_path, "flink")  # the Kafka connector, the Parquet format and our JSON format
        self.config = config
        # planning is CPU-bound on the JVM: one session per core, at most _WORKERS
        self.workers = max(1, workers if workers is not None else min(_WORKERS, os.cpu_count() or 1))
        self._jars = [p.as_uri() for p in flink_jars(config.jars_path)]
        self._port = _gateway_port(config)
        self._main = _Session(config, self._jars, self._port)
        self.t_env = self._main.t_env
        self._lanes: list[_Session] = []  # worker sessions, created on the first parallel batch and kept
        self._planned: dict[str, list[Column]] = {}  # _plan_key -> output columns

    def register_source(self, source: Source, view: FeatureView) -> None:
        self._main.register_source(source, view)

    def output_columns(self, view: FeatureView) -> list[Column]:
        """Plan the view's SELECT (streaming) and return its output columns with Flink types."""
        key = self._main.plan_key(view)
        if key in self._planned:
            return list(self._planned[key])
        outcome = self._main.plan(view)
        if isinstance(outcome, _Rejected):
            raise self._rejection(view, outcome, list(self._main.registered))
        self._planned[key] = outcome
        return list(outcome)

    def plan_views(self, views: list[FeatureView], sources: dict[str, Source]) -> list[list[Column] | DefinitionError]:
        """What ``register_source`` of each of a view's sources and then ``output_columns`` give, view
        after view, in the same order (a view's DefinitionError in its place), with the planning of
        views not planned before spread over ``workers`` sessions.

        The sources are registered on the main session first, view by view, so a rejected source is
        reported exactly as one after the other would; errors (with the "did you mean" hint over the
        sources registered so far, as in order) are built in the caller's thread.
        """
        preparing = self._prepare_lanes(views, sources)
        out: list[list[Column] | DefinitionError | None] = [None] * len(views)
        known: dict[int, list[str]] = {}  # view index -> the sources registered when it would be planned
        keys: dict[int, str] = {}
        pending: list[int] = []
        for i, v in enumerate(views):
            try:
                for name in v.sources:
                    self._main.register_source(sources[name], v)
            except DefinitionError as exc:
                out[i] = exc
                continue
            keys[i] = self._main.plan_key(v)
            if keys[i] in self._planned:
                out[i] = list(self._planned[keys[i]])
            else:
                known[i] = list(self._main.registered)
                pending.append(i)
        if preparing is not None:
            preparing.join()
        outcomes = self._plan_pending([views[i] for i in pending], sources)
        for i, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, _Rejected):
                out[i] = self._rejection(views[i], outcome, known[i])
            elif isinstance(outcome, DefinitionError):
                out[i] = outcome
            else:
                self._planned.setdefault(keys[i], outcome)
                out[i] = list(outcome)
        return [
            r if r is not None else DefinitionError("not planned", path=v.path) for r, v in zip(out, views, strict=True)
        ]

    def _prepare_lanes(self, views: list[FeatureView], sources: dict[str, Source]) -> threading.Thread | None:
        """For a batch large enough to be spread: create the worker sessions and register the batch's
        sources on them in the background while the main session registers them in order (~1 s of a
        first apply otherwise spent one after the other). Only readiness changes: a source rejected
        here is never planned on (its views fail on the main session), and any other failure is met
        again, and raised, when the session plans."""
        lanes = min(self.workers, len(views) // _MIN_VIEWS_PER_SESSION) - 1
        if lanes <= 0:
            return None
        first: dict[str, FeatureView] = {}  # source -> the first view that reads it, as a worker would take them
        for v in views:
            for name in v.sources:
                if name in sources:
                    first.setdefault(name, v)

        def prepare() -> None:
            try:
                for k in range(lanes):
                    session = self._lane(k)
                    for name, v in first.items():
                        with contextlib.suppress(DefinitionError):
                            session.register_source(sources[name], v)
            except Exception:
                return

        thread = threading.Thread(target=prepare, name="planner-prepare", daemon=True)
        thread.start()
        return thread

    def _plan_pending(
        self, views: list[FeatureView], sources: dict[str, Source]
    ) -> list[list[Column] | _Rejected | DefinitionError]:
        n = min(self.workers, len(views) // _MIN_VIEWS_PER_SESSION)
        if n <= 1:
            return [self._main.plan(v) for v in views]
        results: list[list[Column] | _Rejected | Exception | None] = [None] * len(views)
        todo = iter(range(len(views)))
        take = threading.Lock()

        def work(lane: int) -> None:
            session = self._main if lane == 0 else self._lane(lane - 1)
            while True:
                with take:
                    i = next(todo, None)
                if i is None:
                    return
                v = views[i]
                try:
                    for name in v.sources:
                        session.register_source(sources[name], v)
                    results[i] = session.plan(v)
                except Exception as exc:  # a DefinitionError is the view's result; anything else is raised below
                    results[i] = exc

        threads = [threading.Thread(target=work, args=(k,), name=f"planner-{k}") for k in range(1, n)]
        for t in threads:
            t.start()
        work(0)
        for t in threads:
            t.join()
        out: list[list[Column] | _Rejected | DefinitionError] = []
        for r, v in zip(results, views, strict=True):
            if isinstance(r, Exception) and not isinstance(r, DefinitionError):
                raise r  # as one after the other would (py4j gone, ...)
            out.append(r if r is not None else DefinitionError(f"{v.ref}: its planner thread died", path=v.path))
        return out

    def _lane(self, k: int) -> _Session:
        """Worker session k, created once (creation is serialised: PyFlink's is not thread-safe)."""
        with _CREATE:
            while len(self._lanes) <= k:
                self._lanes.append(_Session(self.config, self._jars, self._port))
            return self._lanes[k]

    def _rejection(self, view: FeatureView, rejected: _Rejected, registered: list[str]) -> DefinitionError:
        msg = rejected.message
        line = None
        m = _POS.search(msg)
        if m:
            line = view.sql_line + int(m.group(1)) - 1
        error = DefinitionError(
            f"Flink rejected the SQL: {msg}",
            path=view.path,
            line=line or view.sql_line,
            hint=self._did_you_mean(msg, registered),
        )
        error.__cause__ = rejected.cause
        return error

    def _did_you_mean(self, msg: str, registered: list[str]) -> str | None:
        """For Flink's "Column 'x' not found": the closest columns of the registered sources."""
        m = _MISSING_COLUMN.search(msg)
        if m is None:
            return None
        known: set[str] = set()
        for name in registered:
            try:
                known.update(str(c) for c in self.t_env.from_path(f"`{name}`").get_schema().get_field_names())
            except Exception:
                continue
        close = difflib.get_close_matches(m.group(1), sorted(known), n=3, cutoff=0.6)
        if not close:
            return None
        return "did you mean " + " or ".join(repr(c) for c in close) + "? (columns of the source's schema)"


class _Rejected:
    """Flink's message for a view it rejected; the DefinitionError is built by the caller's thread."""

    def __init__(self, message: str, cause: BaseException) -> None:
        self.message = message
        self.cause = cause


class _Session:
    """One TableEnvironment on its own py4j connection, used by one thread at a time.

    Calcite keeps the planner's metadata provider in a Java ThreadLocal, set on the Java thread that
    created the TableEnvironment (FLINK-23020): planned on another Java thread, ``explain()`` fails
    with "NullPointerException: metadataHandlerProvider". py4j serves each connection on one Java
    thread and hands a client's idle connections to whichever Python thread calls next, so the
    session has a client of its own (one connection while one thread uses it) and no finalizers
    (memory management off: a Python garbage collection in another thread would open a second
    connection); it frees its per-view objects itself.
    """

    def __init__(self, config: Config, jars: list[str], port: int) -> None:
        from py4j.java_gateway import GatewayParameters, JavaGateway
        from pyflink.table import TableEnvironment

        self.gateway = JavaGateway(
            gateway_parameters=GatewayParameters(port=port, auto_convert=True, enable_memory_management=False)
        )
        jvm = self.gateway.jvm
        urls = self.gateway.new_array(jvm.java.net.URL, len(jars))
        for i, uri in enumerate(jars):
            urls[i] = jvm.java.net.URL(uri)
        # this Java thread's context class loader lacks the jars that PyFlink adds to its own thread's
        loader = jvm.java.net.URLClassLoader(urls, jvm.java.lang.Thread.currentThread().getContextClassLoader())
        api = jvm.org.apache.flink.table.api
        settings = api.EnvironmentSettings.newInstance().inStreamingMode().withClassLoader(loader).build()
        self.config = config
        self.t_env = TableEnvironment(api.TableEnvironment.create(settings))
        conf = self.t_env.get_config()
        conf.set("table.local-time-zone", "UTC")
        conf.set("pipeline.jars", ";".join(jars))
        conf.set("table.generated-code.max-length", _NO_CODE_SPLIT)
        self._explain_text = api.ExplainFormat.TEXT
        self._no_details = self.gateway.new_array(api.ExplainDetail, 0)
        self._string = jvm.java.lang.String
        self.registered: dict[str, str] = {}  # source name -> the SQL it was registered with
        self._failed: dict[str, str] = {}

    def register_source(self, source: Source, view: FeatureView) -> None:
        from featurestream.jobs.compiler import drop_source_statements, source_statements

        if self.registered.get(source.name) == source.sql:
            return  # the job options (group id) differ per view, the schema does not
        if self._failed.get(source.name) == source.sql:
            raise DefinitionError(f"source {source.name} was rejected (see above)", path=source.path)
        if source.name in self.registered:  # redefined (a new repo on the same planner)
            for stmt in drop_source_statements(source):
                self.t_env.execute_sql(stmt)
            del self.registered[source.name]
        try:
            for stmt in source_statements(source, self.config, view, streaming=True):
                self.t_env.execute_sql(stmt)
        except Exception as exc:
            self._failed[source.name] = source.sql
            for stmt in drop_source_statements(source):  # what did get created; a fixed source starts clean
                self.t_env.execute_sql(stmt)
            raise DefinitionError(f"Flink rejected the source: {_flink_message(exc)}", path=source.path) from exc
        self.registered[source.name] = source.sql

    def plan(self, view: FeatureView) -> list[Column] | _Rejected:
        """Plan the view's SELECT (streaming): its output columns, or Flink's rejection."""
        j_table = schema = None
        try:
            j_table = self.t_env._j_tenv.sqlQuery(view.sql)
            schema = j_table.getResolvedSchema()
            columns = _resolved_columns(schema, self._string)
            # the physical plan catches what validation alone does not (e.g. non-append results)
            j_table.explain(self._explain_text, self._no_details)
        except Exception as exc:
            return _Rejected(_flink_message(exc), exc)
        finally:
            for obj in (j_table, schema):
                if obj is not None:
                    self.gateway.detach(obj)
        return columns

    def plan_key(self, view: FeatureView) -> str:
        """The texts a plan depends on: the view's SQL and the SQL its sources were registered with."""
        parts = [view.sql, *(f"{name}\0{self.registered.get(name, '')}" for name in sorted(view.sources))]
        return hashlib.sha256("\0\0".join(parts).encode()).hexdigest()


def _gateway_port(config: Config) -> int:
    """The port of PyFlink's gateway JVM, started for planning if none runs yet in this process.

    A JVM started here runs the quick JIT compiler only (``_PLANNER_JVM_ARGS``) and maps the
    planner's class archive when ``setup`` built one (``planner_cds``); if it dies before answering
    with the archive, it is started once more without, and the archive is moved aside when that works.
    """
    from featurestream.jobs import planner_cds

    archive = planner_cds.jvm_args(config)
    try:
        return start_gateway([_PLANNER_JVM_ARGS, *archive])
    except RuntimeError:  # PyFlink: "Java gateway process exited before sending its port number"
        if not archive:
            raise
    port = start_gateway([_PLANNER_JVM_ARGS])  # raises as before when the JVM does not start at all
    planner_cds.discard(planner_cds.archive_file(config))  # it starts without: the archive was the cause
    return port


def start_gateway(jvm_args: list[str]) -> int:
    """Start PyFlink's gateway JVM with ``jvm_args`` unless one runs in this process; its port.

    One already running keeps its own flags. ``JVM_ARGS`` set by the user come after ours, so
    theirs win.
    """
    from pyflink.java_gateway import get_gateway

    with _CREATE:
        before = os.environ.get("JVM_ARGS")
        os.environ["JVM_ARGS"] = " ".join([*jvm_args, before or ""]).strip()
        try:
            return int(get_gateway().gateway_parameters.port)
        finally:
            if before is None:
                del os.environ["JVM_ARGS"]
            else:
                os.environ["JVM_ARGS"] = before


def stop_gateway(timeout_s: float = 120.0) -> None:
    """Exit this process's gateway JVM (System.exit: it runs its exit work, e.g. writing a class
    archive) and wait until it has. Nothing in this process can use PyFlink afterwards."""
    from py4j.protocol import Py4JError
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    with contextlib.suppress(Py4JError):  # the connection closes as the JVM exits
        jvm.java.lang.System.exit(0)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"the planner JVM exited with {os.waitstatus_to_exitcode(status)}")
            return
        time.sleep(0.05)
    raise RuntimeError(f"the planner JVM (pid {pid}) did not exit within {timeout_s:.0f} s")


def _resolved_columns(schema: Any, string: Any = None) -> list[Column]:
    """A ResolvedSchema's columns in two py4j round trips (not two per column).

    ``ResolvedSchema.toString()`` prints one column per line, ``<escaped name> <data type>``: with
    the names known, each type is the rest of its line. Anything unexpected (a name holding a line
    break) falls back to asking column by column.
    """
    if string is None:  # java.lang.String through the session's own client, when it has one
        from pyflink.java_gateway import get_gateway

        string = get_gateway().jvm.java.lang.String
    names = str(string.join("\0", schema.getColumnNames())).split("\0")
    lines = str(schema.toString()).split("\n")[1 : 1 + len(names)]
    columns: list[Column] = []
    for name, line in zip(names, lines, strict=False):
        prefix = "`" + name.replace("`", "``") + "` "
        text = line.strip()
        if not text.startswith(prefix):
            return _columns_one_by_one(schema)
        dtype = text[len(prefix) :].removesuffix(",")
        columns.append(Column(name, dtype.replace(" NOT NULL", ""), not dtype.endswith("NOT NULL")))
    return columns if len(columns) == len(names) else _columns_one_by_one(schema)


def _columns_one_by_one(schema: Any) -> list[Column]:
    columns = []
    for col in schema.getColumns():
        dtype = str(col.getDataType().toString())
        columns.append(Column(str(col.getName()), dtype.replace(" NOT NULL", ""), not dtype.endswith("NOT NULL")))
    return columns


def _flink_message(exc: Any) -> str:
    text = str(exc)
    # keep the first meaningful Java exception line(s), not the stack trace; "... 14 more" counts frames
    # of the Java thread's stack, which vary with the JVM's history (reflection accessors), not the view
    lines = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.strip().startswith("at ") and not _MORE_FRAMES.fullmatch(ln.strip())
    ]
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
