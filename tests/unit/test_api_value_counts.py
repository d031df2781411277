"""``featurestream_feature_values``: counted per read without prometheus_client on the lookup path
(:class:`featurestream.api.metrics.ValueCounts`), exported as a counter when scraped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest

from featurestream.api.lookup import ReadRows, count_values
from featurestream.api.metrics import Metrics
from featurestream.semantics import Status

_P, _NF, _OMA = Status.PRESENT, Status.NOT_FOUND, Status.OUTSIDE_MAX_AGE


def _plan(*views: str) -> Any:
    reads = tuple(SimpleNamespace(view=SimpleNamespace(ref=v)) for v in views)
    return SimpleNamespace(namespace="ns", reads=reads, render_cache={})


def _rows(*statuses: Status) -> ReadRows:
    n = len(statuses)
    return ReadRows(list(statuses), [None] * n, [], [False] * n)


def _scraped(metrics: Metrics) -> dict[tuple[str, str], float]:
    out = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line.startswith("featurestream_feature_values_total{"):
            labels, value = line.rsplit(" ", 1)
            parts = dict(p.split("=", 1) for p in labels[labels.index("{") + 1 : -1].split(","))
            out[(parts["view"].strip('"'), parts["status"].strip('"'))] = float(value)
    return out


def test_counts_by_view_and_status_for_one_and_many_entities() -> None:
    metrics = Metrics()
    state: Any = SimpleNamespace(metrics=metrics)
    plan = _plan("a@1", "b@2")
    count_values(state, plan, [_rows(_P), _rows(_NF)])
    count_values(state, plan, [_rows(_P, _NF, _P), _rows(_OMA, _OMA, _NF)])
    assert _scraped(metrics) == {
        ("a@1", "PRESENT"): 3.0,
        ("a@1", "NOT_FOUND"): 1.0,
        ("b@2", "NOT_FOUND"): 2.0,
        ("b@2", "OUTSIDE_MAX_AGE"): 2.0,
    }


def test_plans_over_the_same_view_share_its_counts() -> None:
    metrics = Metrics()
    state: Any = SimpleNamespace(metrics=metrics)
    count_values(state, _plan("a@1"), [_rows(_P)])
    count_values(state, _plan("a@1", "b@2"), [_rows(_P), _rows(_P)])
    assert _scraped(metrics) == {("a@1", "PRESENT"): 2.0, ("b@2", "PRESENT"): 1.0}


def test_nothing_counted_yet_exports_the_metric_without_samples() -> None:
    text = generate_latest(Metrics().registry).decode()
    assert "# TYPE featurestream_feature_values_total counter" in text  # as a Counter prints it
    assert "featurestream_feature_values_total{" not in text
