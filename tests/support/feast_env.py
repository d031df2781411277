"""A separate virtual environment holding the real Feast SDK, for the Feast-compatibility tests.

Feast needs a newer pyarrow than PyFlink allows, so it cannot live in the project's venv. The venv
is cached like the jars: ``<state_dir>/feast-venv-<version>``, created once (built under a temporary
name and renamed when pip succeeded, so an interrupted install is never mistaken for a good one).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["FEAST_VERSION", "FeastVenvError", "ensure_feast_venv"]

FEAST_VERSION = "0.67.0"
_MARKER = ".featurestream-installed"


class FeastVenvError(RuntimeError):
    """pip could not install the pinned Feast; carries the tail of pip's output."""


def ensure_feast_venv(state_dir: Path, version: str = FEAST_VERSION, *, timeout_s: float = 1500.0) -> Path:
    """The python executable of a venv with ``feast==version``; creates the venv when missing."""
    target = state_dir / f"feast-venv-{version}"
    python = target / "bin" / "python"
    marker = target / _MARKER
    if marker.exists() and marker.read_text().strip() == version:
        return python
    building = state_dir / f".feast-venv-{version}.building"
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, timeout=120)
    proc = subprocess.run(
        [str(building / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", f"feast=={version}"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise FeastVenvError(
            f"pip install feast=={version} into {building} failed (exit {proc.returncode}):\n"
            + (proc.stdout + proc.stderr)[-3000:]
        )
    (building / _MARKER).write_text(version)
    building.rename(target)  # venv scripts use absolute paths: fix them for the final location
    for script in (target / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            try:
                text = script.read_text()
            except UnicodeDecodeError:
                continue
            if str(building) in text:
                script.write_text(text.replace(str(building), str(target)))
    return python
