"""Jar resolution honours the user's own Maven settings (a company mirror or proxy): ours are passed
as the global settings, which Maven merges under the user's ~/.m2/settings.xml."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from featurestream.errors import StackError
from featurestream.stack import jars


class _FakeMaven:
    """Stands in for ``subprocess.Popen`` of ``mvn``: records the command, replays ``lines``."""

    calls: list[list[str]] = []
    lines: list[str] = []
    returncode = 1

    def __init__(self, cmd: list[str], **kw: Any) -> None:
        type(self).calls.append(cmd)
        self.stdout = iter(type(self).lines)

    def __enter__(self) -> _FakeMaven:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _fake_maven(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> type[_FakeMaven]:
    fake = type("Maven", (_FakeMaven,), {"calls": [], "lines": lines})
    monkeypatch.setattr(jars.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(jars.subprocess, "Popen", fake)
    return fake


def test_our_settings_are_global_so_the_users_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_maven(monkeypatch, ["[ERROR] offline\n"])
    with pytest.raises(StackError, match=r"(?s)offline.*fix: check network access to Maven Central"):
        jars.ensure_jars(tmp_path / "jars", quiet=True)
    (cmd,) = fake.calls
    assert cmd[cmd.index("-gs") + 1] == str(jars.SETTINGS)
    assert "-s" not in cmd  # -s would replace ~/.m2/settings.xml instead of merging under it


def test_setup_reports_each_maven_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress of setup's downloads: files and bytes so far, from Maven's batch-mode lines."""
    _fake_maven(
        monkeypatch,
        [
            "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/a/a.pom\n",
            "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/a/a.pom (1.2 kB at 3.0 kB/s)\n",
            "[INFO] Building jars 1\n",
            "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/b/b.jar (3.4 MB at 9 MB/s)\n",
        ],
    )
    seen: list[tuple[int, int]] = []
    with pytest.raises(StackError):  # the fake resolves nothing
        jars.ensure_jars(tmp_path / "jars", quiet=True, on_download=lambda n, size: seen.append((n, size)))
    assert seen == [(1, 1200), (2, 3_401_200)]
    assert jars.downloaded_bytes("[INFO] BUILD SUCCESS") is None


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
