"""The registry file (issue 15 item 4): concurrent writers in separate processes never lose an
update, a write is all or nothing, and a corrupt file names itself and the way back (.prev)."""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestream.cli.main import main
from featurestream.registry import Registry
from featurestream.registry_file import CorruptRegistry, prev_path
from tests.support.registry import demo_views

WRITERS = 8


def _register_one(path: str, i: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    """One 'apply' of its own view: opens the registry first (as apply does before planning), then
    waits until every writer has it open, then saves."""
    reg = Registry(path)
    base = next(v for v in demo_views("t") if v.name == "user_clicks_10m")
    view = replace(base, name=f"view_{i}", sql=base.sql.replace("user_clicks_10m", f"view_{i}"))
    barrier.wait(timeout=60)
    reg.save(views=[view], lineage={f"t/view_{i}@1": {"writer": i}})


def test_concurrent_writers_in_separate_processes_never_lose_an_update(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_register_one, args=(str(path), i, barrier)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    reg = Registry(path)
    assert sorted(v.name for v in reg.views("t")) == sorted(f"view_{i}" for i in range(WRITERS))
    assert reg.revision == WRITERS
    assert sorted(reg.lineage()) == sorted(f"t/view_{i}@1" for i in range(WRITERS))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_stale_registry_object_merges_what_another_writer_saved(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    views = demo_views("t")
    first, second = Registry(path), Registry(path)
    first.save(views=views[:1])
    second.save(views=views[1:2])  # opened before ``first`` saved
    assert {v.name for v in Registry(path).views("t")} == {views[0].name, views[1].name}


def test_every_write_keeps_the_previous_good_copy(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    views = demo_views("t")
    reg = Registry(path)
    reg.save(views=views[:1])
    assert not prev_path(path).exists()  # nothing to keep before the first write
    reg.save(views=views[1:2])
    assert json.loads(prev_path(path).read_text())["revision"] == 1
    assert json.loads(path.read_text())["revision"] == 2


def test_a_crash_during_the_write_leaves_the_old_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "registry.json"
    views = demo_views("t")
    reg = Registry(path)
    reg.save(views=views[:1])
    before = path.read_text()
    real_replace = os.replace

    def crash_on_registry(src: str, dst: str | Path) -> None:
        if Path(dst) == path:
            raise OSError("simulated crash before the rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_registry)
    with pytest.raises(OSError, match="simulated crash"):
        reg.save(views=views[1:2])
    assert path.read_text() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("garbage", ['{"views": [', "[1, 2]", '{"views": [{"name": "x"}]}'])
def test_a_corrupt_registry_names_the_file_and_the_way_back(tmp_path: Path, garbage: str) -> None:
    path = tmp_path / "registry.json"
    views = demo_views("t")
    reg = Registry(path)
    reg.save(views=views[:1])
    reg.save(views=views[1:2])
    path.write_text(garbage)
    with pytest.raises(CorruptRegistry) as err:
        Registry(path)
    msg = str(err.value)
    assert str(path) in msg and "corrupt" in msg
    assert "featurestream registry restore" in msg and str(prev_path(path)) in msg
    # a write refuses to build on a corrupt file rather than silently dropping what it held
    with pytest.raises(CorruptRegistry):
        reg.save(views=views[2:3])


def test_cli_restore_puts_back_the_last_good_copy(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("namespace: t\nregistry_path: registry.json\n")
    path = tmp_path / "registry.json"
    views = demo_views("t")
    reg = Registry(path)
    reg.save(views=views[:1])
    reg.save(views=views[1:2])
    path.write_text("{ truncated")
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "ls"])
    assert result.exit_code == 1 and "featurestream registry restore" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "registry", "restore"])
    assert result.exit_code == 0, result.output
    assert "revision 1" in result.output
    assert [v.name for v in Registry(path).views("t")] == [views[0].name]


def test_cli_restore_without_a_previous_copy_says_so(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("namespace: t\nregistry_path: registry.json\n")
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "registry", "restore"])
    assert result.exit_code == 1
    assert "no previous registry to restore" in result.output and "registry.json.prev" in result.output
