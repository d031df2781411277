"""PSI and KS against known distributions and against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from featurestream.monitoring.drift import feature_drift, ks_pvalue, ks_statistic, psi, psi_categorical, quantile_edges


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_identical_distributions_have_near_zero_psi_and_ks(rng: np.random.Generator) -> None:
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert ks_statistic(a, a) == 0.0
    assert psi(a, b) < 0.01
    assert ks_statistic(a, b) < 0.03


def test_shifted_distribution_breaches_thresholds(rng: np.random.Generator) -> None:
    a, b = rng.normal(0, 1, 10_000), rng.normal(0.5, 1, 10_000)
    assert psi(a, b) > 0.2
    assert ks_statistic(a, b) > 0.1
    d = feature_drift("x", a.tolist(), b.tolist())
    assert d.kind == "numeric" and d.psi_breached and d.ks_breached and d.breached


def test_psi_matches_closed_form_for_normal_shift(rng: np.random.Generator) -> None:
    # For N(0,1) -> N(mu,1) the binned PSI approaches the symmetric KL divergence mu^2 from below.
    a, b = rng.normal(0, 1, 200_000), rng.normal(0.3, 1, 200_000)
    value = psi(a, b, bins=20)
    assert 0.07 < value < 0.09


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3, 1.0])
def test_ks_statistic_equals_scipy(rng: np.random.Generator, shift: float) -> None:
    a, b = rng.normal(0, 1, 3000), rng.normal(shift, 1.2, 2000)
    ref = stats.ks_2samp(a, b)
    assert ks_statistic(a, b) == pytest.approx(ref.statistic, abs=1e-12)


def test_ks_statistic_equals_scipy_with_ties(rng: np.random.Generator) -> None:
    a, b = rng.poisson(3, 5000), rng.poisson(3.4, 4000)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("shift", [0.05, 0.1, 0.2])
def test_ks_pvalue_close_to_scipy_asymptotic(rng: np.random.Generator, shift: float) -> None:
    a, b = rng.normal(0, 1, 2000), rng.normal(shift, 1, 2000)
    d = ks_statistic(a, b)
    ref = stats.ks_2samp(a, b, method="asymp").pvalue
    assert ks_pvalue(d, a.size, b.size) == pytest.approx(ref, rel=0.1, abs=1e-3)


def test_quantile_bins_handle_skewed_and_zero_inflated_features(rng: np.random.Generator) -> None:
    # 70 % zeros, then a long log-normal tail: equal-width bins would put everything in one bin.
    def sample(n: int, scale: float, zeros: float = 0.7) -> np.ndarray:
        x = rng.lognormal(3, 1.2, n) * scale
        x[rng.random(n) < zeros] = 0.0
        return x

    ref, same, shifted = sample(20_000, 1.0), sample(20_000, 1.0), sample(20_000, 3.0, 0.5)
    edges = quantile_edges(ref, 10)
    assert edges[0] == 0.0 and len(edges) < 9  # duplicate quantiles collapse onto the point mass
    assert psi(ref, same) < 0.02
    assert psi(ref, shifted) > 0.2
    assert np.isfinite(psi(ref, np.full(1000, 1e9)))  # all mass in one bin stays finite


def test_categorical_psi_counts_unseen_categories() -> None:
    ref = ["a"] * 500 + ["b"] * 500
    assert psi_categorical(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi_categorical(ref, ["a"] * 500 + ["c"] * 500) > 1.0
    d = feature_drift("country", ref, ["a"] * 900 + ["b"] * 100)
    assert d.kind == "categorical" and d.ks is None and d.psi_breached


def test_too_few_or_non_scalar_values_are_skipped() -> None:
    assert feature_drift("x", [1.0] * 5, [1.0] * 100).kind == "skipped"
    assert feature_drift("emb", [[0.1, 0.2]] * 50, [[0.1, 0.2]] * 50).note == "non-scalar"


def test_nulls_and_nans_are_ignored(rng: np.random.Generator) -> None:
    a = rng.normal(0, 1, 1000).tolist()
    assert feature_drift("x", [*a, None, float("nan")], a).psi == pytest.approx(0.0, abs=1e-12)


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        psi([], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        ks_statistic([1.0], [float("nan")])
