"""Saved benchmark results: newest row per recipe, every full run labelled by its knobs, the trade-off plot."""

from __future__ import annotations

import json

import matplotlib
import pytest

matplotlib.use("Agg")

from svtune import (
    bench,  # noqa: E402
    paths,  # noqa: E402
)
from svtune.bench.scale import scale_one  # noqa: E402
from svtune.eval import plots  # noqa: E402


def row(recipe, spearman, nonsense, healthy=True, mrr=0.76):
    return {"recipe": recipe, "spearman_heldout": [0.62, spearman], "nonsense_max": [0.34, nonsense],
            "mrr@10": [0.72, mrr], "healthy": healthy}


def test_saved_results_are_merged_and_labelled(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path)
    d = tmp_path / "bench"
    d.mkdir()
    (d / "20260101-000000-full.json").write_text(json.dumps(
        {"mode": "full", "when": "t1", "params": {"size": "small"}, "rows": [row("default", 0.66, 0.39), row("seed", 0.76, 0.56, False)]}))
    (d / "20260102-000000-full.json").write_text(json.dumps(
        {"mode": "full", "when": "t2", "params": {"size": "small"}, "rows": [row("default", 0.72, 0.47)]}))
    (d / "sweep-s40.json").write_text(json.dumps(
        {"mode": "full", "when": "t3", "params": {"size": "small", "overrides": {"mnrl_scale": 40}}, "rows": [row("default", 0.72, 0.51, False)]}))
    (d / "20260103-000000-speed.json").write_text(json.dumps({"mode": "speed", "when": "t4", "rows": []}))

    latest = {r["recipe"]: r for r in bench.latest("full")["rows"]}
    assert latest["default"]["measured"] == "t2" and latest["seed"]["measured"] == "t1"   # newest per recipe
    assert bench.latest("speed")["when"] == "t4"

    rows = bench.all_full_rows()
    assert [r["label"] for r in rows] == ["default", "seed", "default", "default mnrl_scale=40"]
    fig = plots.quality_vs_health(rows)
    assert len(fig.axes[0].collections) == len(rows) + 1          # one point per run, plus the base model
    ax = plots.retrieval_vs_ranking(rows).axes[0]
    assert len(ax.collections) == len(rows)
    gain = 0.72 + plots.MRR_GAIN_TARGET
    assert [tuple(line.get_xdata()) for line in ax.lines][0] == pytest.approx((gain, gain))   # the base + the gain target
    assert [tuple(line.get_ydata()) for line in ax.lines][1] == pytest.approx((0.76, 0.76))   # the seed's


def test_rows_on_an_older_held_out_set_are_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path)
    d = tmp_path / "bench"
    d.mkdir()
    old, new = ({**row(r, 0.7, 0.4), "heldout_pairs": 106} for r in ("seed", "mnrl")), {**row("default", 0.71, 0.45), "heldout_pairs": 305}
    (d / "20260101-000000-full.json").write_text(json.dumps({"mode": "full", "when": "t1", "params": {}, "rows": list(old)}))
    (d / "20260102-000000-full.json").write_text(json.dumps({"mode": "full", "when": "t2", "params": {}, "rows": [new]}))
    assert [r["recipe"] for r in bench.latest("full")["rows"]] == ["default"]
    assert [(r["recipe"], r["heldout_pairs"]) for r in bench.all_full_rows()] == [("default", 305)]


def write_eval(folder, stage, tops, cosines):
    folder.mkdir(parents=True, exist_ok=True)
    queries = [{"query": f"q{i}", "expected": ["A"], "top": [[d, 0.5] for d in top]} for i, top in enumerate(tops)]
    pairs = [{"sentence_1": f"s{i}", "sentence_2": f"t{i}", "label": y, "cosine": c}
             for i, (y, c) in enumerate(zip([0.01, 0.2, 0.5, 1.0], cosines))]
    (folder / f"eval_{stage}.json").write_text(json.dumps({"details": {"queries": queries, "pairs_heldout": pairs}}))


