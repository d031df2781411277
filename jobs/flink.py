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
from typing import Any
from urllib.parse import urlparse

from featurestream.config import Config
from featurestream.errors import FeatureStreamError
from featurestream.secrets import config_secrets, redact, seal

__all__ = ["FlinkClient", "FlinkError"]


# The job's entry point, run as a module by the client's Python (``flink run -pym``): no file path
# of the submitting machine is named, so none reaches the job's configuration.
RUNNER_MODULE = "featurestream.jobs.runner"


class FlinkError(FeatureStreamError):
    """The Flink cluster refused or failed a request."""


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
                if "failure-cause" in op:
                    raise FlinkError(f"savepoint failed: {op['failure-cause'].get('stack-trace', '')[:1500]}")
                return str(op["location"])
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
        """Submit a job spec with ``flink run -pym``; returns the Flink job id.

        The spec file holds references in place of secrets (:func:`featurestream.secrets.seal`); their
        values reach the runner only through the ``flink run`` process's environment.
        """
        from featurestream.stack.flink import client_env, flink_home

        secrets = config_secrets(self.config.redis.url, self.config.kafka.properties)
        sealed, secret_env = seal(spec, secrets)
        specs_dir = self.config.state_path / "jobs"
        specs_dir.mkdir(parents=True, exist_ok=True)
        spec_path = specs_dir / f"{spec['name']}.json"
        spec_path.write_text(json.dumps(sealed, indent=1))
        url = urlparse(self.rest_url)
        cmd = ["bash", str(flink_home() / "bin" / "flink"), "run", "-m", f"{url.hostname}:{url.port or 8081}"]
        if not wait:
            cmd.append("-d")
        if savepoint:
            cmd += ["-s", savepoint]
        cmd += ["-pym", RUNNER_MODULE, "--spec", str(spec_path)]
        if wait:
            cmd.append("--wait")
        env = client_env(self.config, self.rest_url)
        env.update(secret_env)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        out = redact(proc.stdout + proc.stderr, secrets)
        m = re.search(r"JobID ([0-9a-f]{32})", out) or re.search(r"submitted as ([0-9a-f]{32})", out)
        if proc.returncode != 0 or m is None:
            raise FlinkError(f"submitting {spec['name']} failed (exit {proc.returncode}):\n{_trim(out)}")
        return m.group(1)


def _trim(out: str, keep: int = 60) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    caused = [ln for ln in lines if "Caused by" in ln or "Exception" in ln or "Error" in ln]
    return "\n".join([*caused[-12:], "...", *lines[-keep:]] if caused else lines[-keep:])
