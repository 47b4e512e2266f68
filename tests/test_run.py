"""A whole run with a tiny random BERT: each stage lowers its loss, the run folder is complete and named once."""

from __future__ import annotations

import json

import pytest

from svtune import paths
from svtune.run import Run
from svtune.run.folder import create_run_dir, final_dir, mark_failed
from svtune.runs import finished_runs


def run_pipeline(model_dir, data, **params):
    run = Run.start(data_dir=str(data), base_model=str(model_dir), size="small", **params)
    return run, run.run_all()


@pytest.mark.slow
def test_default_recipe_end_to_end(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    # A second, scored stage too (the twostage recipe's), so both stages are checked end to end.
    run, folder = run_pipeline(tiny_model_dir, tiny_data, epochs=30, batch_size=4, learning_rate=5e-3,
                               overrides={"warmup": 0, "scored_epochs": 20, "scored_batch_size": 4,
                                          "scored_learning_rate": 2e-3})
    assert folder.parent == tmp_path / "runs" and not folder.name.startswith(".")
    assert {"model", "config.json", "pairs.csv", "metrics.json", "rank_diff.html",
            "eval_before.json", "eval_after.json"} <= {p.name for p in folder.iterdir()}
    m = json.loads((folder / "metrics.json").read_text())
    stages = [s["stage"] for s in m["train"]["stages"]]
    assert stages == ["in-batch negatives + scored pairs", "scored pairs"]
    for stage in stages:     # each stage lowers its own objective
        losses = [h["loss"] for h in m["train"]["loss_history"] if h["stage"] == stage]
        quarter = max(1, len(losses) // 4)
        assert sum(losses[-quarter:]) / quarter < 0.8 * sum(losses[:quarter]) / quarter, stage
    assert m["data"]["pairs_per_source"]["curated_pair"] == 4
    t = m["train"]
    assert t["pairs_per_second"] == pytest.approx(t["pairs_trained"] / t["train_seconds"], rel=0.01)
    assert m["peak_rss_mb"] > 200        # torch and a model are loaded: a real measurement, not a default
    for stage in ("before", "after"):
        assert m[stage]["retrieval"]["queries"] == 3 and m[stage]["pairs_heldout"]["pairs"] == 3
    assert m["delta"]["retrieval.mrr@10"] == pytest.approx(m["after"]["retrieval"]["mrr@10"]
                                                           - m["before"]["retrieval"]["mrr@10"])
    assert m["health"]["ok"] is (not m["health"]["problems"])
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["status"] == "complete" and cfg["params"]["recipe"] == "default"
    assert cfg["recipe"]["scored_epochs"] == 20 and cfg["recipe"]["mnrl_scale"] == 40.0   # the record trained
    assert cfg["command"].startswith("python -m svtune train --size small") and "-o scored_epochs 20" in cfg["command"]
    assert len(cfg["inputs_sha256"]) == 3 and cfg["environment"]["packages"]["torch"]

    from sentence_transformers import SentenceTransformer
    emb = SentenceTransformer(str(folder / "model"), device="cpu").encode(["poverty rate", "median income"])
    assert emb.shape == (2, 32)


@pytest.mark.slow
def test_seed_recipe_and_a_growing_held_out_set(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
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


def test_run_folders_are_unique_and_renamed_in_one_place(tmp_path):
    runs = tmp_path / "runs"
    first, second = create_run_dir("tiny", "m", runs), create_run_dir("tiny", "m", runs)
    assert first != second and first.name.startswith(".incomplete-") and second.name.endswith("-2")
    assert final_dir(first).name == first.name.removeprefix(".incomplete-")
    (first / "config.json").write_text('{"status": "running"}')
    failed = mark_failed(first, "interrupted (Ctrl-C)")
    assert failed.name == final_dir(first).name + ".failed" and not first.exists()
    doc = json.loads((failed / "config.json").read_text())
    assert doc["status"] == "failed" and doc["reason"] == "interrupted (Ctrl-C)"
    third = create_run_dir("tiny", "m", runs)            # the failed name is taken too
    assert third.name not in (first.name, second.name)
    assert finished_runs(runs) == []                     # nothing complete yet


def tiny_params(tiny_model_dir, tiny_data, **extra):
    return {**dict(data_dir=str(tiny_data), base_model=str(tiny_model_dir), size="small", epochs=3, batch_size=4,
                   learning_rate=5e-3), **extra}


def embeddings(folder):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(folder / "model"), device="cpu").encode(["poverty rate", "median income", "women"])


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_model(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    import os
    import signal

    import numpy as np

    from svtune.train import fit as training
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(training, "CHECKPOINT_SECONDS", 0.0)          # a checkpoint after every step
    params = tiny_params(tiny_model_dir, tiny_data, overrides={"scored_epochs": 1, "scored_batch_size": 4})
    whole = Run.start(**params).run_all()

    class CtrlC(training.ConsoleProgress):                               # Ctrl-C during step 5 of stage 1
        def on_step_begin(self, args, state, control, **kwargs):
            if self.stage.startswith("in-batch") and state.global_step == 4:
                os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(training, "ConsoleProgress", CtrlC)
    run = Run.start(**params)
    run.load_data()
    run.evaluate("before")
    with pytest.raises(KeyboardInterrupt):
        run.train()
    assert (run.dir / ".checkpoints" / "stage-0" / "checkpoint-5" / "trainer_state.json").is_file()
    failed = mark_failed(run.dir, "interrupted (Ctrl-C)")
    monkeypatch.setattr(training, "ConsoleProgress", CtrlC.__mro__[1])
    resumed = Run.start(resume=str(failed))
    folder = resumed.run_all()
    stages = json.loads((folder / "metrics.json").read_text())["train"]["stages"]
    assert stages[0]["resumed_from"] == "checkpoint-5" and stages[1]["resumed_from"] is None
    assert not (folder / ".checkpoints").exists() and not folder.name.startswith(".")
    np.testing.assert_allclose(embeddings(folder), embeddings(whole), atol=1e-5)
    with pytest.raises(Exception, match="this run is complete"):
        Run.start(resume=str(folder))


@pytest.mark.slow
def test_a_killed_run_resumes_and_two_runs_at_once_both_finish(tiny_model_dir, tiny_data, tmp_path):
    import os
    import subprocess
    import sys
    import time

    import numpy as np
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import json, sys\nfrom svtune.train import fit as training\nfrom svtune.run import Run\n"
        "training.CHECKPOINT_SECONDS = 0.0\n"
        "print(Run.start(**json.loads(sys.argv[1])).run_all())\n")
    env = {**os.environ, "SVTUNE_OUTPUTS": str(tmp_path / "out")}
    params = json.dumps(tiny_params(tiny_model_dir, tiny_data, epochs=6))
    two = [subprocess.Popen([sys.executable, str(driver), params], env=env, stdout=subprocess.PIPE, text=True)
           for _ in range(2)]                                           # started in the same second
    finished = [p.communicate(timeout=600)[0].strip().splitlines()[-1] for p in two]
    assert all(p.returncode == 0 for p in two) and len(set(finished)) == 2
    victim = subprocess.Popen([sys.executable, str(driver), params], env=env, stdout=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "out" / "runs").glob(".incomplete-*/.checkpoints/stage-0/checkpoint-*/trainer_state.json")):
        time.sleep(0.05)
    victim.kill()                                                       # SIGKILL: no chance to clean up
    victim.wait()
    (work,) = (tmp_path / "out" / "runs").glob(".incomplete-*")
    out = subprocess.run([sys.executable, "-c", "import sys; from svtune.run import Run; "
                          "print(Run.start(resume=sys.argv[1]).run_all())", str(work)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    from pathlib import Path
    resumed = Path(out.stdout.strip().splitlines()[-1])
    # `auto` is decided once per machine and a resumed run keeps its own: all three train in one precision
    precisions = {json.loads((f / "config.json").read_text())["precision"] for f in (resumed, *map(Path, finished))}
    assert len(precisions) == 1, precisions
    np.testing.assert_allclose(embeddings(resumed), embeddings(Path(finished[0])), atol=1e-5)
