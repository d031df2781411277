"""Talk to a Flink cluster: submit compiled job specs, list, cancel, savepoint, checkpoints.

Submission goes through the wheel's own ``bin/flink run -py`` so the job is built by the same
PyFlink that the cluster runs; everything else uses the REST API (``flink.rest_url``).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from featurestream.config import Config
from featurestream.errors import FeatureStreamError
from featurestream.secrets import config_secrets, redact, seal

__all__ = ["RESTORE_KEY", "FlinkClient", "FlinkError", "JobProgress", "Submitted", "parse_results"]


# The job's entry point, run as a module by the client's Python (``flink run -pym``): no file path
# of the submitting machine is named, so none reaches the job's configuration.
RUNNER_MODULE = "featurestream.jobs.runner"
# Where a job resumes from (a savepoint or a retained checkpoint), set in that job's own
# configuration: Flink 2.x's key (``execution.savepoint.path`` is its deprecated alias).
RESTORE_KEY = "execution.state-recovery.path"


class FlinkError(FeatureStreamError):
    """The Flink cluster refused or failed a request."""


# Flink's refusal to checkpoint a job whose tasks are not all running yet (deploying, restarting).
_TASKS_NOT_RUNNING = "Not all required tasks are currently running"


class FlinkClient:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rest_url = config.flink.rest_url.rstrip("/")

    # ------------------------------------------------------------------ REST

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.rest_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise FlinkError(f"Flink REST {method} {path} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FlinkError(
                f"cannot reach Flink at {self.rest_url}: {exc}",
                hint="start the local stack with 'featurestream up' or set flink.rest_url",
            ) from exc
        return json.loads(raw) if raw else {}

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/jobs/overview").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/jobs/{job_id}"))

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/jobs/{job_id}/checkpoints"))

    def checkpoint_config(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/jobs/{job_id}/checkpoints/config"))

    def vertex_watermarks(self, job_id: str, vertex_id: str) -> list[dict[str, Any]]:
        """``[{"id": "<subtask>.currentInputWatermark", "value": "<epoch ms>"}, ...]`` of one vertex."""
        return list(self._request("GET", f"/jobs/{job_id}/vertices/{vertex_id}/watermarks"))

    def min_watermark(self, job_id: str, vertices: list[dict[str, Any]] | None = None) -> int | None:
        """The job's smallest ``currentInputWatermark`` (epoch ms) over every vertex and subtask (what
        the slowest operator has seen); None before the first watermark (Flink reports
        ``Long.MIN_VALUE`` then). ``vertices`` from :meth:`job` saves one request when known."""
        marks: list[int] = []
        for v in vertices if vertices is not None else list(self.job(job_id).get("vertices", [])):
            for m in self.vertex_watermarks(job_id, v["id"]):
                try:
                    value = int(float(m.get("value", "")))
                except ValueError:
                    continue
                if value > 0:  # Long.MIN_VALUE: no watermark yet
                    marks.append(value)
        return min(marks) if marks else None

    def subtask_metrics(
        self, job_id: str, vertex_id: str, names: list[str] | None = None, agg: str = "min,max,sum"
    ) -> list[dict[str, Any]]:
        """Metric ids of one vertex (``names`` None), or their values aggregated over subtasks."""
        path = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
        if names:
            from urllib.parse import quote

            path += f"?get={quote(','.join(names), safe=',')}&agg={agg}"
        return list(self._request("GET", path))

    def cancel(self, job_id: str) -> None:
        self._request("PATCH", f"/jobs/{job_id}?mode=cancel")

    def savepoint(self, job_id: str, target: str | None = None, cancel: bool = False, timeout: float = 120.0) -> str:
        """Take a savepoint (and cancel the job if asked); returns its location. It goes to
        ``target``, else ``flink.savepoints_dir``, else the cluster's own savepoint folder (the REST
        API does not read a job's configured savepoint folder)."""
        body: dict[str, Any] = {"cancel-job": cancel, "formatType": "CANONICAL"}
        target = target or self.config.flink.savepoints_dir or None
        if target:
            body["target-directory"] = target
        trigger = self._request("POST", f"/jobs/{job_id}/savepoints", body)["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self._request("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if st.get("status", {}).get("id") == "COMPLETED":
                op = st.get("operation", {})
                if "failure-cause" not in op:
                    return str(op["location"])
                trace = str(op["failure-cause"].get("stack-trace", ""))
                if _TASKS_NOT_RUNNING not in trace:
                    raise FlinkError(f"savepoint failed: {trace[:1500]}")
                # a job just RUNNING may still be deploying its tasks (or restarting them): try again
                time.sleep(1.0)
                trigger = self._request("POST", f"/jobs/{job_id}/savepoints", body)["request-id"]
                continue
            time.sleep(0.5)
        raise FlinkError(f"savepoint of job {job_id} did not complete within {timeout:.0f}s")

    def wait_for_state(self, job_id: str, states: tuple[str, ...], timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            state = self.job(job_id).get("state", "?")
            if state in states:
                return str(state)
            if state in ("FAILED",) and "FAILED" not in states:
                raise FlinkError(f"job {job_id} failed: {self.exceptions(job_id)}")
            time.sleep(0.5)
        raise FlinkError(f"job {job_id} is {state}, not {'/'.join(states)}, after {timeout:.0f}s")

    def progress(self, job_id: str) -> JobProgress:
        """How far a job is, from ``GET /jobs/<id>``: its state, elapsed time, and the records its
        source vertices emitted (``records_read``) and its sink vertices received (``records_written``)."""
        return JobProgress.from_rest(self.job(job_id))

    def wait_until_done(
        self,
        job_id: str,
        *,
        on_progress: Callable[[JobProgress], None] | None = None,
        interval: float = 1.0,
        timeout: float = 3600.0,
    ) -> JobProgress:
        """Poll a (batch or bounded) job until it finishes, reporting each poll to ``on_progress``;
        returns the final progress. A job that fails or is cancelled raises :class:`FlinkError` with
        Flink's root exception; one still running after ``timeout`` seconds is cancelled and raises."""
        deadline = time.monotonic() + timeout
        while True:
            prog = self.progress(job_id)
            if on_progress is not None:
                on_progress(prog)
            if prog.state == "FINISHED":
                return prog
            if prog.state in ("FAILED", "CANCELED", "CANCELLING"):
                raise FlinkError(f"job {prog.name or job_id} {prog.state.lower()}: {self.exceptions(job_id)}")
            if time.monotonic() > deadline:
                self.cancel(job_id)
                raise FlinkError(
                    f"job {prog.name or job_id} still {prog.state} after {timeout:.0f}s; cancelled it",
                    hint="give it more time, or a smaller input (--start/--end)",
                )
            time.sleep(interval)

    def exceptions(self, job_id: str) -> str:
        try:
            exc = self._request("GET", f"/jobs/{job_id}/exceptions")
        except FlinkError as e:
            return str(e)
        root = exc.get("root-exception") or ""
        if not root and exc.get("exceptionHistory", {}).get("entries"):
            root = exc["exceptionHistory"]["entries"][0].get("stacktrace", "")
        return str(root)[:3000]

    # ------------------------------------------------------------------ submission

    def submit(
        self, spec: dict[str, Any], *, savepoint: str | None = None, wait: bool = False, timeout: float = 300.0
    ) -> str:
        """Submit one job spec; returns the Flink job id or raises :class:`FlinkError`."""
        (result,) = self.submit_many(
            [spec], restore={spec["name"]: savepoint} if savepoint else None, wait=wait, timeout=timeout
        )
        if result.job_id is None:
            raise FlinkError(result.error or f"submitting {spec['name']} failed")
        return result.job_id

    def submit_many(
        self,
        specs: list[dict[str, Any]],
        *,
        restore: dict[str, str] | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> list[Submitted]:
        """Submit job specs with ONE ``flink run -pym`` (one client start-up); each spec stays its own
        Flink job. ``restore`` maps a spec's name to the savepoint or retained checkpoint it resumes
        from, passed in that job's own configuration (``execution.state-recovery.path``). Returns one
        :class:`Submitted` per spec, in order: a job id, or the error of that spec alone.

        The spec files hold references in place of secrets (:func:`featurestream.secrets.seal`); their
        values reach the runner only through the ``flink run`` process's environment.
        """
        from featurestream.stack.flink import client_env, flink_home
        from featurestream.stack.jars import require_jars

        if not specs:
            return []
        require_jars(self.config.jars_path, "flink")  # the client plans every job with the connectors
        secrets = config_secrets(self.config.redis.url, self.config.kafka.properties)
        specs_dir = self.config.state_path / "jobs"
        specs_dir.mkdir(parents=True, exist_ok=True)
        url = urlparse(self.rest_url)
        cmd = ["bash", str(flink_home() / "bin" / "flink"), "run", "-m", f"{url.hostname}:{url.port or 8081}"]
        if not wait:
            cmd.append("-d")
        cmd += ["-pym", RUNNER_MODULE]
        env = client_env(self.config, self.rest_url)
        for spec in specs:
            path = (restore or {}).get(spec["name"])
            if path:
                spec = {**spec, "config": {**spec.get("config", {}), RESTORE_KEY: path}}
            sealed, secret_env = seal(spec, secrets)
            spec_path = specs_dir / f"{spec['name']}.json"
            spec_path.write_text(json.dumps(sealed, indent=1))
            cmd += ["--spec", str(spec_path)]
            env.update(secret_env)
        if wait:
            cmd.append("--wait")
        if timeout is None:  # the client starts once; each further job costs a few seconds of planning
            timeout = 300.0 + 60.0 * (len(specs) - 1)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise FlinkError(
                f"submitting {', '.join(s['name'] for s in specs)} did not finish within {timeout:.0f}s",
                hint="check the Flink cluster ('featurestream jobs list') and the client log under "
                f"{self.config.state_path / 'flink-client' / 'log'}",
            ) from exc
        out = redact(proc.stdout + proc.stderr, secrets)
        return parse_results([s["name"] for s in specs], out, proc.returncode)


@dataclass(frozen=True)
class JobProgress:
    """One poll of a job (``GET /jobs/<id>``, vertex metrics summed over subtasks; Flink refreshes
    them about every second).

    ``records_read``: records read by its busiest source vertex. A job reads one source, but a batch
    plan may scan it once per branch (the view's rows and the dead letters), so the scans are not
    summed. ``records_final``: records that reached its
    final stage (the vertices feeding no other; in a windowed view that is the input of the final
    aggregation, not yet the rows written). ``stages_done``/``stages``: finished vertices of those
    known so far (a batch job's graph grows while it runs).
    """

    job_id: str
    name: str
    state: str
    elapsed_s: float
    records_read: int
    records_final: int
    stages_done: int
    stages: int

    @property
    def done(self) -> bool:
        return self.state in ("FINISHED", "FAILED", "CANCELED")

    @classmethod
    def from_rest(cls, job: dict[str, Any]) -> JobProgress:
        vertices = job.get("vertices", [])
        nodes = job.get("plan", {}).get("nodes", [])
        feeding = {i.get("id") for n in nodes for i in n.get("inputs", [])}
        with_input = {n.get("id") for n in nodes if n.get("inputs")}
        read = final = 0
        for v in vertices:
            m = v.get("metrics", {})
            if v.get("id") not in with_input:  # a source vertex counts what its reader produced
                read = max(read, int(m.get("read-records", 0) or 0) or int(m.get("write-records", 0) or 0))
            elif v.get("id") not in feeding:
                final += int(m.get("read-records", 0) or 0)
        return cls(
            job_id=str(job.get("jid", "")),
            name=str(job.get("name", "")),
            state=str(job.get("state", "?")),
            elapsed_s=max(0.0, float(job.get("duration", 0) or 0) / 1000.0),
            records_read=read,
            records_final=final,
            stages_done=sum(1 for v in vertices if v.get("status") == "FINISHED"),
            stages=len(vertices),
        )


@dataclass(frozen=True)
class Submitted:
    """The outcome of one spec of a submission: its Flink job id, or why it failed."""

    name: str
    job_id: str | None
    error: str | None = None


def parse_results(names: list[str], out: str, returncode: int) -> list[Submitted]:
    """One :class:`Submitted` per name from the client's output: the runner's result line of that
    spec, else (the client failed before or around the runner) the whole output's trimmed error."""
    from featurestream.jobs.runner import RESULT_PREFIX

    found: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        at = line.find(RESULT_PREFIX)
        if at < 0:
            continue
        try:
            doc = json.loads(line[at + len(RESULT_PREFIX) :])
        except ValueError:
            continue
        found[str(doc.get("name"))] = doc
    results = []
    for name in names:
        doc = found.get(name)
        if doc is not None and doc.get("job_id"):
            results.append(Submitted(name, str(doc["job_id"])))
        elif doc is not None and doc.get("error"):
            results.append(Submitted(name, None, f"submitting {name} failed: {_trim(str(doc['error']), keep=20)}"))
        else:
            m = re.search(r"JobID ([0-9a-f]{32})", out) if len(names) == 1 and returncode == 0 else None
            if m is not None:  # a runner without result lines (an older installed runtime)
                results.append(Submitted(name, m.group(1)))
            else:
                results.append(Submitted(name, None, f"submitting {name} failed (exit {returncode}):\n{_trim(out)}"))
    return results


def _trim(out: str, keep: int = 60) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    caused = [ln for ln in lines if "Caused by" in ln or "Exception" in ln or "Error" in ln]
    return "\n".join([*caused[-12:], "...", *lines[-keep:]] if caused else lines[-keep:])
