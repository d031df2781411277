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
