"""A model card for a finished run: `model/README.md` in the Hugging Face format.

    from svtune.ship.card import write_card
    write_card("outputs/runs/<run>")       # after config.json, metrics.json and eval_after.json exist

The card is YAML front matter (base model, license, widget examples taken from real
held-out queries, a model-index with the held-out results) followed by Markdown: what
the model is, the base model and its checksum, the training data, the recipe, the
held-out results before -> after, intended use and limitations, how to load it and
the command that reproduces the run. `card_text` is the pure part, for tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from svtune import runs
from svtune.eval.headline import MRR, PAIRS, RETRIEVAL, get
from svtune.eval.report import display_title
from svtune.eval.served import card_lines
from svtune.ship.card_sections import (
    PAIR_METRICS,
    RETRIEVAL_METRICS,
    arrow,
    data_section,
    is_figure,
    recipe_section,
    results_section,
    serving_section,
)

MARKER = "<!-- svtune model card -->"  # publish.py rewrites cards that lack it

# Hugging Face ids and licenses of base models svtune knows by a short name.
HF_IDS = {"all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
          "sentence-transformers/all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}
LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "apache-2.0"}

# model-index entries: (task type, task name, metrics.json section, metrics, dataset name)
TASKS = [("information-retrieval", "Information Retrieval", RETRIEVAL, RETRIEVAL_METRICS, "StatVar held-out queries"),
         ("semantic-similarity", "Semantic Similarity", PAIRS, PAIR_METRICS, "StatVar held-out sentence pairs")]


def base_model_info(config: dict) -> dict:
    """name, hf_id (None for a local folder), license, sha256, verified."""
    bm = config.get("base_model") if isinstance(config.get("base_model"), dict) else {}
    name = bm.get("base_model") or get(config, "params", "base_model") or "unknown"
    hf_id = HF_IDS.get(str(name).lower())
    if hf_id is None and "/" in str(name) and not str(name).startswith((".", "/", "~")):
        hf_id = str(name)  # already a Hugging Face id
    license_ = bm.get("license") or LICENSES.get(hf_id or "") or "unknown"
    return {"name": name, "hf_id": hf_id, "license": license_, "sha256": bm.get("sha256"),
            "verified": bool(bm.get("verified"))}


def widget(evals: dict, n: int = 3, per_query: int = 3) -> list[dict]:
    """The first held-out queries, each with the names of its top results from the tuned
    model (plus the expected StatVar when it is not among them)."""
    after = evals.get("after") or {}
    names = after.get("names") or {}
    out = []
    for q in (get(after, "details", "queries") or [])[:n]:
        dcids = [t[0] for t in (q.get("top") or [])[:per_query]]
        dcids += [d for d in (q.get("expected") or [])[:1] if d not in dcids]
        sentences = list(dict.fromkeys(display_title(names, d) for d in dcids))
        if q.get("query") and sentences:
            out.append({"source_sentence": q["query"], "sentences": sentences})
    return out


def eval_results(metrics: dict, base: str) -> list[EvalResult]:
    """Held-out results for the Hugging Face model-index: the tuned model's figures under the
    metric's own type, the base model's under `base_<type>`."""
    out = []
    for task, title, section, keys, dataset in TASKS:
        for key, label in keys:
            before = f"{label} ({base}, before tuning)"
            for stage, kind, metric in (("after", key, label), ("before", f"base_{key}", before)):
                value = get(metrics, stage, section, key)
                if is_figure(value):
                    out.append(EvalResult(task_type=task, task_name=title, dataset_name=dataset,
                                          dataset_type=dataset.lower().replace(" ", "-"), dataset_split="test",
                                          metric_type=kind, metric_value=float(value), metric_name=metric))
    return out


def front_matter(config: dict, metrics: dict, evals: dict, name: str) -> ModelCardData:
    """The card's YAML metadata; huggingface_hub turns `eval_results` into the model-index."""
    bm = base_model_info(config)
    results = eval_results(metrics, bm["name"])
    # model_name only with results: without them ModelCardData would write it as a plain `model_name` key
    return ModelCardData(base_model=bm["hf_id"], license=bm["license"], language="en",
                         library_name="sentence-transformers", pipeline_tag="sentence-similarity",
                         tags=["sentence-transformers", "sentence-similarity", "feature-extraction", "statvar-search"],
                         widget=widget(evals) or None, model_name=name if results else None,
                         eval_results=results or None)


