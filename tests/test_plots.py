"""plots: before/after figure split by direction with limits, summary direction column, band order,
query_changes statuses, constants taken from svtune.eval.evaluate."""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from svtune.eval import evaluate, plots  # noqa: E402
from svtune.eval.metrics import BANDS  # noqa: E402

BAND_NAMES = [name for name, _, _ in BANDS]


def metrics(before: dict, after: dict) -> dict:
    def stage(m):
        return {"retrieval": {"mrr@10": m["mrr"], "recall@1": m["r1"], "recall@10": 0.9, "ndcg@10": 0.7},
                "pairs_heldout": {"spearman": 0.6}, "pairs_curated": {"spearman": None},
                "collapse": {"random_pair_mean_cosine": m["rand"], "nonsense_max": m["nonsense"]}}
    return {"before": stage(before), "after": stage(after)}


# MRR up (better), recall@1 down (worse), random pairs down (better), nonsense up (worse, still < 0.5)
M = metrics({"mrr": 0.70, "r1": 0.55, "rand": 0.23, "nonsense": 0.34},
            {"mrr": 0.76, "r1": 0.50, "rand": 0.03, "nonsense": 0.45})


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_summary_table_says_which_direction_is_better():
    t = plots.summary_table(M)
    assert "better" in t.columns
    assert t.loc["collapse.nonsense_max", "better"] == "lower"
    assert t.loc["collapse.random_pair_mean_cosine", "better"] == "lower"
    assert set(t.loc[~t.index.str.startswith("collapse."), "better"]) == {"higher"}
    assert t.loc["collapse.nonsense_max", "limit"] == evaluate.NONSENSE_MAX
    assert t.loc["collapse.random_pair_mean_cosine", "limit"] == pytest.approx(0.23 + evaluate.RANDOM_PAIR_RISE_MAX)


def test_before_after_bars_two_panels_collapse_only_on_the_second():
    fig = plots.before_after_bars(plots.summary_table(M))
    axes = fig.get_axes()
    assert len(axes) == 2
    first = [t.get_text() for t in axes[0].get_yticklabels()]
    second = [t.get_text() for t in axes[1].get_yticklabels()]
    assert "retrieval.mrr@10" in first and "pairs_heldout.spearman" in first
    assert "pairs_curated.spearman" not in first               # no value -> not drawn
    assert not any(s.startswith("collapse.") for s in first)
    assert sorted(second) == ["collapse.nonsense_max", "collapse.random_pair_mean_cosine"]
    assert "higher is better" in axes[0].get_title(loc="left")
    assert "lower is better" in axes[1].get_title(loc="left")

    def limit_xs(ax):
        return sorted({round(x, 6) for ln in ax.get_lines() if ln.get_gid() == "limit" for x in ln.get_xdata()})
    assert limit_xs(axes[1]) == [round(0.23 + evaluate.RANDOM_PAIR_RISE_MAX, 6), evaluate.NONSENSE_MAX]
    assert limit_xs(axes[0]) == []


def test_tuned_bars_coloured_by_the_metrics_own_direction():
    fig = plots.before_after_bars(plots.summary_table(M))
    top, bottom = fig.get_axes()

    def tuned(ax):   # second bar container = tuned bars, in ytick order
        labels = [t.get_text() for t in ax.get_yticklabels()]
        return {lab: bar.get_facecolor() for lab, bar in zip(labels, ax.containers[1])}
    green, red = to_rgba(plots.GREEN), to_rgba(plots.RED)
    assert tuned(top)["retrieval.mrr@10"] == green
    assert tuned(top)["retrieval.recall@1"] == red
    assert tuned(bottom)["collapse.random_pair_mean_cosine"] == green   # fell: better
    assert tuned(bottom)["collapse.nonsense_max"] == red                # rose 0.34 -> 0.45: worse


def test_before_after_bars_accepts_an_old_table_without_direction_columns():
    t = plots.summary_table(M).drop(columns=["better", "limit"])
    axes = plots.before_after_bars(t).get_axes()
    assert len(axes) == 2 and all(x.get_text().startswith("collapse.") for x in axes[1].get_yticklabels())


