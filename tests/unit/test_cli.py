"""The CLI behaves the same everywhere: every command has --help with the exit codes, every command
that reports takes --json, and every command works on the group's -r/--repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from featurestream.cli import main
from tests.support.registry import demo_registry

# Commands whose output is not a report: serve runs a server, demo narrates a run.
NOT_REPORTING = {("serve",), ("demo",)}


def _walk(cmd: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            out += _walk(sub, (*path, name))
    return out


COMMANDS = _walk(main)
LEAVES = [(p, c) for p, c in COMMANDS if not isinstance(c, click.Group)]


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) or "featurestream" for p, _ in COMMANDS])
def test_every_command_has_help_with_the_exit_codes(path: tuple[str, ...], cmd: click.Command) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Exit codes: 0 ok, 1 error, 2 a check breached." in result.output
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_reporting_command_takes_json(path: tuple[str, ...], cmd: click.Command) -> None:
    if path in NOT_REPORTING:
        pytest.skip("not a reporting command")
    assert any("--json" in p.opts for p in cmd.params), f"{' '.join(path)} has no --json"
    assert "--json" in CliRunner().invoke(main, [*path, "--help"]).output


def test_no_command_has_its_own_visible_repo_option() -> None:
    for path, cmd in LEAVES:
        visible = [p for p in cmd.params if "--repo" in getattr(p, "opts", []) and not getattr(p, "hidden", False)]
        assert not visible, f"{' '.join(path)} shadows the group's -r/--repo"


def test_serve_uses_the_groups_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    (tmp_path / "featurestream.yaml").write_text("serving:\n  port: 7123\n  host: 127.0.0.9\n")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("FEATURESTREAM_SERVE_ROOT", "unset")
    monkeypatch.chdir(tmp_path.parent)
    result = CliRunner().invoke(main, ["-r", str(tmp_path), "serve"])
    assert result.exit_code == 0, result.output
    assert (calls[0]["host"], calls[0]["port"]) == ("127.0.0.9", 7123)
    import os

    assert os.environ["FEATURESTREAM_SERVE_ROOT"] == str(tmp_path.resolve())


def test_serve_runs_the_fast_http_path_unless_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from featurestream.api.server import ASGI_HTTP_PROTOCOL, FAST_HTTP_PROTOCOL

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("FEATURESTREAM_SERVE_ROOT", "unset")
    (tmp_path / "featurestream.yaml").write_text("namespace: t\n")
    assert CliRunner().invoke(main, ["-r", str(tmp_path), "serve"]).exit_code == 0
    (tmp_path / "featurestream.yaml").write_text("namespace: t\nserving:\n  http_fast_path: false\n")
    assert CliRunner().invoke(main, ["-r", str(tmp_path), "serve"]).exit_code == 0
    assert [c["http"] for c in calls] == [FAST_HTTP_PROTOCOL, ASGI_HTTP_PROTOCOL]
    assert all(c["loop"] == "uvloop" for c in calls)


def test_init_then_ls_and_export_feast_on_the_groups_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    runner = CliRunner()
    out = runner.invoke(main, ["-r", str(repo), "init", "--json"])
    assert out.exit_code == 0, out.output
    files = {Path(f).relative_to(repo).as_posix() for f in json.loads(out.output)["files"]}
    assert {"featurestream.yaml", "sql/sources/orders.sql", "udfs/orders.py", "README.md"} <= files

    again = runner.invoke(main, ["-r", str(repo), "init"])
    assert again.exit_code == 1 and "found featurestream.yaml" in again.output

    demo_registry(repo / ".featurestream" / "registry.json", "default")
    listed = runner.invoke(main, ["-r", str(repo), "ls", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {v["name"] for v in json.loads(listed.output)["views"]} >= {"card_spend_1h", "user_clicks_10m"}

    exported = runner.invoke(main, ["-r", str(repo), "export", "feast", str(tmp_path / "feast"), "--json"])
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.output)
    assert doc["url"] == "http://127.0.0.1:6566"
    assert "card_spend_1h@2" in doc["views"] and "fraud_model" in doc["services"]
    assert (tmp_path / "feast" / "feature_store.yaml").exists()


def test_errors_exit_1_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("serving:\n  port: not-a-port\n")
    result = CliRunner().invoke(main, ["-r", str(tmp_path), "ls"])
    assert result.exit_code == 1
    assert "serving.port" in result.output and "Traceback" not in result.output


def _dummy_args(cmd: click.Command, tmp_path: Path) -> list[str]:
    """Values for the command's required parameters that pass click's own checks."""
    existing = tmp_path / "input.jsonl"
    existing.write_text("{}\n")
    args: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        if isinstance(p.type, click.Choice):
            value = str(p.type.choices[0])
        elif isinstance(p.type, click.Path):
            value = str(existing) if p.type.file_okay else str(tmp_path / "out-dir")
        else:
            value = "x"
        args += [value] if isinstance(p, click.Argument) else [p.opts[0], value]
    return args


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_works_on_the_groups_repo(path: tuple[str, ...], cmd: click.Command, tmp_path: Path) -> None:
    """Run from elsewhere with -r naming a repo whose config is invalid: every command reads THAT repo
    (and stops at its config, before touching anything), none the current folder."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "featurestream.yaml").write_text("serving:\n  port: not-a-port\n")
    result = CliRunner().invoke(main, ["-r", str(repo), *path, *_dummy_args(cmd, tmp_path)])
    assert result.exit_code == 1, result.output
    if path == ("init",):  # init scaffolds the -r folder: it refuses one that already has a config
        assert "featurestream.yaml" in result.output and "empty folder" in result.output
    else:
        assert "serving.port" in result.output and str(repo / "featurestream.yaml") in result.output
