"""Drift statistics: PSI with quantile bins taken from the reference, and the two-sample KS statistic.

Invariants:

* **PSI** bins come from the reference sample only (its ``1/bins … (bins-1)/bins`` quantiles,
  de-duplicated), so a skewed or zero-inflated feature gets bins where its mass is; a point mass
  collapses duplicate edges instead of creating empty bins. Bin ``i`` holds ``edges[i-1] <= x <
  edges[i]``. Empty bins are smoothed with ``EPS`` so the statistic stays finite.
  ``PSI = sum((cur - ref) * ln(cur / ref))`` over bins; 0 for identical distributions.
* **Categorical** values (strings, booleans) get one bin per reference category plus one for
  categories never seen in the reference.
* **KS** is ``max |F_ref(x) - F_cur(x)|`` over the pooled sample (equal to ``scipy.stats.ks_2samp``'s
  statistic); its p-value uses the asymptotic Kolmogorov distribution.
* Nulls and NaNs are dropped before either statistic (the null rate is a quality metric).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "EPS",
    "FeatureDrift",
    "feature_drift",
    "ks_pvalue",
    "ks_statistic",
    "psi",
    "psi_categorical",
    "quantile_edges",
]

EPS = 1e-4
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature between a reference and a current sample."""

    feature: str
    kind: str  # "numeric", "categorical" or "skipped"
    reference_n: int
    current_n: int
    psi: float | None
    ks: float | None
    ks_pvalue: float | None
    psi_breached: bool
    ks_breached: bool
    note: str = ""

    @property
    def breached(self) -> bool:
        return self.psi_breached or self.ks_breached

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "reference_n": self.reference_n,
            "current_n": self.current_n,
            "psi": self.psi,
            "ks": self.ks,
            "ks_pvalue": self.ks_pvalue,
            "psi_breached": self.psi_breached,
            "ks_breached": self.ks_breached,
            "breached": self.breached,
            "note": self.note,
        }


def _clean(values: Sequence[Any] | npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def quantile_edges(reference: npt.ArrayLike, bins: int = 10) -> FloatArray:
    """Inner bin edges: the reference's ``k/bins`` quantiles (k = 1 … bins-1), de-duplicated."""
    ref = _clean(reference)  # type: ignore[arg-type]
    if bins < 2:
        raise ValueError(f"expected bins >= 2, found {bins}")
    if ref.size == 0:
        return np.empty(0, dtype=np.float64)
    qs = np.quantile(ref, np.arange(1, bins) / bins, method="linear")
    return np.unique(qs)


def _proportions(values: FloatArray, edges: FloatArray) -> FloatArray:
    idx = np.searchsorted(edges, values, side="right")
    counts = np.bincount(idx, minlength=edges.size + 1).astype(np.float64)
    return counts / max(values.size, 1)


def _psi_from_props(ref: FloatArray, cur: FloatArray) -> float:
    r = np.maximum(ref, EPS)
    c = np.maximum(cur, EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numeric values)."""
    ref = _clean(reference)  # type: ignore[arg-type]
    cur = _clean(current)  # type: ignore[arg-type]
    if ref.size == 0 or cur.size == 0:
        raise ValueError(f"PSI needs non-empty samples, found {ref.size} reference and {cur.size} current values")
    edges = quantile_edges(ref, bins)
    return _psi_from_props(_proportions(ref, edges), _proportions(cur, edges))


def psi_categorical(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """PSI over categories: one bin per reference category, plus one for unseen categories."""
    ref = [v for v in reference if v is not None]
    cur = [v for v in current if v is not None]
    if not ref or not cur:
        raise ValueError(f"PSI needs non-empty samples, found {len(ref)} reference and {len(cur)} current values")
    cats = {c: i for i, c in enumerate(sorted({str(v) for v in ref}))}
    other = len(cats)

    def props(vals: list[Any]) -> FloatArray:
        counts = np.zeros(other + 1, dtype=np.float64)
        for v in vals:
            counts[cats.get(str(v), other)] += 1
        return counts / len(vals)

    return _psi_from_props(props(ref), props(cur))


def ks_statistic(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup |F_ref - F_cur|``."""
    a = np.sort(_clean(reference))  # type: ignore[arg-type]
    b = np.sort(_clean(current))  # type: ignore[arg-type]
    if a.size == 0 or b.size == 0:
        raise ValueError(f"KS needs non-empty samples, found {a.size} reference and {b.size} current values")
    pooled = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, pooled, side="right") / a.size
    cdf_b = np.searchsorted(b, pooled, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Asymptotic p-value of a two-sample KS statistic (Kolmogorov distribution, Stephens' correction)."""
    if n <= 0 or m <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * statistic
    if lam < 1e-3:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(max(total, 0.0), 1.0))


def _is_numeric(values: Sequence[Any]) -> bool:
    for v in values:
        if v is None:
            continue
        return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    return True


def feature_drift(
    feature: str,
    reference: Sequence[Any],
    current: Sequence[Any],
    *,
    bins: int = 10,
    psi_threshold: float = 0.2,
    ks_threshold: float = 0.1,
    min_samples: int = 20,
) -> FeatureDrift:
    """PSI and KS of one feature; lists/arrays are skipped, strings and booleans are categorical."""
    ref = [v for v in reference if v is not None]
    cur = [v for v in current if v is not None]
    if len(ref) < min_samples or len(cur) < min_samples:
        note = f"too few values (reference {len(ref)}, current {len(cur)}; need {min_samples} each)"
        return FeatureDrift(feature, "skipped", len(ref), len(cur), None, None, None, False, False, note)
    if any(isinstance(v, list | tuple | dict | np.ndarray) for v in ref[:10]):
        return FeatureDrift(feature, "skipped", len(ref), len(cur), None, None, None, False, False, "non-scalar")
    if _is_numeric(ref) and _is_numeric(cur):
        ra = _clean(ref)
        ca = _clean(cur)
        p = psi(ra, ca, bins)
        d = ks_statistic(ra, ca)
        pv = ks_pvalue(d, ra.size, ca.size)
        return FeatureDrift(feature, "numeric", ra.size, ca.size, p, d, pv, p > psi_threshold, d > ks_threshold)
    p = psi_categorical(ref, cur)
    return FeatureDrift(feature, "categorical", len(ref), len(cur), p, None, None, p > psi_threshold, False)
