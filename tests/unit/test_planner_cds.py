"""The planner JVM's class archive (``jobs/planner_cds.py``, issue 14 target 7): found by a key of the
JVM and the jars, used only when complete, built atomically, and never the reason a planner fails to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from featurestream.config import Config, load_config
from featurestream.jobs import planner, planner_cds


def _config(tmp_path: Path, jars: Path, **stack: object) -> Config:
    (tmp_path / "featurestream.yaml").write_text("stack:\n" + "".join(f"  {k}: {v}\n" for k, v in stack.items()))
    return load_config(tmp_path, env={"FEATURESTREAM__STACK__JARS_DIR": str(jars)})


def _jars(tmp_path: Path) -> Path:
    jars = tmp_path / "jars"
    (jars / "flink").mkdir(parents=True)
    (jars / "flink" / "connector.jar").write_bytes(b"jar")
    return jars


def _install(path: Path, data: bytes = b"archive") -> None:
    """An archive as ensure_archive leaves it: the file and its recorded size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(path.name + ".size").write_text(str(len(data)))


def test_the_key_follows_the_jars(tmp_path: Path) -> None:
    jars = _jars(tmp_path)
    config = _config(tmp_path, jars)
    first = planner_cds.archive_file(config)
    assert first.parent == jars / "planner-cds" and first.name.startswith("planner-")
    assert planner_cds.archive_file(config) == first, "same JVM and jars: same archive"
    (jars / "flink" / "connector.jar").write_bytes(b"a newer jar")
    assert planner_cds.archive_file(config) != first, "a changed jar needs a new archive"


def test_only_a_complete_archive_is_used(tmp_path: Path) -> None:
    config = _config(tmp_path, _jars(tmp_path))
    assert planner_cds.jvm_args(config) == [], "not built"
    path = planner_cds.archive_file(config)
    _install(path)
    args = planner_cds.jvm_args(config)
    assert f"-XX:SharedArchiveFile={path}" in args and "-Xlog:cds*=off" in args
    path.write_bytes(b"arch")  # cut short (a partial copy): Java 17 would crash on it
    assert planner_cds.jvm_args(config) == []
    _install(path)
    assert planner_cds.jvm_args(_config(tmp_path, config.jars_path, planner_cds="false")) == [], "turned off"


def test_a_planner_jvm_that_dies_on_the_archive_starts_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, _jars(tmp_path))
    path = planner_cds.archive_file(config)
    _install(path)
    calls: list[list[str]] = []

    def start(args: list[str]) -> int:
        calls.append(args)
        if any(a.startswith("-XX:SharedArchiveFile") for a in args):
            raise RuntimeError("Java gateway process exited before sending its port number.")
        return 4242

    monkeypatch.setattr(planner, "start_gateway", start)
    assert planner._gateway_port(config) == 4242
    assert len(calls) == 2 and not any(a.startswith("-XX:SharedArchiveFile") for a in calls[1])
    assert not path.exists() and path.with_suffix(".bad").exists(), "moved aside, not used again"
    assert planner._gateway_port(config) == 4242 and len(calls) == 3, "the next start goes straight without"