def card_text(config: dict, metrics: dict, evals: dict | None = None, name: str | None = None,
              load_path: str | None = None) -> str:
    """The whole card. `evals` is {"before": eval_before.json, "after": eval_after.json} (either may
    be missing); `name` the run folder's name; `load_path` what to pass to SentenceTransformer in
    the usage example (a Hub id when publishing; default: the run's model folder)."""
    evals = evals or {}
    bm = base_model_info(config)
    name = name or f"{bm['name'].split('/')[-1]}-statvar-search"
    load_path = load_path or f"outputs/runs/{name}/model"
    fm = front_matter(config, metrics, evals, name)
    mrr_b, mrr_a = get(metrics, "before", RETRIEVAL, MRR), get(metrics, "after", RETRIEVAL, MRR)

    lines = ["---", fm.to_yaml(), "---", MARKER, "",
             f"# {name}", "",
             f"A [sentence-transformers](https://www.sbert.net) model fine-tuned from `{bm['name']}` so that "
             "natural-language questions (\"how many people are poor\") find the right statistical variables "
             "(StatVars, as in [Data Commons](https://datacommons.org)) in the catalog it was tuned on. "
             "It maps text to dense vectors; compare them by cosine similarity."]
    if isinstance(mrr_a, (int, float)):
        lines += ["", f"On held-out queries, MRR@10 went {arrow(mrr_b, mrr_a)}."]

    lines += ["", "## Base model", ""]
    link = f"[`{bm['hf_id']}`](https://huggingface.co/{bm['hf_id']})" if bm["hf_id"] else f"`{bm['name']}`"
    lines += [f"- **Model:** {link}",
              f"- **Weights sha256:** `{bm['sha256']}`" if bm["sha256"] else "- **Weights sha256:** not recorded",
              "- **Verified:** yes, the weights matched the official checksum before training" if bm["verified"]
              else "- **Verified:** no (not checked against an official checksum)",
              f"- **License:** {bm['license']} (inherited from the base model)"]

    lines += [""] + data_section(metrics, config)
    lines += [""] + recipe_section(config, metrics)
    if metrics.get("served"):   # a custom DC served beside Data Commons: the search its users get, first
        lines += card_lines(metrics["served"])
    lines += [""] + results_section(metrics)
    lines += serving_section(metrics)

    n_q = get(metrics, "after", RETRIEVAL, "queries")
    n_p = get(metrics, "after", PAIRS, "pairs")
    lines += ["", "## Intended use", "",
              "Semantic search over the StatVar catalog this model was tuned on: embed the catalog's StatVar "
              "names and descriptions once, embed a user's question, and rank StatVars by cosine similarity.",
              "", "## Limitations", "",
              "- Tuned on one catalog: StatVars and phrasings far from it may rank no better than with the base model.",
              "- English only.",
              (f"- The held-out set is small{f' ({n_q} queries)' if n_q else ''}: differences of a few "
               "hundredths can be noise (see the paired bootstrap, where present)." if n_q or n_p else
               "- No held-out evaluation was made: nothing here shows that tuning helped search."),
              "- Fine-tuning can collapse the embedding space; the collapse checks above cover random pairs and a "
              "few nonsense queries only, so keep a score threshold tuned on your own data.",
              "- Not meant as a general-purpose sentence embedding model."]

    ex = widget(evals, n=1, per_query=1)
    q, s = ((ex[0]["source_sentence"], ex[0]["sentences"][0]) if ex
            else ("how many people are poor", "People Below Poverty Level"))
    lines += ["", "## How to load", "", "```python",
              "from sentence_transformers import SentenceTransformer",
              f"model = SentenceTransformer({json.dumps(load_path)})",
              f"emb = model.encode({json.dumps([q, s], ensure_ascii=False)})",
              "print(model.similarity(emb[:1], emb[1:]))", "```"]

    commit = get(config, "environment", "git_commit")
    lines += ["", "## Reproduce", "", "The exact command that produced this run" +
              (f", at svtune commit `{commit}`" if commit else "") + ":", "", "```bash", config["command"], "```", ""]
    return "\n".join(lines)


def write_card(run_dir: str | Path, load_path: str | None = None) -> Path:
    """Write run_dir/model/README.md (replacing the card sentence-transformers saved) and return its path."""
    run_dir = Path(run_dir)
    found = runs.read_all(run_dir)
    evals = {k: found[k] for k in runs.EVALS}
    name = run_dir.name.removeprefix(".incomplete-")
    out = run_dir / runs.MODEL / "README.md"
    out.write_text(card_text(found["config"], found["metrics"], evals, name=name, load_path=load_path),
                   encoding="utf-8")
    return out
