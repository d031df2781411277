"""The on-demand framework without services: budgets, errors, cache, and the offline entry point."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from featurestream.ondemand import OnDemandError, OnDemandRegistry, compute_frame, load_udfs, on_demand
from featurestream.semantics import Status


def test_demo_functions_load() -> None:
    reg = load_udfs()
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
    out = compute_frame(df, ["amount_over_avg_spend", "on_demand:embedding_dot"])
    assert out["amount_over_avg_spend"].tolist() == [2.0, 0.0, 0.1]
    assert out["embedding_dot"].tolist() == [11.0, 0.0, 0.0]  # row 2 raises -> default, as online
    with pytest.raises(OnDemandError, match="no column"):
        compute_frame(df.drop(columns=["amount"]), ["amount_over_avg_spend"])
    assert len(OnDemandRegistry(load_udfs())) == len(load_udfs())
