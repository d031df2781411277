"""The entrypoint scripts (featurestream/entrypoints) on their own: what flink.sh hands to Flink's
foreground scripts, what api.sh runs, and the one-line errors of a broken runtime. Flink and the
API are stand-ins that print their arguments; the real ones run these scripts in the integration
tests (the local stack's Flink) and in bench/serving_scale.py (the API)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurestream import entrypoints

ECHO = '#!/usr/bin/env bash\nfor a in "$@"; do echo "arg:$a"; done\n'


def _fake_flink(tmp_path: Path) -> Path:
    home = tmp_path / "flink"
    (home / "bin").mkdir(parents=True)
    (home / "conf").mkdir()
    (home / "conf" / "config.yaml").write_text("rest.port: 8081\n")
    for role in ("jobmanager", "taskmanager"):
        (home / "bin" / f"{role}.sh").write_text(ECHO)
    return home


def _run(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FLINK", "FEATURESTREAM", "JOB_MANAGER"))}
    return subprocess.run(
        ["bash", str(entrypoints.script(script)), *args], env={**base, **env}, capture_output=True, text=True
    )


def test_flink_sh_hands_featurestream_settings_to_the_foreground_script(tmp_path: Path) -> None:
    home = _fake_flink(tmp_path)
    props = "jobmanager.rpc.address: jobmanager\n  taskmanager.numberOfTaskSlots: 4\n# a comment\n\ns3.endpoint: http://minio:9000\n"
    env = {
        "FLINK_HOME": str(home),
        "FEATURESTREAM_PYTHON": sys.executable,
        "FLINK_PROPERTIES": props,
        "JOB_MANAGER_RPC_ADDRESS": "jm-0",
    }
    res = _run("flink", ["taskmanager", "-D", "x=y"], env)
    assert res.returncode == 0, res.stderr
    args = [ln[4:] for ln in res.stdout.splitlines() if ln.startswith("arg:")]
    assert args[0] == "start-foreground"
    dyn = dict(args[i + 1].split("=", 1) for i in range(1, len(args) - 1, 2) if args[i] == "-D")
    assert dyn["python.executable"] == dyn["python.client.executable"] == sys.executable
    assert dyn["jobmanager.rpc.address"] == "jobmanager"  # FLINK_PROPERTIES comes after the address variable
    assert dyn["taskmanager.numberOfTaskSlots"] == "4" and dyn["s3.endpoint"] == "http://minio:9000"
    assert dyn["x"] == "y"  # the caller's own arguments pass through
    assert f"conf {home}/conf, plugins {home}/plugins" in res.stdout


def test_flink_sh_refuses_a_runtime_without_pyflink_or_featurestream(tmp_path: Path) -> None:
    home = _fake_flink(tmp_path)
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "pyflink featurestream.jobs.runner"\n')
    python.chmod(0o755)
    res = _run("flink", ["jobmanager"], {"FLINK_HOME": str(home), "FEATURESTREAM_PYTHON": str(python)})
    assert res.returncode == 1 and "arg:" not in res.stdout
    assert "cannot import: pyflink featurestream.jobs.runner" in res.stderr and "fix:" in res.stderr
    res = _run("flink", ["jobmanager"], {"FLINK_HOME": str(home), "FEATURESTREAM_PYTHON": str(tmp_path / "nope")})
    assert res.returncode == 1 and "is not an executable" in res.stderr
    res = _run(
        "flink",
        ["jobmanager"],
        {"FLINK_HOME": str(home), "FEATURESTREAM_PYTHON": sys.executable, "FLINK_PROPERTIES": "no colon"},
    )
    assert res.returncode == 1 and "'no colon' is not 'key: value'" in res.stderr


def test_flink_sh_passes_other_commands_through(tmp_path: Path) -> None:
    home = _fake_flink(tmp_path)
    res = _run("flink", ["echo", "hello"], {"FLINK_HOME": str(home), "FEATURESTREAM_PYTHON": sys.executable})
    if Path("/docker-entrypoint.sh").exists():  # pragma: no cover - only inside the image
        pytest.skip("the official image's entrypoint handles pass-through here")
    assert res.returncode == 0 and res.stdout.strip() == "hello"


def test_api_sh_serves_the_repo_with_one_worker(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "featurestream"
    fake.write_text(ECHO)
    fake.chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FEATURESTREAM_REPO": str(repo)}
    res = _run("api", ["--insecure"], env)
    assert res.returncode == 0, res.stderr
    args = [ln[4:] for ln in res.stdout.splitlines() if ln.startswith("arg:")]
    assert args == ["--repo", str(repo), "serve", "--host", "0.0.0.0", "--workers", "1", "--insecure"]
    res = _run("api", [], {**env, "FEATURESTREAM_SERVING_HOST": "127.0.0.1"})
    assert "127.0.0.1" in res.stdout
    res = _run("api", ["featurestream", "apply"], env)  # another command runs instead
    assert [ln[4:] for ln in res.stdout.splitlines()] == ["apply"]
    res = _run("api", [], {**env, "FEATURESTREAM_REPO": str(tmp_path / "missing")})
    assert res.returncode == 1 and "is not a directory" in res.stderr
