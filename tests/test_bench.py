"""Saved benchmark results: newest row per recipe, every full run labelled by its knobs, the trade-off plot."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

from svtune import bench, paths, plots  # noqa: E402


def row(recipe, spearman, nonsense, healthy=True):
    return {"recipe": recipe, "spearman_heldout": [0.62, spearman], "nonsense_max": [0.34, nonsense],
            "healthy": healthy}


def test_saved_results_are_merged_and_labelled(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path)
    d = tmp_path / "bench"
    d.mkdir()
    (d / "20260101-000000-full.json").write_text(json.dumps(
        {"mode": "full", "when": "t1", "params": {"size": "small"}, "rows": [row("default", 0.66, 0.39), row("seed", 0.76, 0.56, False)]}))
    (d / "20260102-000000-full.json").write_text(json.dumps(
        {"mode": "full", "when": "t2", "params": {"size": "small"}, "rows": [row("default", 0.72, 0.47)]}))
    (d / "sweep-s40.json").write_text(json.dumps(
        {"mode": "full", "when": "t3", "params": {"size": "small", "mnrl_scale": 40}, "rows": [row("default", 0.72, 0.51, False)]}))
    (d / "20260103-000000-speed.json").write_text(json.dumps({"mode": "speed", "when": "t4", "rows": []}))

    latest = {r["recipe"]: r for r in bench.latest("full")["rows"]}
    assert latest["default"]["measured"] == "t2" and latest["seed"]["measured"] == "t1"   # newest per recipe
    assert bench.latest("speed")["when"] == "t4"

    rows = bench.all_full_rows()
    assert [r["label"] for r in rows] == ["default", "seed", "default", "default mnrl_scale=40"]
    fig = plots.quality_vs_health(rows)
    assert len(fig.axes[0].collections) == len(rows) + 1          # one point per run, plus the base model
