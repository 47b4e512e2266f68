"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from svtune.eval.metrics import (
    band_means,
    band_order,
    ndcg_at,
    paired_bootstrap,
    pearson,
    recall_at,
    reciprocal_rank,
    retrieval_summary,
    spearman,
)


def test_reciprocal_rank():
    assert reciprocal_rank(["a", "b", "c"], ["b"]) == 0.5
    assert reciprocal_rank(["a", "b", "c"], ["c", "a"]) == 1.0       # any expected dcid counts
    assert reciprocal_rank(["x"] * 10 + ["a"], ["a"], k=10) == 0.0     # beyond the cut-off


def test_recall():
    assert recall_at(["a", "b", "c"], ["a", "c"], 1) == 0.5
    assert recall_at(["a", "b", "c"], ["a", "c"], 5) == 1.0
    assert recall_at(["b"], ["a"], 1) == 0.0


def test_ndcg_graded_by_expected_order():
    # expected [a, b]: gains a=2, b=1. Ideal DCG = 2 + 1/log2(3).
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert ndcg_at(["b", "a"], ["a", "b"]) == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    assert ndcg_at(["x", "a"], ["a"]) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["x"], ["a"]) == 0.0


def test_retrieval_summary_mrr_exactly_half():
    s = retrieval_summary([["a", "b"], ["c", "d"]], [["a"], ["x", "c"]])   # rr 1 and 1 ...
    assert s["mrr@10"] == 1.0
    s = retrieval_summary([["b", "a"], ["b", "a"]], [["a"], ["a"]])
    assert s["mrr@10"] == 0.5 and s["recall@1"] == 0.0 and s["recall@5"] == 1.0 and s["queries"] == 2
    assert retrieval_summary([], [])["mrr@10"] is None


def test_correlations():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)   # monotone, not linear
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # ties averaged
    assert pearson([1, 1, 1], [1, 2, 3]) is None


def test_band_means():
    m = band_means([0.01, 0.01, 0.2, 0.5, 1.0], [0.1, 0.3, 0.4, 0.6, 0.9])
    assert m["<=0.05"] == pytest.approx(0.2) and m["0.05-0.3"] == pytest.approx(0.4)
    assert m["0.3-0.7"] == pytest.approx(0.6) and m[">=0.9"] == pytest.approx(0.9) and m["0.7-0.9"] is None


def test_band_order_compares_neighbouring_non_empty_bands():
    # 0.01 pairs at 0.1 and 0.5; the 0.2 pair at 0.4; 0.5 pairs at 0.3 and 0.4; the 1.0 pair at 0.9.
    o = band_order([0.01, 0.01, 0.2, 0.5, 0.5, 1.0], [0.1, 0.5, 0.4, 0.3, 0.4, 0.9])
    assert list(o) == ["<=0.05 < 0.05-0.3", "0.05-0.3 < 0.3-0.7", "0.3-0.7 < >=0.9"]  # empty 0.7-0.9 skipped
    assert o["<=0.05 < 0.05-0.3"] == pytest.approx(0.5)    # 0.1 < 0.4 right, 0.5 > 0.4 wrong
    assert o["0.05-0.3 < 0.3-0.7"] == pytest.approx(0.25)  # 0.4 > 0.3 wrong, 0.4 = 0.4 a tie (half)
    assert o["0.3-0.7 < >=0.9"] == pytest.approx(1.0)
    assert band_order([0.01, 0.02], [0.1, 0.2]) == {}       # one band: nothing to order


def test_paired_bootstrap_means_and_spearman():
    a, b = [0.5, 1.0, 0.0, 0.25], [0.4, 0.9, -0.1, 0.15]     # a beats b by 0.1 on every item
    r = paired_bootstrap("mean", a, b, rounds=200)
    assert math.isclose(r["diff"], 0.1) and r["a_wins"] == 1.0 and r["items"] == 4
    assert all(math.isclose(x, 0.1) for x in r["diff_ci95"])
    labels = [0.01, 0.2, 0.5, 0.9, 1.0]
    good, bad = [0.1, 0.3, 0.5, 0.7, 0.9], [0.9, 0.7, 0.5, 0.3, 0.1]
    r = paired_bootstrap("spearman", good, bad, labels, rounds=200)
    assert math.isclose(r["a"], 1.0) and math.isclose(r["b"], -1.0) and math.isclose(r["diff"], 2.0)
    assert r["a_wins"] == 1.0 and r["diff_ci95"][0] > 0
    same = paired_bootstrap("spearman", good, good, labels, rounds=200)
    assert same["diff"] == 0 and same["a_wins"] == 0 and same["diff_ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError):
        paired_bootstrap("mean", [1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap("median", a, b)