def test_compare_two_runs_and_a_run_with_its_base(tmp_path, capsys):
    run = tmp_path / "run"
    write_eval(run, "after", [["A", "B"], ["A", "C"], ["B", "A"]], [0.1, 0.3, 0.6, 0.9])    # RR 1, 1, 0.5
    write_eval(run, "before", [["B", "A"], ["C", "A"], ["B", "C"]], [0.9, 0.3, 0.6, 0.1])   # RR .5, .5, 0
    out = bench.compare(str(run), f"{run}:before")
    assert abs(out["mrr@10"]["a"] - 2.5 / 3) < 1e-9 and abs(out["mrr@10"]["b"] - 1 / 3) < 1e-9
    assert out["mrr@10"]["a_wins"] == 1.0
    assert out["spearman_heldout"]["a"] == 1.0 and out["spearman_heldout"]["diff"] > 0
    assert "P(A>B)" in capsys.readouterr().out
    other = tmp_path / "other"
    write_eval(other, "after", [["A"], ["A"]], [0.1, 0.3, 0.6, 0.9])                        # two queries only
    with pytest.raises(SystemExit, match="different queries.*--fresh"):
        bench.compare(str(run), str(other))
    with pytest.raises(SystemExit, match="no such evaluation"):
        bench.compare(str(run), str(tmp_path / "missing"))


def test_compare_latest_uses_the_newest_full_rows_whose_runs_exist(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path)
    (tmp_path / "bench").mkdir()
    runs = {name: tmp_path / name for name in ("d", "s")}
    for name, folder in runs.items():
        for stage in ("after", "before"):
            write_eval(folder, stage, [["A"], ["B", "A"]], [0.1, 0.3, 0.6, 0.9])
    rows = [{"recipe": "default", "run": str(runs["d"])}, {"recipe": "seed", "run": str(runs["s"])}]
    (tmp_path / "bench" / "20260101-000000-full.json").write_text(
        json.dumps({"mode": "full", "when": "t", "params": {}, "rows": rows}))
    a_vs_seed, a_vs_base = bench.compare_latest("default", "seed")
    assert a_vs_seed["b"] == str(runs["s"]) and a_vs_base["b"].endswith(":before")
    assert a_vs_seed["mrr@10"]["diff"] == 0
    import shutil
    shutil.rmtree(runs["s"])
    assert bench.compare_latest("default", "seed") == []


@pytest.mark.slow
def test_scale_measures_every_stage_of_a_small_synthetic_catalog(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE_DIR", paths.CACHE_DIR)   # scale_one points it at a fresh folder
    r = scale_one(60, tmp_path / "catalog")
    assert r["statvars"] == 60 and r["index_sentences"] >= 60 and r["pairs"] > 0 and r["topics"] > 0
    assert {"load catalog", "mine pairs", "encode catalog", "hard negatives (k=1)", "rank-diff report"} <= set(r["stages"])
    assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in r["stages"].values())
    assert (tmp_path / "catalog" / "rank_diff.html").is_file() and 0 < r["encode_share_of_forward_limit"] < 2


def test_a_recipe_beside_itself_with_other_knobs():
    from svtune.bench.results import against_seed, variant
    name, params = variant("default:freeze_layers=4,center=0.3", {"size": "tiny", "overrides": {"mnrl_scale": 30}})
    assert name == "default" and params["overrides"] == {"mnrl_scale": 30, "freeze_layers": 4, "center": 0.3}
    assert variant("seed", {"size": "tiny"}) == ("seed", {"size": "tiny", "overrides": {}})
    rows = [{"recipe": "default", "pairs_per_second": 100.0, "time_to_quality_seconds": 10.0, "wall_seconds": 50.0},
            {"recipe": "seed", "pairs_per_second": 40.0, "time_to_quality_seconds": 200.0, "wall_seconds": 400.0}]
    assert against_seed(rows, True) == {"default": {"pairs_per_second": 2.5, "time_to_quality": 20.0, "wall": 8.0}}
    assert against_seed(rows[:1], True) == {}


def test_a_sweep_keeps_a_value_only_when_neither_figure_is_worse_beyond_noise():
    from svtune.bench.sweep import within_noise
    ok = {"mrr@10_ci95": [-0.02, 0.01], "spearman_heldout_ci95": [-0.01, 0.03]}
    assert within_noise(ok)
    assert not within_noise({**ok, "spearman_heldout_ci95": [-0.05, -0.001]})
    assert within_noise({**ok, "mrr@10_ci95": [0.01, 0.04]})       # better is fine