def test_band_table_in_bands_order():
    shuffled = {name: i for i, name in enumerate(sorted(BAND_NAMES))}      # alphabetical: wrong order
    assert list(plots.band_table(shuffled).index) == BAND_NAMES
    nested = {"before": dict(reversed(list(shuffled.items()))), "after": shuffled}
    assert list(plots.band_table(nested).index) == BAND_NAMES
    assert list(plots.band_table(nested).columns) == ["before", "after"]
    counts = pd.Series([0.5, 0.9, 0.0, 0.2, 0.5, 1.0]).map(
        lambda v: next(n for n, lo, hi in BANDS if v <= hi)).to_frame("band").groupby("band").size()
    assert list(counts.index) != [n for n in BAND_NAMES if n in counts.index]   # groupby sorts as text
    assert list(plots.band_table(counts).index) == [n for n in BAND_NAMES if n in counts.index]
    order = {f"{BAND_NAMES[2]} < {BAND_NAMES[4]}": 0.9, f"{BAND_NAMES[0]} < {BAND_NAMES[1]}": 0.8}
    assert list(plots.band_table(order).index)[0].startswith(BAND_NAMES[0])
    rows = pd.DataFrame({"band": [">=0.9", "<=0.05", "0.3-0.7", "<=0.05"], "i": [0, 1, 2, 3]})
    assert list(plots.band_table(rows)["i"]) == [1, 3, 2, 0]


def test_query_changes_status_and_cutoff():
    def q(top, exp):
        return {"query": "q", "expected": exp, "top": [(d, 0.0) for d in top]}
    before = [q("ABCD", ["A"]), q("ABCD", ["D"]), q("ABCD", ["B"])]
    after = [q("BACD", ["A"]), q("DABC", ["D"]), q("ABCD", ["B"])]
    df = plots.query_changes(before, after)
    assert dict(zip(df.index, df.status)) == {0: "regressed", 1: "improved", 2: "unchanged"}
    assert plots.change_counts(df) == {"improved": 1, "regressed": 1, "unchanged": 1}
    cut = plots.query_changes(before, after, n=3)      # D at #4 is outside a top 3
    assert cut.loc[1, "rr_before"] == 0 and cut.loc[1, "rr_after"] == 1
    assert plots.query_changes([q("AB", [])], [q("BA", [])]).status.tolist() == ["unchanged"]


def test_limits_come_from_evaluate():
    assert plots.NONSENSE_MAX is evaluate.NONSENSE_MAX
    assert plots.RANDOM_PAIR_RISE_MAX is evaluate.RANDOM_PAIR_RISE_MAX
    assert inspect.signature(plots.quality_vs_health).parameters["nonsense_max"].default is evaluate.NONSENSE_MAX
    assert inspect.signature(plots.retrieval_vs_ranking).parameters["mrr_gain"].default is plots.MRR_GAIN_TARGET
    row = {"label": "r", "recipe": "x", "healthy": True, "nonsense_max": [0.3, 0.4],
           "spearman_heldout": [0.6, 0.7], "mrr@10": [0.7, 0.75]}
    ax = plots.quality_vs_health([row]).get_axes()[0]
    assert any(list(ln.get_xdata()) == [evaluate.NONSENSE_MAX] * 2 for ln in ax.get_lines())
    ax = plots.retrieval_vs_ranking([row]).get_axes()[0]
    assert any(list(ln.get_xdata()) == [pytest.approx(0.7 + plots.MRR_GAIN_TARGET)] * 2 for ln in ax.get_lines())


def test_training_pairs_are_labelled_in_the_table_and_left_out_of_the_held_out_chart():
    m = {stage: {**M[stage], "pairs_curated": {"spearman": v}} for stage, v in (("before", 0.5), ("after", 0.9))}
    t = plots.summary_table(m)
    assert "pairs_curated.spearman (training pairs)" in t.index
    labels = [lbl.get_text() for ax in plots.before_after_bars(t).get_axes() for lbl in ax.get_yticklabels()]
    assert "pairs_heldout.spearman" in labels and not any("pairs_curated" in lbl for lbl in labels)
