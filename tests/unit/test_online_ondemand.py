"""The on-demand framework without services: budgets, errors, cache, and the offline entry point."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import featurestream.udfs
from featurestream.config import load_config
from featurestream.ondemand import OnDemandError, OnDemandRegistry, compute_frame, load_udf_folder, load_udfs, on_demand
from featurestream.semantics import Status

REPO = Path(__file__).resolve().parents[2]


def _demo_udfs() -> OnDemandRegistry:
    """The demo repo's functions (this checkout's ``udfs/`` folder), as the server and training load them."""
    return load_udfs(load_config(REPO, env={}))


def test_demo_functions_load() -> None:
    reg = _demo_udfs()
    assert {"amount_over_avg_spend", "embedding_dot"} <= set(reg.names())
    f = reg.get("amount_over_avg_spend")
    assert f(50.0, 100.0, 4) == 2.0
    assert f.request_fields == ("amount",)
    with pytest.raises(OnDemandError, match="unknown on-demand"):
        reg.get("nope")


def test_budget_preempts_a_runaway_function_on_the_main_thread() -> None:
    @on_demand(name="spin", inputs=["x"], default=-1, budget_ms=20)
    def spin(x: int) -> int:
        while True:
            x += 1

    t0 = time.perf_counter()
    assert spin.evaluate([1]) == (-1, Status.TIMEOUT)
    assert time.perf_counter() - t0 < 1.0


def test_errors_give_default_and_cache_reuses_results() -> None:
    calls: list[int] = []

    @on_demand(name="twice", inputs=["x"], default=0, cache_ttl_s=60)
    def twice(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    assert twice.evaluate([3]) == (6, Status.PRESENT)
    assert twice.evaluate([3]) == (6, Status.PRESENT)
    assert calls == [3]
    assert twice.evaluate([-1]) == (0, Status.ERROR)


def test_declarations_are_validated() -> None:
    with pytest.raises(OnDemandError):
        on_demand(name="Bad Name", inputs=[])
    with pytest.raises(OnDemandError):
        on_demand(name="ok", inputs=["not an identifier"])
    with pytest.raises(OnDemandError):
        on_demand(name="ok", inputs=[], budget_ms=0)


def test_compute_frame_runs_the_same_functions_offline() -> None:
    df = pd.DataFrame(
        {
            "amount": [50.0, 5.0, 1.0],
            "card_spend_1h__spend_1h": [100.0, 0.0, 10.0],
            "txn_count_1h": [4, 0, 1],
            "user_embedding": [[1, 2], [1], [0, 0]],
            "item_embedding": [[3, 4], [1, 2], [1, 1]],
        }
    )
    udfs = _demo_udfs()
    out = compute_frame(df, ["amount_over_avg_spend", "on_demand:embedding_dot"], registry=udfs)
    assert out["amount_over_avg_spend"].tolist() == [2.0, 0.0, 0.1]
    assert out["embedding_dot"].tolist() == [11.0, 0.0, 0.0]  # row 2 raises -> default, as online
    with pytest.raises(OnDemandError, match="no column"):
        compute_frame(df.drop(columns=["amount"]), ["amount_over_avg_spend"], registry=udfs)
    assert len(OnDemandRegistry(udfs)) == len(udfs)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


FUNC = """
from featurestream.ondemand import on_demand
from .helpers import double

@on_demand(name="{name}", inputs=["x"], default=0)
def {name}(x):
    return double(x)
"""


def test_user_udfs_folder_loads_by_path_without_shadowing(tmp_path: Path) -> None:
    # A user repo whose on-demand folder is named `udfs` and has a raising __init__ elsewhere on
    # sys.path: loading by path touches neither featurestream.udfs nor a top-level `udfs`.
    _write(
        tmp_path,
        {
            "udfs/__init__.py": "",
            "udfs/helpers.py": "def double(x):\n    return 2 * x\n",
            "udfs/scoring.py": FUNC.format(name="triple_free"),
            "udfs/nested/__init__.py": "",
            "udfs/nested/helpers.py": "def double(x):\n    return 20 * x\n",
            "udfs/nested/more.py": FUNC.format(name="deep"),
            "udfs/notes.txt": "not python",
        },
    )
    before = featurestream.udfs.__file__
    reg = load_udfs(load_config(tmp_path, env={}))
    assert reg.names() == ["deep", "triple_free"]
    assert reg.get("triple_free")(3) == 6 and reg.get("deep")(3) == 60  # relative imports stay in their folder
    assert featurestream.udfs.__file__ == before
    assert "udfs" not in sys.modules or getattr(sys.modules["udfs"], "__file__", None) != str(tmp_path / "udfs")
    assert load_udfs(load_config(tmp_path, env={})).names() == reg.names()  # loading again is fine


def test_missing_folder_means_no_functions_and_the_path_is_one_setting(tmp_path: Path) -> None:
    assert len(load_udfs(load_config(tmp_path, env={}))) == 0
    _write(tmp_path, {"fns/a.py": FUNC.replace("from .helpers import double", "double = abs").format(name="a")})
    cfg = load_config(tmp_path, env={"FEATURESTREAM__ONDEMAND__PATH": "fns"})
    assert cfg.ondemand_path == (tmp_path / "fns").resolve()
    assert load_udfs(cfg).names() == ["a"]


def test_a_broken_user_module_names_its_file(tmp_path: Path) -> None:
    _write(tmp_path, {"udfs/ok.py": "", "udfs/broken.py": "import no_such_module_here\n"})
    with pytest.raises(OnDemandError, match=r"broken\.py: ModuleNotFoundError") as err:
        load_udf_folder(tmp_path / "udfs")
    assert "fix:" in str(err.value)
