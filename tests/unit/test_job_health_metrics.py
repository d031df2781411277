"""Job health from Flink's REST metrics (a stand-in REST client; the golden windows test reads the
real ones): consumer lag from the sources, duplicates from the Deduplicate operator."""

from __future__ import annotations

from typing import Any

from featurestream.monitoring.jobs import _duplicates, _pending

DEDUP = "Deduplicate(keep=[FirstRow], key=[event_id], order=[PROCTIME])"
VERTICES = [
    {"id": "src", "name": "Source: clicks_raw[1] -> Calc[2]"},
    {"id": "dd", "name": f"{DEDUP} -> Calc[4] -> (LocalWindowAggregate[5], Sink: fs_late[6])"},
    {"id": "agg", "name": "GlobalWindowAggregate[7] -> Sink: fs_offline[8]"},
]
METRICS: dict[str, dict[str, float]] = {
    "src": {"0.Source__clicks_raw[1].pendingRecords": 12, "0.numRecordsOut": 99},
    "dd": {f"0.{DEDUP[:60]}.numRecordsIn": 1000, f"0.{DEDUP[:60]}.numRecordsOut": 993, "0.numRecordsIn": 1000},
    "agg": {"0.numRecordsIn": 993},
}


class _Flink:
    def subtask_metrics(self, job_id: str, vertex_id: str, names: list[str] | None = None, agg: str = "") -> Any:
        have = METRICS[vertex_id]
        if names is None:
            return [{"id": k} for k in have]
        return [{"id": k, "sum": have[k]} for k in names]


def test_duplicates_are_the_deduplicate_operators_records_in_minus_out() -> None:
    assert _duplicates(_Flink(), "j", VERTICES) == 7  # type: ignore[arg-type]


def test_no_deduplicate_operator_means_no_count() -> None:
    assert _duplicates(_Flink(), "j", [VERTICES[0], VERTICES[2]]) is None  # type: ignore[arg-type]


def test_pending_records_are_summed_over_the_sources() -> None:
    assert _pending(_Flink(), "j", VERTICES) == 12  # type: ignore[arg-type]
    assert _pending(_Flink(), "j", VERTICES[1:]) is None  # type: ignore[arg-type]