def test_a_jvm_that_does_not_start_at_all_keeps_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own JVM_ARGS (say) break every start: that is raised, and the archive is not blamed."""
    config = _config(tmp_path, _jars(tmp_path))
    path = planner_cds.archive_file(config)
    _install(path)

    def start(args: list[str]) -> int:
        raise RuntimeError("Java gateway process exited before sending its port number.")

    monkeypatch.setattr(planner, "start_gateway", start)
    with pytest.raises(RuntimeError, match="exited before"):
        planner._gateway_port(config)
    assert planner_cds.jvm_args(config), "still there"


def test_the_archive_is_installed_only_after_both_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jars = _jars(tmp_path)
    config = _config(tmp_path, jars)
    # other keys' archives (other checkouts' venvs share the jar cache): the newest KEEP_OTHERS stay
    others = [jars / "planner-cds" / f"planner-{i:016d}.jsa" for i in range(planner_cds.KEEP_OTHERS + 1)]
    for age, other in enumerate(others):
        _install(other)
        os.utime(other, (1_000_000 - age * 1000, 1_000_000 - age * 1000))  # others[0] the newest
    (jars / "planner-cds" / "planner-0000000000000000.bad").write_bytes(b"damaged")
    stale = others[-1]
    steps: list[str] = []

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        step, out = cmd[-3], Path(cmd[-2])
        steps.append(step)
        assert kw["env"].get("JVM_ARGS") is None, "the user's planner flags are not the archive's"
        if step == "dump":
            out.write_bytes(b"x" * 100)
            return subprocess.CompletedProcess(cmd, 0, "", "")
        assert not planner_cds.jvm_args(config), "not in place before it is checked"
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setenv("JVM_ARGS", "-Xmx1g")
    path = planner_cds.ensure_archive(config)
    assert steps == ["dump", "check"] and path == planner_cds.archive_file(config)
    assert planner_cds.jvm_args(config) and path.stat().st_size == 100
    assert not stale.exists() and not Path(str(stale) + ".size").exists(), "the oldest other archive is removed"
    assert all(o.exists() for o in others[:-1]), "the newest archives of other jars stay (other checkouts)"
    assert planner_cds.ensure_archive(config) is None and steps == ["dump", "check"], "built: nothing to do"
    kept = [p for o in others[:-1] for p in (o.name, o.name + ".size")]
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.name + ".size", *kept])


def test_a_failed_check_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, _jars(tmp_path))

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        step, out = cmd[-3], Path(cmd[-2])
        if step == "dump":
            out.write_bytes(b"x" * 100)
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return subprocess.CompletedProcess(cmd, 1, "", "Error occurred during initialization of VM\nbad archive")

    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(RuntimeError, match=r"failed at check: .*bad archive"):
        planner_cds.ensure_archive(config)
    assert list((config.jars_path / "planner-cds").iterdir()) == [], "no partial file left behind"


@pytest.mark.slow
def test_a_damaged_archive_does_not_break_the_planner(tmp_path: Path) -> None:
    """A real JVM on a damaged archive whose recorded size still matches (Java 17 crashes on it, SIGBUS):
    the planner starts without it and moves it aside; the crash report is not left in the user's folder."""
    real = load_config(Path(__file__).resolve().parents[2])
    jars = tmp_path / "jars"  # the real jars under another path: another key, so the user's archive is untouched
    jars.mkdir()
    for sub in ("flink", "featurestream-java", "kafka", "flink-plugins"):
        if (real.jars_path / sub).exists():
            (jars / sub).symlink_to(real.jars_path / sub)
    script = f"""
import os, subprocess, sys
from pathlib import Path
from pyflink.pyflink_gateway_server import (
    construct_flink_classpath, construct_hadoop_classpath, prepare_environment_variables)
from featurestream.config import load_config
from featurestream.jobs import planner_cds
from featurestream.jobs.planner import FlinkPlanner
config = load_config(Path({str(tmp_path)!r}), env={{"FEATURESTREAM__STACK__JARS_DIR": {str(jars)!r}}})
path = planner_cds.archive_file(config)
path.parent.mkdir(parents=True)
env = dict(os.environ); prepare_environment_variables(env)
cp = os.pathsep.join([construct_flink_classpath(env), construct_hadoop_classpath(env)])
subprocess.run(["java", f"-XX:ArchiveClassesAtExit={{path}}", "-Xlog:cds*=off", "-cp", cp,
                "org.apache.flink.runtime.util.bash.BashJavaUtils"], capture_output=True, check=False)
data = path.read_bytes()
path.write_bytes(data[: len(data) // 3])
path.with_name(path.name + ".size").write_text(str(len(data) // 3))
FlinkPlanner(config)
print("planner started;", "moved aside" if path.with_suffix(".bad").exists() else "still there")
"""
    env = {k: v for k, v in os.environ.items() if k != "JVM_ARGS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("planner started; moved aside"), done.stdout
    assert not list(tmp_path.glob("hs_err*")), "the crash report stays beside the archive"
