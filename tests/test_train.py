"""End-to-end training with a tiny random BERT: loss goes down, the run folder is complete."""

from __future__ import annotations

import json

import pytest

from svtune import paths
from svtune.train import Run


def run_pipeline(model_dir, data, **params):
    run = Run.start(data_dir=str(data), base_model=str(model_dir), size="small", **params)
    return run, run.run_all()


@pytest.mark.slow
def test_default_recipe_end_to_end(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    # A second, scored stage too (the twostage recipe's), so both stages are checked end to end.
    run, folder = run_pipeline(tiny_model_dir, tiny_data, epochs=30, batch_size=4, learning_rate=5e-3,
                               warmup_steps=0, scored_epochs=20, scored_batch_size=4, scored_learning_rate=2e-3)
    assert folder.parent == tmp_path / "runs" and not folder.name.startswith(".")
    assert {"model", "config.json", "pairs.csv", "metrics.json", "rank_diff.html",
            "eval_before.json", "eval_after.json"} <= {p.name for p in folder.iterdir()}
    m = json.loads((folder / "metrics.json").read_text())
    stages = [s["stage"] for s in m["train"]["stages"]]
    assert stages == ["in-batch negatives", "scored pairs"]
    for stage in stages:     # each stage lowers its own objective
        losses = [h["loss"] for h in m["train"]["loss_history"] if h["stage"] == stage]
        quarter = max(1, len(losses) // 4)
        assert sum(losses[-quarter:]) / quarter < 0.8 * sum(losses[:quarter]) / quarter, stage
    assert m["data"]["pairs_per_source"]["curated_pair"] == 4
    assert m["train"]["pairs_per_second"] > 0 and m["peak_rss_mb"] > 0
    for stage in ("before", "after"):
        assert m[stage]["retrieval"]["queries"] == 3 and m[stage]["pairs_heldout"]["pairs"] == 3
    assert "retrieval.mrr@10" in m["delta"] and "ok" in m["health"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["status"] == "complete" and cfg["params"]["recipe"] == "default"
    assert len(cfg["inputs_sha256"]) == 3 and cfg["environment"]["packages"]["torch"]

    from sentence_transformers import SentenceTransformer
    emb = SentenceTransformer(str(folder / "model"), device="cpu").encode(["poverty rate", "median income"])
    assert emb.shape == (2, 32)


@pytest.mark.slow
def test_seed_recipe_and_interrupted_run(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    run, folder = run_pipeline(tiny_model_dir, tiny_data, recipe="seed", max_steps=2)
    m = json.loads((folder / "metrics.json").read_text())
    assert m["train"]["recipe"] == "seed" and m["train"]["steps"] == 2 and m["train"]["precision"] == "fp32"
    # The held-out set grows: the stored evaluations keep the old pairs, a fresh one sees the new.
    from svtune import bench
    assert bench.compare(str(folder), f"{folder}:before")["spearman_heldout"]["items"] == 3
    with (tiny_data / "eval" / "pairs.csv").open("a") as f:
        f.write("girls,young women,0.9\n")
    out = bench.compare(str(folder), f"{folder}:before", fresh=True)
    assert out["spearman_heldout"]["items"] == 4 and out["mrr@10"]["items"] == 3
    # A run that dies before finish() stays hidden under an .incomplete- name.
    broken = Run.start(data_dir=str(tiny_data), base_model=str(tiny_model_dir), size="small")
    broken.load_data()
    names = [p.name for p in (tmp_path / "runs").iterdir()]
    assert any(n.startswith(paths.INCOMPLETE_PREFIX) for n in names)
    assert paths.newest_run(tmp_path / "runs") == folder
