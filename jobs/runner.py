"""PyFlink entry point: run compiled job specs (JSON files) on a Flink cluster, one Flink job each.

A spec is produced by ``jobs.compiler`` (or by tests) and holds everything the job needs, so the
cluster-side Python never reads the feature repo:

    {"name": "...", "mode": "streaming" | "batch", "config": {"key": "value"},
     "python_functions": [{"name": "...", "module": "...", "attr": "..."}],
     "statements": ["CREATE TABLE ...", ...],   # DDL, run one by one
     "inserts": ["INSERT INTO ...", ...]}       # run together as one STATEMENT SET

Submitted with ``flink run -pym featurestream.jobs.runner --spec FILE [--spec FILE ...]`` (see
``featurestream.jobs.flink``): one client start-up for any number of jobs. Each spec gets its own
TableEnvironment and STATEMENT SET, so each stays a separate job with its own name, configuration
and checkpoints; a job restores from the savepoint or checkpoint named by its own configuration
(``execution.state-recovery.path``), never from the client's ``-s``. One spec failing does not stop
the others: every spec ends with one result line (:data:`RESULT_PREFIX` + JSON: ``name`` and
``job_id``, or ``name`` and ``error``), and the exit code is 1 when any failed.

The spec files carry ``${FEATURESTREAM_SECRET_<n>}`` references in place of secrets; they are
resolved here from this process's environment (:func:`featurestream.secrets.unseal`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from typing import Any

# Prefix of the one line per spec that the submitting side parses (featurestream.jobs.flink).
RESULT_PREFIX = "featurestream-job-result "


def build_env(spec: dict[str, Any]) -> Any:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = (
        EnvironmentSettings.in_batch_mode() if spec.get("mode") == "batch" else EnvironmentSettings.in_streaming_mode()
    )
    t_env = TableEnvironment.create(settings)
    conf = t_env.get_config()
    conf.set("pipeline.name", spec["name"])
    conf.set("table.local-time-zone", "UTC")
    for key, value in spec.get("config", {}).items():
        conf.set(key, str(value))
    for fn in spec.get("python_functions", []):
        module = importlib.import_module(fn["module"])
        func = getattr(module, fn["attr"])
        if "kwargs" in fn:  # a factory building a parametrised UDF
            func = func(**fn["kwargs"])
        t_env.create_temporary_system_function(fn["name"], func)
    return t_env


def run(spec: dict[str, Any], wait: bool = False) -> str | None:
    t_env = build_env(spec)
    for stmt in spec.get("statements", []):
        t_env.execute_sql(stmt)
    inserts = spec.get("inserts", [])
    if not inserts:
        return None
    stmt_set = t_env.create_statement_set()
    for ins in inserts:
        stmt_set.add_insert_sql(ins)
    result = stmt_set.execute()
    client = result.get_job_client()
    job_id = str(client.get_job_id()) if client is not None else None
    print(f"featurestream job {spec['name']} submitted as {job_id}", flush=True)
    if wait:
        result.wait()
    return job_id


def _error_text(exc: BaseException) -> str:
    """Flink's own message of a failed submission (a Py4J error carries the Java exception chain)."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        lines = [str(java.toString())]
        cause = java.getCause()
        while cause is not None and len(lines) < 8:
            lines.append(f"Caused by: {cause.toString()}")
            cause = cause.getCause()
        return "\n".join(lines)
    return f"{type(exc).__name__}: {exc}"


def run_all(specs: list[dict[str, Any]], wait: bool = False) -> list[dict[str, Any]]:
    """Run every spec as its own job, in order; one result per spec (``job_id`` or ``error``)."""
    results = []
    for spec in specs:
        name = spec.get("name", "?")
        try:
            outcome: dict[str, Any] = {"name": name, "job_id": run(spec, wait=wait)}
        except Exception as exc:  # one failing job must not hide the others
            traceback.print_exc(file=sys.stderr)
            outcome = {"name": name, "error": _error_text(exc)}
        print(RESULT_PREFIX + json.dumps(outcome), flush=True)
        results.append(outcome)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", action="append", required=True, help="path of a job spec JSON (repeatable)")
    parser.add_argument("--wait", action="store_true", help="block until each job finishes (batch jobs)")
    args = parser.parse_args(argv)
    from featurestream.secrets import unseal

    specs = []
    for path in args.spec:
        with open(path) as fh:
            specs.append(unseal(json.load(fh), os.environ))
    results = run_all(specs, wait=args.wait)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
