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

from svtune.data import sources
from svtune.eval.report import display_title

MARKER = "<!-- svtune model card -->"  # publish.py rewrites cards that lack it

# Hugging Face ids and licenses of base models svtune knows by a short name.
HF_IDS = {"all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
          "sentence-transformers/all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}
LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "apache-2.0"}

RETRIEVAL = [("mrr@10", "MRR@10"), ("ndcg@10", "NDCG@10"), ("recall@1", "Recall@1"),
             ("recall@5", "Recall@5"), ("recall@10", "Recall@10")]
PAIRS = [("spearman", "Spearman"), ("pearson", "Pearson")]
# model-index entries: (task type, task name, metrics.json section, metrics, dataset name)
TASKS = [("information-retrieval", "Information Retrieval", "retrieval", RETRIEVAL, "StatVar held-out queries"),
         ("semantic-similarity", "Semantic Similarity", "pairs_heldout", PAIRS, "StatVar held-out sentence pairs")]


def _get(d, *keys, default=None):
    """d[k1][k2]... or default when any level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _num(v) -> bool:
    """A figure (JSON number), not a missing value or a string."""
    return isinstance(v, (int, float))


def _f(v, digits=3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def _arrow(a, b) -> str:
    """'0.718 → 0.766 (+0.048)'; a dash where a figure is missing."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return f"{a:.3f} → {b:.3f} ({b - a:+.3f})"
    return f"{_f(a)} → {_f(b)}"


def base_model_info(config: dict) -> dict:
    """name, hf_id (None for a local folder), license, sha256, verified."""
    bm = config.get("base_model") if isinstance(config.get("base_model"), dict) else {}
    name = bm.get("base_model") or _get(config, "params", "base_model") or "unknown"
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
    for q in (_get(after, "details", "queries") or [])[:n]:
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
                value = _get(metrics, stage, section, key)
                if _num(value):
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


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _data_section(metrics: dict, config: dict) -> list[str]:
    data = metrics.get("data") or {}
    out = ["## Training data", ""]
    cat = f"{data['statvars']} StatVars" if "statvars" in data else "a StatVar catalog"
    src = _get(config, "params", "data_dir")
    out.append(f"Sentence pairs mined from {cat}" + (f" (`{src}`)" if src else "") +
               (f" and {data['topics']} topics" if data.get("topics") else "") +
               ": names, descriptions and alternative phrasings of each StatVar, plus hand-curated pairs.")
    per = data.get("pairs_per_source") or {}
    if per:
        out += [""] + _table(["source", "pairs"], [[f"`{k}`", v] for k, v in per.items()])
    if "pairs" in data:
        out += ["", f"**{data['pairs']} pairs** in all" +
                (f", of which {per[sources.CURATED]} hand-curated pairs" if sources.CURATED in per else "") + "."]
    return out


def _recipe_section(config: dict, metrics: dict) -> list[str]:
    hp = config["recipe"]
    name = hp.get("name") or "unknown"
    train = metrics.get("train") or {}
    out = ["## Training recipe", "", f"Recipe **`{name}`**."]
    if train.get("recipe_notes"):
        out[-1] = f"Recipe **`{name}`**: {train['recipe_notes']}."
    facts = [f"{train['steps']} steps" if "steps" in train else "",
             f"{train['train_seconds']:.0f} s of training" if _num(train.get("train_seconds")) else "",
             f"{train['pairs_per_second']:.0f} pairs/s" if _num(train.get("pairs_per_second")) else "",
             f"precision {train['precision']}" if train.get("precision") else ""]
    if any(facts):
        out += ["", "Training took " + ", ".join(f for f in facts if f) + "."]
    if hp:
        out += ["", "Hyper-parameters actually used:", ""]
        out += _table(["parameter", "value"], [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in hp.items()])
    return out


