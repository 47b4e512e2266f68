"""The model card: valid front matter with the held-out results, readable Markdown, real widget queries."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

from svtune.ship.card import MARKER, card_text, write_card

COMMAND = "python -m svtune.run.run --size tiny -p recipe default -p seed 7"

CONFIG = {
    "status": "complete",
    "params": {"size": "tiny", "data_dir": "data", "recipe": "default", "base_model": "all-MiniLM-L6-v2",
               "epochs": 1, "batch_size": 16, "learning_rate": 1e-4, "seed": 7, "max_steps": None,
               "precision": "fp32", "eval_dir": "", "teacher": None, "overrides": {}},
    "recipe": {"name": "default", "epochs": 1, "batch_size": 16, "learning_rate": 1e-4, "mnrl_scale": 40.0,
               "center": 0.5},
    "base_model": {"base_model": "all-MiniLM-L6-v2", "path": "/x/model", "sha256": "ab" * 32,
                   "verified": True, "license": "apache-2.0"},
    "inputs_sha256": {"data/curated_input/c.csv": "cd" * 32},
    "environment": {"python": "3.11.7", "platform": "Linux", "cpu": "x86", "cuda": None,
                    "git_commit": "deadbeef", "packages": {"svtune": "0.1.0"}},
    "command": COMMAND,
}


def _eval(mrr, spearman, nonsense):
    return {"retrieval": {"queries": 3, "mrr@10": mrr, "recall@1": mrr - 0.1, "recall@5": 0.8, "recall@10": 0.9,
                          "ndcg@10": mrr + 0.05},
            "pairs_heldout": {"pairs": 3, "spearman": spearman, "pearson": spearman - 0.05,
                              "band_mean_cosine": {"<=0.05": 0.1}, "band_order": {}},
            "pairs_curated": {"pairs": 4, "spearman": 0.7, "pearson": 0.6},
            "collapse": {"random_pair_mean_cosine": 0.2, "nonsense_best": {"random random": nonsense},
                         "nonsense_max": nonsense}}


METRICS = {
    "data": {"statvars": 5, "topics": 2, "pairs": 42,
             "pairs_per_source": {"name~description": 30, "name~alternative": 8, "curated_pair": 4}},
    "before": _eval(0.5, 0.4, 0.3),
    "after": _eval(0.75, 0.6, 0.35),
    "delta": {"retrieval.mrr@10": 0.25},
    "health": {"ok": True, "problems": [], "random_pair_rise": -0.1},
    "train": {"recipe": "default", "steps": 12, "train_seconds": 3.5, "pairs_per_second": 120.0, "precision": "fp32"},
    "wall_time_s": 9.0, "peak_rss_mb": 500.0,
    "bootstrap": {"mrr@10": {"a": 0.75, "b": 0.5, "diff": 0.25, "diff_ci95": [0.05, 0.45], "a_wins": 0.97, "items": 3}},
}

NAMES = {"Count_Person_BelowPovertyLevelInThePast12Months": "People Below Poverty Level",
         "Median_Income_Household": "Median Household Income", "UnemploymentRate_Person": "Unemployment Rate",
         "Count_Person_Female": "Female Population"}
QUERIES = [("how many poor people", ["Count_Person_BelowPovertyLevelInThePast12Months"],
            ["Count_Person_BelowPovertyLevelInThePast12Months", "Median_Income_Household", "Count_Person_Female"]),
           ("jobless share", ["UnemploymentRate_Person"],
            ["Median_Income_Household", "Count_Person_Female", "Count_Person_BelowPovertyLevelInThePast12Months"]),
           ("women count", ["Count_Person_Female"], ["Count_Person_Female", "UnemploymentRate_Person"]),
           ("fourth query never shown", ["Count_Person_Female"], ["Count_Person_Female"])]
EVAL_AFTER = {"details": {"queries": [{"query": q, "expected": e, "top": [[d, 0.9 - 0.1 * i] for i, d in enumerate(t)]}
                                      for q, e, t in QUERIES],
                          "pairs_heldout": [{"sentence_1": "poverty", "sentence_2": "crime", "label": 0.01,
                                             "cosine": 0.1}]},
              "names": NAMES}


def make_run(root: Path, model_dir: Path, name: str = "20260101-000000-000000-tiny-all-MiniLM-L6-v2",
             config: dict | None = None, metrics: dict | None = None, evals: bool = True) -> Path:
    """A finished run folder: the tiny model as model/ plus hand-written JSON files."""
    run = root / name
    shutil.copytree(model_dir, run / "model")
    (run / "config.json").write_text(json.dumps(CONFIG if config is None else config))
    if metrics is not False:
        (run / "metrics.json").write_text(json.dumps(METRICS if metrics is None else metrics))
    if evals:
        (run / "eval_after.json").write_text(json.dumps(EVAL_AFTER))
        (run / "eval_before.json").write_text(json.dumps(EVAL_AFTER))
    return run


def split(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def test_front_matter_is_valid_yaml_with_base_license_and_results():
    fm, _ = split(card_text(CONFIG, METRICS, {"after": EVAL_AFTER}, name="run-x"))
    assert fm["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert fm["license"] == "apache-2.0"
    assert fm["language"] == "en"
    assert fm["library_name"] == "sentence-transformers"
    assert fm["pipeline_tag"] == "sentence-similarity"
    assert {"sentence-transformers", "sentence-similarity", "feature-extraction", "statvar-search"} <= set(fm["tags"])
    (entry,) = fm["model-index"]
    assert entry["name"] == "run-x"
    by_task = {r["task"]["type"]: {m["type"]: m["value"] for m in r["metrics"]} for r in entry["results"]}
    ir, sts = by_task["information-retrieval"], by_task["semantic-similarity"]
    assert ir["mrr@10"] == METRICS["after"]["retrieval"]["mrr@10"]
    assert ir["base_mrr@10"] == METRICS["before"]["retrieval"]["mrr@10"]
    assert ir["ndcg@10"] == METRICS["after"]["retrieval"]["ndcg@10"]
    assert {"recall@1", "recall@10"} <= set(ir)
    assert sts["spearman"] == 0.6 and sts["base_spearman"] == 0.4
    assert sts["pearson"] == pytest.approx(0.55)
    ir_entry = next(r for r in entry["results"] if r["task"]["type"] == "information-retrieval")
    assert ir_entry["task"]["name"] == "Information Retrieval"
    assert ir_entry["dataset"] == {"name": "StatVar held-out queries", "type": "statvar-held-out-queries", "split": "test"}
    names = {m["type"]: m["name"] for m in ir_entry["metrics"]}
    assert names["mrr@10"] == "MRR@10" and names["base_mrr@10"] == "MRR@10 (all-MiniLM-L6-v2, before tuning)"


def test_hub_reads_the_front_matter_back():
    from huggingface_hub import ModelCard
    card = ModelCard(card_text(CONFIG, METRICS, {"after": EVAL_AFTER}, name="run-x"))
    assert card.data.model_name == "run-x" and card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    got = {(r.task_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert got[("information-retrieval", "mrr@10")] == 0.75 and got[("information-retrieval", "base_mrr@10")] == 0.5
    assert got[("semantic-similarity", "base_spearman")] == 0.4
    assert all(r.dataset_split == "test" for r in card.data.eval_results)
    assert card.text.lstrip().startswith(MARKER)


def test_no_results_no_model_index():
    fm, _ = split(card_text(CONFIG, {}, {}, name="run-x"))
    assert "model-index" not in fm and "model_name" not in fm and "widget" not in fm
    assert fm["license"] == "apache-2.0" and fm["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_widget_uses_real_heldout_queries_and_their_top_results():
    fm, _ = split(card_text(CONFIG, METRICS, {"after": EVAL_AFTER}))
    widget = fm["widget"]
    assert [w["source_sentence"] for w in widget] == ["how many poor people", "jobless share", "women count"]
    assert widget[0]["sentences"] == ["People Below Poverty Level", "Median Household Income", "Female Population"]
    # the expected StatVar is shown when the tuned model missed it in the top 3
    assert widget[1]["sentences"][-1] == "Unemployment Rate"
    real = {q["query"] for q in EVAL_AFTER["details"]["queries"]}
    assert all(w["source_sentence"] in real for w in widget)
    assert all(s in NAMES.values() for w in widget for s in w["sentences"])
    unnamed = copy.deepcopy(EVAL_AFTER)
    del unnamed["names"]["Count_Person_Female"]
    fm, _ = split(card_text(CONFIG, METRICS, {"after": unnamed}))
    assert fm["widget"][0]["sentences"][-1] == "Count_Person_Female"    # no name: the dcid (report.display_title)


def test_markdown_shows_before_after_bootstrap_and_reproduce_command():
    _, body = split(card_text(CONFIG, METRICS, {"after": EVAL_AFTER}, name="run-x"))
    assert MARKER in body
    assert "| MRR@10 | 0.500 → 0.750 (+0.250) |" in body
    assert "| held-out pairs Spearman | 0.400 → 0.600 (+0.200) |" in body
    assert "best nonsense-query score | 0.300 → 0.350 (+0.050)" in body
    assert "[0.050, 0.450]" in body and "A is the tuned model" in body
    assert f"```bash\n{COMMAND}\n```" in body
    assert "ab" * 32 in body and "**Verified:** yes" in body
    assert "| `name~alternative` | 8 |" in body and "4 hand-curated pairs" in body and "2 topics" in body
    assert "| `mnrl_scale` | `40.0` |" in body
    assert "Health check: **passed**" in body
    assert 'SentenceTransformer("outputs/runs/run-x/model")' in body
    assert '["how many poor people", "People Below Poverty Level"]' in body
    for section in ("## Base model", "## Training data", "## Training recipe", "## Intended use",
                    "## Limitations", "## How to load", "## Reproduce"):
        assert section in body


def test_failed_health_lists_its_problems():
    m = copy.deepcopy(METRICS)
    m["health"] = {"ok": False, "problems": ["a nonsense query scores 0.712 >= 0.5"], "random_pair_rise": 0.3}
    body = card_text(CONFIG, m, {})
    assert "Health check: **FAILED**" in body
    assert "- a nonsense query scores 0.712 >= 0.5" in body


def test_other_base_models():
    cfg = copy.deepcopy(CONFIG)
    cfg["base_model"] = {"base_model": "/models/mine", "path": "/models/mine", "sha256": None, "verified": False,
                         "license": None}
    fm, body = split(card_text(cfg, METRICS, {}))
    assert "base_model" not in fm and fm["license"] == "unknown"
    assert "**Verified:** no" in body
    cfg["base_model"] = {"base_model": "BAAI/bge-small-en-v1.5", "license": "mit"}
    fm, _ = split(card_text(cfg, METRICS, {}))
    assert fm["base_model"] == "BAAI/bge-small-en-v1.5" and fm["license"] == "mit"


def test_write_card_replaces_the_default_card_and_model_still_loads(tmp_path, tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    run = make_run(tmp_path, tiny_model_dir)
    assert "# SentenceTransformer" in (run / "model" / "README.md").read_text()  # the card sentence-transformers saved
    path = write_card(run)
    assert path == run / "model" / "README.md"
    fm, body = split(path.read_text(encoding="utf-8"))
    assert fm["model-index"][0]["name"] == run.name
    assert MARKER in body and "# SentenceTransformer" not in body
    emb = SentenceTransformer(str(run / "model"), device="cpu").encode(["poverty rate", "median income"])
    assert emb.shape == (2, 32)


def test_the_card_says_which_threshold_to_serve_with_and_what_the_default_costs():
    cal = {"threshold": 0.42, "default": 0.5, "rule": "midpoint between ...", "nonsense_queries": 29,
           "nonsense_max": 0.38, "nonsense_above_default": 0}
    metrics = copy.deepcopy(METRICS)
    metrics["before"]["calibration"] = {**cal, "threshold": 0.55, "answered@10": {"default": 0.70, "calibrated": 0.66}}
    metrics["after"]["calibration"] = {**cal, "answered@10": {"default": 0.61, "calibrated": 0.80}}
    _, body = split(card_text(CONFIG, metrics, {}))
    assert "## Serving threshold" in body and "`score_threshold: 0.420`" in body
    assert "Keeping 0.5 loses 19.0% of the held-out queries' answers" in body
    assert "| answered@10 at the server's default 0.5 | 0.700 | 0.610 |" in body
    _, plain = split(card_text(CONFIG, METRICS, {}))
    assert "Serving threshold" not in plain          # no calibration recorded: no claim


def test_a_run_without_held_out_sets_says_so_and_claims_nothing():
    metrics = copy.deepcopy(METRICS)
    for stage in ("before", "after"):
        metrics[stage]["retrieval"] = {"queries": 0, "mrr@10": None}
        metrics[stage]["pairs_heldout"] = {"pairs": 0}
    metrics["bootstrap"] = {"a": "tuned", "b": "base"}      # nothing to resample
    _, body = split(card_text(CONFIG, metrics, {}))
    assert "## No held-out evaluation" in body and "## Held-out results" not in body
    assert "Paired bootstrap" not in body and "The held-out set is small" not in body
    assert "No held-out evaluation was made" in body


def test_the_card_names_the_teacher_and_what_it_was_tuned_from():
    config = copy.deepcopy(CONFIG)
    config["params"]["teacher"] = "outputs/runs/20261205-193735-small-all-mpnet-base-v2"
    metrics = {**copy.deepcopy(METRICS), "teacher": {"tuned_from": "all-mpnet-base-v2"}}
    text = card_text(config, metrics)
    assert ("Teacher: `outputs/runs/20261205-193735-small-all-mpnet-base-v2` (a run: all-mpnet-base-v2 tuned on "
            "this catalog first)") in text
    assert "Teacher:" not in card_text(CONFIG, METRICS)
