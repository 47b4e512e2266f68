"""The model card: valid front matter with the held-out results, readable Markdown, real widget queries."""

from __future__ import annotations

import copy

import pytest
import yaml

from helpers import COMMAND, CONFIG, EVAL_AFTER, METRICS, NAMES, finished_run
from svtune.ship.card import MARKER, card_text, write_card


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

    run = finished_run(tmp_path, tiny_model_dir)
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
    assert "half that set the threshold" not in body   # an old run: one figure, no claim about halves
    for stage, v in (("before", 0.7), ("after", 0.9)):    # graded on one half, set on the other: both shown
        metrics[stage]["calibration"]["answered@10_calibration_half"] = {"default": 0.5, "calibrated": v}
    _, body = split(card_text(CONFIG, metrics, {}))
    assert "| the same, on the half that set the threshold | 0.700 | 0.900 |" in body
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
