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
