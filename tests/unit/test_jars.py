"""Jar resolution honours the user's own Maven settings (a company mirror or proxy): ours are passed
as the global settings, which Maven merges under the user's ~/.m2/settings.xml."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from featurestream.errors import StackError
from featurestream.stack import jars


def test_our_settings_are_global_so_the_users_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "offline")

    monkeypatch.setattr(jars.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(jars.subprocess, "run", run)
    with pytest.raises(StackError, match="fix: check network access to Maven Central"):
        jars.ensure_jars(tmp_path / "jars", quiet=True)
    (cmd,) = calls
    assert cmd[cmd.index("-gs") + 1] == str(jars.SETTINGS)
    assert "-s" not in cmd  # -s would replace ~/.m2/settings.xml instead of merging under it


def test_jars_are_cached_once_per_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from featurestream.config import load_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a = load_config(tmp_path / "repo_a", env={})
    b = load_config(tmp_path / "repo_b", env={})
    assert a.jars_path == b.jars_path == tmp_path / "cache" / "featurestream" / "jars"
    (tmp_path / "repo_c").mkdir()
    (tmp_path / "repo_c" / "featurestream.yaml").write_text("stack:\n  jars_dir: vendor/jars\n")
    assert load_config(tmp_path / "repo_c", env={}).jars_path == (tmp_path / "repo_c" / "vendor" / "jars").resolve()


def test_own_format_jar_is_keyed_by_its_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "java"
    (src / "src" / "main").mkdir(parents=True)
    (src / "pom.xml").write_text("<project/>")
    (src / "src" / "main" / "A.java").write_text("class A {}")
    builds: list[list[str]] = []

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        builds.append(cmd)
        build_dir = Path(next(a for a in cmd if a.startswith("-Dbuild.dir=")).split("=", 1)[1])
        (build_dir / "featurestream-java.jar").write_bytes(b"jar")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(jars.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(jars.subprocess, "run", run)
    jars_dir = tmp_path / "jars"
    assert jars.ensure_format_jar(jars_dir, quiet=True, src=src)
    first = jars.format_jar(jars_dir, src)
    assert first.read_bytes() == b"jar" and first.parent == jars_dir / "featurestream-java"
    assert not jars.ensure_format_jar(jars_dir, quiet=True, src=src), "same sources: nothing to build"
    assert len(builds) == 1
    cmd = builds[0]
    assert cmd[cmd.index("-gs") + 1] == str(jars.SETTINGS) and cmd[cmd.index("-f") + 1] == str(src / "pom.xml")

    (src / "src" / "main" / "A.java").write_text("class A { int x; }")
    assert jars.ensure_format_jar(jars_dir, quiet=True, src=src), "a changed source is rebuilt"
    second = jars.format_jar(jars_dir, src)
    assert second != first and second.exists() and not first.exists(), "the stale jar is removed"


def test_own_format_jar_build_failure_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "java"
    (src / "src").mkdir(parents=True)
    (src / "pom.xml").write_text("<project/>")
    monkeypatch.setattr(jars.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(
        jars.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "[ERROR] compile")
    )
    with pytest.raises(StackError, match="could not build featurestream's Java format"):
        jars.ensure_format_jar(tmp_path / "jars", quiet=True, src=src)
    assert not list((tmp_path / "jars").rglob("*.jar"))


def test_the_shipped_java_module_is_found() -> None:
    src = jars.java_sources()
    assert (src / "pom.xml").is_file()
    assert list((src / "src").rglob("*FormatFactory.java"))
