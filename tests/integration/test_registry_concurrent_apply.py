"""Two real ``featurestream apply`` processes at once on one registry file (issue 15 item 4).

Needs no services (Flink's planner runs in a local JVM) but starts two JVMs (~1-2 min), so it
lives with the integration tests that run in ``make test``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featurestream.config import load_config
from featurestream.registry import Registry
from tests.support.registry import REPO_ROOT

pytestmark = pytest.mark.integration


def _one_view_repo(root: Path, view: str, source: str, registry: Path) -> Path:
    (root / "sql" / "features").mkdir(parents=True)
    (root / "sql" / "sources").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "sql" / "features" / f"{view}.sql", root / "sql" / "features")
    shutil.copy(REPO_ROOT / "sql" / "sources" / f"{source}.sql", root / "sql" / "sources")
    jars_from = load_config(REPO_ROOT).state_path  # the planner needs the resolved connector jars
    (root / "featurestream.yaml").write_text(f"namespace: t\nregistry_path: {registry}\nstate_dir: {jars_from}\n")
    return root


def test_two_real_applies_at_once_both_register(tmp_path: Path) -> None:
    """Two ``featurestream apply`` processes (each with Flink's planner) on one registry file."""
    registry = tmp_path / "shared" / "registry.json"
    a = _one_view_repo(tmp_path / "a", "user_clicks_10m", "clicks", registry)
    b = _one_view_repo(tmp_path / "b", "card_spend_1h", "transactions", registry)
    cli = [str(Path(sys.executable).parent / "featurestream")]
    procs = [
        subprocess.Popen([*cli, "--repo", str(r), "apply"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in (a, b)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reg = Registry(registry)
    assert {v.name for v in reg.views("t")} == {"user_clicks_10m", "card_spend_1h"}
    assert {s["name"] for s in reg.sources("t")} == {"clicks", "transactions"}
    assert reg.revision == 2