def _results_section(metrics: dict) -> list[str]:
    b, a = metrics.get("before") or {}, metrics.get("after") or {}
    mrr_b, mrr_a = _get(b, "retrieval", "mrr@10"), _get(a, "retrieval", "mrr@10")
    n_q, n_p = _get(a, "retrieval", "queries"), _get(a, "pairs_heldout", "pairs")
    if not n_q and not n_p:
        out = ["## No held-out evaluation", "", "This run was measured on **no held-out data** (it was trained "
               "with `-p eval_dir none`, or its held-out sets matched nothing in its catalog): nothing here says "
               "whether tuning helped search. Only the collapse checks below were made."]
    else:
        out = ["## Held-out results (base model → tuned)", "", "Measured on held-out data never used in training"
               + (f": {n_q} natural-language queries with their expected StatVars" if n_q else "")
               + (f" and {n_p} scored sentence pairs" if n_p else "") + "."]
    rows = [[label, _arrow(_get(b, "retrieval", k), _get(a, "retrieval", k))] for k, label in RETRIEVAL
            if _get(a, "retrieval", k) is not None]
    rows += [[f"held-out pairs {label}", _arrow(_get(b, "pairs_heldout", k), _get(a, "pairs_heldout", k))]
             for k, label in PAIRS if _get(a, "pairs_heldout", k) is not None]
    rows += [[f"curated pairs {label} (seen in training)",
              _arrow(_get(b, "pairs_curated", k), _get(a, "pairs_curated", k))]
             for k, label in PAIRS if _get(a, "pairs_curated", k) is not None]
    if rows:
        out += [""] + _table(["metric", "before → after (change)"], rows)
    boot = metrics.get("bootstrap") or {}
    if boot:
        out += ["", "### Paired bootstrap", "",
                "The held-out sets are small; resampling them gives a 95% interval for each difference."]
        rows = []
        for k, v in boot.items():
            if not isinstance(v, dict):
                continue
            ci = v.get("diff_ci95") or [None, None]
            rows.append([k, _f(v.get("a")), _f(v.get("b")), f"{v['diff']:+.3f}" if _num(v.get("diff")) else "–",
                         f"[{_f(ci[0])}, {_f(ci[1])}]", _f(v.get("a_wins"), 2), v.get("items", "–")])
        ba, bb = _get(boot, "mrr@10", "a"), _get(boot, "mrr@10", "b")
        tuned_first = all(isinstance(x, (int, float)) for x in (ba, bb, mrr_a, mrr_b)) and \
            abs(ba - mrr_a) < 1e-6 and abs(bb - mrr_b) < 1e-6
        out += [""] + _table(["metric", "A", "B", "A − B", "95% interval", "P(A > B)", "items"], rows)
        out += ["", "A is the tuned model, B the base model." if tuned_first else
                "A and B are the two models the run compared (see metrics.json)."]
    out += ["", "### Collapse checks", "",
            "Fine-tuning can pull every embedding together so that anything matches anything. "
            "Two checks watch for it: the mean cosine of random unrelated pairs, and the best score "
            "a nonsense query gets against the catalog."]
    rows = [["random-pair mean cosine", _arrow(_get(b, "collapse", "random_pair_mean_cosine"),
                                               _get(a, "collapse", "random_pair_mean_cosine"))],
            ["best nonsense-query score",
             _arrow(_get(b, "collapse", "nonsense_max"), _get(a, "collapse", "nonsense_max"))]]
    out += [""] + _table(["check", "before → after"], rows)
    health = metrics.get("health")
    if isinstance(health, dict):
        problems = health.get("problems") or []
        out += ["", "Health check: **passed**." if health.get("ok") and not problems else "Health check: **FAILED**:"]
        out += [f"- {p}" for p in problems]
        out += [f"- not checked: {u}" for u in health.get("unchecked") or []]
    return out


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
    mrr_b, mrr_a = _get(metrics, "before", "retrieval", "mrr@10"), _get(metrics, "after", "retrieval", "mrr@10")

    lines = ["---", fm.to_yaml(), "---", MARKER, "",
             f"# {name}", "",
             f"A [sentence-transformers](https://www.sbert.net) model fine-tuned from `{bm['name']}` so that "
             "natural-language questions (\"how many people are poor\") find the right statistical variables "
             "(StatVars, as in [Data Commons](https://datacommons.org)) in the catalog it was tuned on. "
             "It maps text to dense vectors; compare them by cosine similarity."]
    if isinstance(mrr_a, (int, float)):
        lines += ["", f"On held-out queries, MRR@10 went {_arrow(mrr_b, mrr_a)}."]

    lines += ["", "## Base model", ""]
    link = f"[`{bm['hf_id']}`](https://huggingface.co/{bm['hf_id']})" if bm["hf_id"] else f"`{bm['name']}`"
    lines += [f"- **Model:** {link}",
              f"- **Weights sha256:** `{bm['sha256']}`" if bm["sha256"] else "- **Weights sha256:** not recorded",
              "- **Verified:** yes, the weights matched the official checksum before training" if bm["verified"]
              else "- **Verified:** no (not checked against an official checksum)",
              f"- **License:** {bm['license']} (inherited from the base model)"]

    lines += [""] + _data_section(metrics, config)
    lines += [""] + _recipe_section(config, metrics)
    lines += [""] + _results_section(metrics)

    n_q = _get(metrics, "after", "retrieval", "queries")
    lines += ["", "## Intended use", "",
              "Semantic search over the StatVar catalog this model was tuned on: embed the catalog's StatVar "
              "names and descriptions once, embed a user's question, and rank StatVars by cosine similarity.",
              "", "## Limitations", "",
              "- Tuned on one catalog: StatVars and phrasings far from it may rank no better than with the base model.",
              "- English only.",
              f"- The held-out set is small{f' ({n_q} queries)' if n_q else ''}: differences of a few "
              "hundredths can be noise (see the paired bootstrap, where present).",
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

    commit = _get(config, "environment", "git_commit")
    lines += ["", "## Reproduce", "", "The exact command that produced this run" +
              (f", at svtune commit `{commit}`" if commit else "") + ":", "", "```bash", config["command"], "```", ""]
    return "\n".join(lines)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def write_card(run_dir: str | Path, load_path: str | None = None) -> Path:
    """Write run_dir/model/README.md (replacing the card sentence-transformers saved) and return its path."""
    run_dir = Path(run_dir)
    config = _read_json(run_dir / "config.json")
    metrics = _read_json(run_dir / "metrics.json")
    evals = {k: _read_json(run_dir / f"eval_{k}.json") for k in ("before", "after")}
    name = run_dir.name.removeprefix(".incomplete-")
    out = run_dir / "model" / "README.md"
    out.write_text(card_text(config, metrics, evals, name=name, load_path=load_path), encoding="utf-8")
    return out
