"""Submitting several views at once (issue 16 item 5): ONE ``flink run`` for every job, each spec its
own job with its own restore path in its own configuration, and one failing view never hides the
others. The Flink client and cluster are stand-ins here; tests/integration/test_job_submission_stack.py
runs the same path on a real cluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featurestream.cli import main
from featurestream.config import Config
from featurestream.definitions import parse_source
from featurestream.errors import RegistryError, StackError
from featurestream.jobs import flink as jobs_flink
from featurestream.jobs import runner
from featurestream.jobs.control import JobManager, ViewSubmission
from featurestream.jobs.flink import RESTORE_KEY, FlinkClient, JobProgress, Submitted, parse_results
from featurestream.jobs.restore import RestorePoint
from featurestream.naming import job_name
from tests.support.registry import REPO_ROOT, demo_registry, demo_views


def _spec(name: str) -> dict[str, Any]:
    return {"name": name, "mode": "streaming", "config": {"a": "1"}, "statements": [], "inserts": ["INSERT ..."]}


def _line(doc: dict[str, Any]) -> str:
    return runner.RESULT_PREFIX + json.dumps(doc)


# ---------------------------------------------------------------------------- the runner (cluster side)


def test_runner_runs_every_spec_and_reports_each_failure_on_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def fake_run(spec: dict[str, Any], wait: bool = False) -> str:
        ran.append(spec["name"])
        if spec["name"] == "b":
            raise ValueError("Column 'amout' not found")
        return f"id-{spec['name']}"

    monkeypatch.setattr(runner, "run", fake_run)
    results = runner.run_all([_spec("a"), _spec("b"), _spec("c")])
    assert ran == ["a", "b", "c"]  # b failing did not stop c
    assert results == [
        {"name": "a", "job_id": "id-a"},
        {"name": "b", "error": "ValueError: Column 'amout' not found"},
        {"name": "c", "job_id": "id-c"},
    ]
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(ln.removeprefix(runner.RESULT_PREFIX)) for ln in out] == results


def test_runner_main_takes_repeated_specs_and_exits_1_when_any_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for name in ("a", "b"):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(_spec(name)))
        paths += ["--spec", str(p)]
    seen: list[list[str]] = []

    def fake_run_all(specs: list[dict[str, Any]], wait: bool = False) -> list[dict[str, Any]]:
        seen.append([s["name"] for s in specs])
        return [{"name": s["name"], "job_id": "j"} for s in specs]

    monkeypatch.setattr(runner, "run_all", fake_run_all)
    assert runner.main(paths) == 0 and seen == [["a", "b"]]
    monkeypatch.setattr(runner, "run_all", lambda specs, wait=False: [{"name": "a", "error": "x"}])
    assert runner.main(paths) == 1


# ---------------------------------------------------------------------------- the client (submitting side)


def test_parse_results_gives_one_outcome_per_spec() -> None:
    out = "\n".join(
        [
            "some client log",
            _line({"name": "a", "job_id": "0" * 32}),
            "Traceback ...",
            _line({"name": "b", "error": "org.apache.flink.table.api.ValidationException: bad"}),
        ]
    )
    a, b, c = parse_results(["a", "b", "c"], out, 1)
    assert a == Submitted("a", "0" * 32)
    assert (
        b.job_id is None and "submitting b failed" in (b.error or "") and "ValidationException: bad" in (b.error or "")
    )
    assert c.job_id is None and "exit 1" in (c.error or "")  # no line of its own: the client's output


def test_submit_many_starts_one_client_and_restores_each_job_from_its_own_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"))
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        specs = [json.loads(Path(cmd[i + 1]).read_text()) for i, a in enumerate(cmd) if a == "--spec"]
        out = [_line({"name": s["name"], "job_id": f"{n:032x}"}) for n, s in enumerate(specs)]
        return subprocess.CompletedProcess(cmd, 0, "\n".join(out), "")

    monkeypatch.setattr(jobs_flink.subprocess, "run", fake_run)
    monkeypatch.setattr("featurestream.stack.jars.require_jars", lambda *a: None)
    results = FlinkClient(cfg).submit_many([_spec("a"), _spec("b"), _spec("c")], restore={"b": "file:/sp/b"})
    assert [r.job_id for r in results] == [f"{n:032x}" for n in range(3)]
    (cmd,) = calls  # ONE client start-up for three jobs
    assert cmd.count("--spec") == 3 and "-s" not in cmd and "-d" in cmd
    written = {n: json.loads((cfg.state_path / "jobs" / f"{n}.json").read_text()) for n in "abc"}
    assert written["b"]["config"] == {"a": "1", RESTORE_KEY: "file:/sp/b"}  # b's restore path, in b alone
    assert RESTORE_KEY not in written["a"]["config"] and RESTORE_KEY not in written["c"]["config"]
    assert RESTORE_KEY == "execution.state-recovery.path"  # Flink 2.x (execution.savepoint.path is deprecated)


def test_submitting_without_the_jars_says_run_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"), stack={"jars_dir": str(tmp_path / "none")})  # type: ignore[arg-type]
    monkeypatch.setattr(jobs_flink.subprocess, "run", lambda *a, **kw: pytest.fail("no client without jars"))
    with pytest.raises(StackError, match=r"found none\n  fix: run `featurestream setup`"):
        FlinkClient(cfg).submit_many([_spec("a")])
    with pytest.raises(StackError, match="run `featurestream setup`"):
        JobManager(cfg, registry=demo_registry(tmp_path / "registry.json")).submit_many(demo_views()[:1])


# ---------------------------------------------------------------------------- job control


class _FakeFlink:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def submit_many(self, specs: list[dict[str, Any]], *, restore: dict[str, str]) -> list[Submitted]:
        self.calls.append(([s["name"] for s in specs], dict(restore)))
        return [
            Submitted(s["name"], None, "submitting x failed: Flink said no")
            if "sessions" in s["name"]
            else Submitted(s["name"], f"id-{s['name']}")
            for s in specs
        ]


def _manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, running: dict[str, Any]) -> tuple[JobManager, _FakeFlink]:
    monkeypatch.setattr("featurestream.stack.jars.require_jars", lambda *a: None)
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"))
    jm = JobManager(cfg, registry=demo_registry(tmp_path / "registry.json"))
    fake = _FakeFlink()
    jm.flink = fake  # type: ignore[assignment]
    monkeypatch.setattr(jm, "running", lambda: running)
    monkeypatch.setattr(jm, "ensure_topics", lambda view, source: [])
    monkeypatch.setattr(jm, "_free_slots", lambda wanted: wanted)
    monkeypatch.setattr(jm, "source_of", _demo_source)
    monkeypatch.setattr(jm, "emit_guard", lambda view: None)  # nothing stored yet (tests/unit/test_emit_guard.py)
    return jm, fake


def _demo_source(view: Any) -> Any:
    (name,) = view.sources
    return parse_source((REPO_ROOT / "sql" / "sources" / f"{name}.sql").read_text())


def test_submit_many_reports_each_view_and_one_failure_hides_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = {v.ref: v for v in demo_views()}
    clicks, sessions, spend, today = (
        views["user_clicks_10m@1"],
        views["user_sessions@1"],
        views["card_spend_1h@1"],
        views["card_spend_today@1"],
    )
    jm, fake = _manager(tmp_path, monkeypatch, {job_name(spend): {"jid": "running-1"}})
    recorded = {job_name(clicks): "file:/sp/clicks", job_name(today): "file:/sp/today"}
    monkeypatch.setattr(
        jm,
        "restore_point",
        lambda name, graph: RestorePoint(recorded[name], "savepoint", graph, 1) if name in recorded else None,
    )
    marked: list[str] = []

    def mark() -> str:
        marked.append("gen")
        return "gen"

    monkeypatch.setattr(jm, "mark_online_generation", mark)

    def source_of(view: Any) -> Any:
        if view.name == "card_spend_today":
            raise RegistryError("view card_spend_today@1 must read exactly one registered source")
        return _demo_source(view)

    monkeypatch.setattr(jm, "source_of", source_of)
    out = jm.submit_many([clicks, sessions, spend, today])
    assert [(r.view.ref, r.job_id, r.submitted) for r in out] == [
        ("user_clicks_10m@1", f"id-{job_name(clicks)}", True),
        ("user_sessions@1", None, False),
        ("card_spend_1h@1", "running-1", False),  # left as it is
        ("card_spend_today@1", None, False),
    ]
    assert "Flink said no" in str(out[1].error) and "exactly one registered source" in str(out[3].error)
    # one submission for the two compiled views; each restores from its own recorded savepoint
    assert fake.calls == [([job_name(clicks), job_name(sessions)], {job_name(clicks): "file:/sp/clicks"})]
    # sessions starts from the topic, so the online store's generation marker is written (once)
    assert marked == ["gen"]
    assert jm.restored_from[job_name(clicks)].path == "file:/sp/clicks"  # type: ignore[union-attr]
    assert job_name(sessions) not in jm.restored_from  # Flink refused it: nothing was submitted

    fake.calls.clear()
    jm.submit_many([clicks], fresh=True)
    assert fake.calls == [([job_name(clicks)], {})]
    jm.submit_many([clicks], savepoint="file:/sp/given")
    assert fake.calls[-1] == ([job_name(clicks)], {job_name(clicks): "file:/sp/given"})
    with pytest.raises(RegistryError, match="one savepoint cannot restore 2 jobs"):
        jm.submit_many([clicks, sessions], savepoint="file:/sp/given")


def test_jobs_submit_prints_a_line_per_view_and_exits_1_when_any_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_registry(tmp_path / ".featurestream" / "registry.json")

    def fake_submit_many(self: JobManager, targets: list[Any], **kw: Any) -> list[ViewSubmission]:
        return [
            ViewSubmission(v, None, False, RegistryError(f"{v.ref} broke", hint="fix it"))
            if v.name == "user_sessions"
            else ViewSubmission(v, f"id-{v.name}", True)
            for v in targets
        ]

    monkeypatch.setattr(JobManager, "submit_many", fake_submit_many)
    result = CliRunner().invoke(main, ["-r", str(tmp_path), "jobs", "submit", "--all"])
    assert result.exit_code == 1
    assert "card_spend_1h@1              submitted as id-card_spend_1h" in result.output
    assert "user_clicks_10m@1            submitted as id-user_clicks_10m" in result.output
    assert "error: user_sessions@1: user_sessions@1 broke" in result.output
    assert "4 submitted, 0 already running, 1 failed" in result.output

    as_json = CliRunner().invoke(
        main, ["-r", str(tmp_path), "jobs", "submit", "--json", "user_sessions", "card_spend_1h@1"]
    )
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert [(j["view"], j["job_id"], "error" in j) for j in doc["jobs"]] == [
        ("user_sessions@1", None, True),
        ("card_spend_1h@1", "id-card_spend_1h", False),
    ]

    one_savepoint = CliRunner().invoke(main, ["-r", str(tmp_path), "jobs", "submit", "--all", "--savepoint", "x"])
    assert one_savepoint.exit_code == 1 and "--savepoint restores one job" in one_savepoint.output


def test_usage_errors_exit_1_not_the_breach_code() -> None:
    for args in (["--no-such-option"], ["jobs", "submit", "--no-such-option"], ["materialize"], ["no-such-command"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (args, result.output)


# ---------------------------------------------------------------------------- progress of a running job


def _rest_job(state: str, src_read: int, final_read: int, *, graph_complete: bool = True) -> dict[str, Any]:
    vertices = [
        {"id": "src", "status": "FINISHED" if src_read else "RUNNING", "metrics": {"read-records": src_read}},
    ]
    nodes: list[dict[str, Any]] = [{"id": "src"}]
    if graph_complete:
        vertices.append({"id": "agg", "status": "RUNNING", "metrics": {"read-records": final_read}})
        nodes.append({"id": "agg", "inputs": [{"id": "src"}]})
    return {
        "jid": "j1",
        "name": "backfill",
        "state": state,
        "duration": 4500,
        "vertices": vertices,
        "plan": {"nodes": nodes},
    }


def test_job_progress_counts_a_source_scanned_twice_once() -> None:
    """A batch plan may scan the one staged input once per branch (rows and dead letters): the
    events read are those of the busiest scan, so a finished job shows n/n, not 2n/n."""
    job = _rest_job("FINISHED", 3090, 3090)
    job["vertices"].append({"id": "src2", "status": "FINISHED", "metrics": {"read-records": 3090}})
    job["plan"]["nodes"].append({"id": "src2"})
    assert JobProgress.from_rest(job).records_read == 3090


def test_job_progress_reads_source_and_final_stage_records() -> None:
    p = JobProgress.from_rest(_rest_job("RUNNING", 1200, 300))
    assert (p.state, p.elapsed_s, p.records_read, p.records_final, p.stages_done, p.stages) == (
        "RUNNING",
        4.5,
        1200,
        300,
        1,
        2,
    )
    # a batch job's graph grows while it runs: a lone source vertex is not its final stage
    early = JobProgress.from_rest(_rest_job("RUNNING", 50, 0, graph_complete=False))
    assert (early.records_read, early.records_final, early.stages) == (50, 0, 1)


def test_wait_until_done_reports_every_poll_and_raises_on_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"))
    client = FlinkClient(cfg)
    states = iter([_rest_job("RUNNING", 10, 0), _rest_job("RUNNING", 20, 5), _rest_job("FINISHED", 20, 20)])
    monkeypatch.setattr(client, "job", lambda job_id: next(states))
    seen: list[tuple[str, int]] = []
    final = client.wait_until_done("j1", on_progress=lambda p: seen.append((p.state, p.records_read)), interval=0)
    assert seen == [("RUNNING", 10), ("RUNNING", 20), ("FINISHED", 20)] and final.done
    monkeypatch.setattr(client, "job", lambda job_id: _rest_job("FAILED", 20, 0))
    monkeypatch.setattr(client, "exceptions", lambda job_id: "java.io.IOException: disk full")
    with pytest.raises(jobs_flink.FlinkError, match=r"backfill failed: java\.io\.IOException: disk full"):
        client.wait_until_done("j1", interval=0)
