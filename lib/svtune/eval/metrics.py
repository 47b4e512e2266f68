"""Plain metric functions (no model involved), each checked against hand-computed values in tests.

Retrieval metrics take a ranked list of dcids and the expected dcids, best
first. NDCG is graded by that order: with n expected dcids the first has gain
n, the second n-1, ... so ranking the best answer first is worth more.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

# Label bands of scored pairs, as the curation rules use them.
BANDS = [("<=0.05", 0.0, 0.05), ("0.05-0.3", 0.05, 0.3), ("0.3-0.7", 0.3, 0.7),
         ("0.7-0.9", 0.7, 0.9), (">=0.9", 0.9, 1.0)]


def reciprocal_rank(ranked: Sequence[str], expected: Sequence[str], k: int = 10) -> float:
    """1/rank of the first expected dcid within the top k, else 0."""
    wanted = set(expected)
    for i, dcid in enumerate(ranked[:k]):
        if dcid in wanted:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranked: Sequence[str], expected: Sequence[str], k: int) -> float:
    """Share of the expected dcids found in the top k."""
    if not expected:
        return 0.0
    return len(set(ranked[:k]) & set(expected)) / len(set(expected))


def ndcg_at(ranked: Sequence[str], expected: Sequence[str], k: int = 10) -> float:
    """NDCG@k with gains graded by the expected order (first expected = highest gain)."""
    gains = {d: len(expected) - i for i, d in enumerate(expected)}
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def retrieval_summary(rankings: Sequence[Sequence[str]], expected: Sequence[Sequence[str]]) -> dict:
    """Mean MRR@10, Recall@1/5/10 and NDCG@10 over queries."""
    n = len(rankings)
    if n == 0:
        return {"queries": 0, "mrr@10": None, "recall@1": None, "recall@5": None,
                "recall@10": None, "ndcg@10": None}
    return {
        "queries": n,
        "mrr@10": float(np.mean([reciprocal_rank(r, e, 10) for r, e in zip(rankings, expected)])),
        "recall@1": float(np.mean([recall_at(r, e, 1) for r, e in zip(rankings, expected)])),
        "recall@5": float(np.mean([recall_at(r, e, 5) for r, e in zip(rankings, expected)])),
        "recall@10": float(np.mean([recall_at(r, e, 10) for r, e in zip(rankings, expected)])),
        "ndcg@10": float(np.mean([ndcg_at(r, e, 10) for r, e in zip(rankings, expected)])),
    }


def _correlation(fn, x: Sequence[float], y: Sequence[float]) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:   # undefined: say so rather than warn and give nan
        return None
    return float(fn(x, y).statistic)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    return _correlation(stats.pearsonr, x, y)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Rank correlation (ties get their average rank)."""
    return _correlation(stats.spearmanr, x, y)


def band_of(label: float) -> str:
    for name, lo, hi in BANDS:
        if label <= hi and (label > lo or lo == 0.0):
            return name
    return BANDS[-1][0]


def band_means(labels: Sequence[float], cosines: Sequence[float]) -> dict[str, float | None]:
    """Mean cosine of the pairs in each label band (None where a band is empty)."""
    df = pd.DataFrame({"band": [band_of(v) for v in labels], "cos": list(cosines)})
    means = df.groupby("band")["cos"].mean()
    return {name: (float(means[name]) if name in means else None) for name, _, _ in BANDS}


def band_order(labels: Sequence[float], cosines: Sequence[float]) -> dict[str, float | None]:
    """For each two neighbouring non-empty bands, the share of (lower-band pair, higher-band
    pair) combinations that the cosines put in the right order (an AUC; ties count half).
    Spearman mixes these together; apart, they say which relation a model gets wrong
    (e.g. weak 0.2 links above true-but-low-priority 0.5 ones)."""
    bands = pd.Series(list(cosines), dtype=float).groupby([band_of(v) for v in labels])
    present = [name for name, _, _ in BANDS if name in bands.groups]
    out = {}
    for lo, hi in zip(present, present[1:]):
        a, b = bands.get_group(lo).to_numpy(), bands.get_group(hi).to_numpy()
        out[f"{lo} < {hi}"] = float(((a[:, None] < b[None, :]) + 0.5 * (a[:, None] == b[None, :])).mean())
    return out


def pair_summary(labels: Sequence[float], cosines: Sequence[float]) -> dict:
    return {"pairs": len(labels), "spearman": spearman(cosines, labels),
            "pearson": pearson(cosines, labels), "band_mean_cosine": band_means(labels, cosines),
            "band_order": band_order(labels, cosines)}


# Held-out sets here are small (305 pairs, a few hundred queries), so a difference of 0.02 can
# be noise. The bootstrap resamples the items (pairs or queries) with replacement, paired.
BOOTSTRAP_ROUNDS = 2000


def paired_bootstrap(kind: str, a: Sequence[float], b: Sequence[float], labels: Sequence[float] | None = None,
                     rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> dict:
    """Compare two models on the same items. kind "mean": a and b are per-item scores (e.g.
    reciprocal ranks); kind "spearman": a and b are per-pair cosines against `labels`.
    Returns both values, their difference a - b with a 95% percentile interval, and the share
    of resamples in which a beats b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("paired_bootstrap needs two equally long lists of at least 2 items")
    if kind == "mean":
        data, vectorized = (a, b), True

        def statistic(x, z, axis=-1):
            return x.mean(axis=axis) - z.mean(axis=axis)
    elif kind == "spearman":
        data, vectorized = (a, b, np.asarray(labels, float)), False

        def statistic(x, z, y):
            sx, sz = spearman(x, y), spearman(z, y)
            return np.nan if sx is None or sz is None else sx - sz
    else:
        raise ValueError(f"unknown kind {kind!r}")
    with warnings.catch_warnings():
        # A resample of tied cosines has no Spearman (nan); those are dropped below, not an error.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(data, statistic, paired=True, vectorized=vectorized, n_resamples=rounds,
                              method="percentile", rng=np.random.default_rng(seed))
    diff = res.bootstrap_distribution[~np.isnan(res.bootstrap_distribution)]
    value = statistic(*data) if kind == "spearman" else statistic(a, b)
    va, vb = (a.mean(), b.mean()) if kind == "mean" else (spearman(a, data[2]), spearman(b, data[2]))
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return {"a": float(va), "b": float(vb), "diff": float(value), "diff_ci95": [float(lo), float(hi)],
            "a_wins": float((diff > 0).mean()), "items": len(a)}
