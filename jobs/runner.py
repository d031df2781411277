"""PyFlink entry point: run one compiled job spec (a JSON file) on a Flink cluster.

A spec is produced by ``jobs.compiler`` (or by tests) and holds everything the job needs, so the
cluster-side Python never reads the feature repo:

    {"name": "...", "mode": "streaming" | "batch", "config": {"key": "value"},
     "python_functions": [{"name": "...", "module": "...", "attr": "..."}],
     "statements": ["CREATE TABLE ...", ...],   # DDL, run one by one
     "inserts": ["INSERT INTO ...", ...]}       # run together as one STATEMENT SET

Submitted with ``flink run -pym featurestream.jobs.runner --spec FILE`` (see ``featurestream.jobs.flink``).
The spec file carries ``${FEATURESTREAM_SECRET_<n>}`` references in place of secrets; they are
resolved here from this process's environment (:func:`featurestream.secrets.unseal`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="path of the job spec JSON")
    parser.add_argument("--wait", action="store_true", help="block until the job finishes (batch jobs)")
    args = parser.parse_args(argv)
    with open(args.spec) as fh:
        spec = json.load(fh)
    from featurestream.secrets import unseal

    run(unseal(spec, os.environ), wait=args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
