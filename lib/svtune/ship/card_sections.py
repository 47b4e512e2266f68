"""The Markdown sections of a run's model card: training data, recipe, held-out results, serving
threshold (card.py assembles them with the front matter)."""

from __future__ import annotations

import json

from svtune.data import sources
from svtune.eval.headline import COLLAPSE, CURATED, MRR, PAIRS, RETRIEVAL, SPEARMAN, get

# (key in its section, label) of the figures the card shows
RETRIEVAL_METRICS = [(MRR, "MRR@10"), ("ndcg@10", "NDCG@10"), ("recall@1", "Recall@1"),
                     ("recall@5", "Recall@5"), ("recall@10", "Recall@10")]
PAIR_METRICS = [(SPEARMAN, "Spearman"), ("pearson", "Pearson")]


def is_figure(v) -> bool:
    """A figure (JSON number), not a missing value or a string."""
    return isinstance(v, (int, float))


def _f(v, digits=3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def arrow(a, b) -> str:
    """'0.718 → 0.766 (+0.048)'; a dash where a figure is missing."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return f"{a:.3f} → {b:.3f} ({b - a:+.3f})"
    return f"{_f(a)} → {_f(b)}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def data_section(metrics: dict, config: dict) -> list[str]:
    data = metrics.get("data") or {}
    out = ["## Training data", ""]
    cat = f"{data['statvars']} StatVars" if "statvars" in data else "a StatVar catalog"
    src = get(config, "params", "data_dir")
    out.append(f"Sentence pairs mined from {cat}" + (f" (`{src}`)" if src else "") +
               (f" and {data['topics']} topics" if data.get("topics") else "") +
               ": names, descriptions and alternative phrasings of each StatVar, plus hand-curated pairs.")
    per = data.get("pairs_per_source") or {}
    if per:
        out += [""] + _table(["source", "pairs"], [[f"`{k}`", v] for k, v in per.items()])
    if "pairs" in data:
        out += ["", f"**{data['pairs']} pairs** in all" +
                (f", of which {per[sources.CURATED]} hand-curated pairs" if sources.CURATED in per else "") + "."]
    if data.get("heldout_shared"):   # counted at load time (data/leaks.py); whole held-out pairs never train
        out += ["", f"{data['heldout_shared']} hand-curated pair(s) share a text with a held-out pair (none is a "
                "held-out pair or holds a held-out query), so the held-out pairs are not wholly unseen."]
    return out


def recipe_section(config: dict, metrics: dict) -> list[str]:
    hp = config["recipe"]
    name = hp.get("name") or "unknown"
    train = metrics.get("train") or {}
    out = ["## Training recipe", "", f"Recipe **`{name}`**."]
    if train.get("recipe_notes"):
        out[-1] = f"Recipe **`{name}`**: {train['recipe_notes']}."
    facts = [f"{train['steps']} steps" if "steps" in train else "",
             f"{train['train_seconds']:.0f} s of training" if is_figure(train.get("train_seconds")) else "",
             f"{train['pairs_per_second']:.0f} pairs/s" if is_figure(train.get("pairs_per_second")) else "",
             f"precision {train['precision']}" if train.get("precision") else ""]
    if any(facts):
        out += ["", "Training took " + ", ".join(f for f in facts if f) + "."]
    out += _teacher_lines(config, metrics)
    if hp:
        out += ["", "Hyper-parameters actually used:", ""]
        out += _table(["parameter", "value"], [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in hp.items()])
    return out


def _teacher_lines(config: dict, metrics: dict) -> list[str]:
    """Which teacher the model learnt from (a run folder: a teacher tuned on the same catalog)."""
    teacher = (config.get("params") or {}).get("teacher")
    if not teacher:
        return []
    base = get(metrics, "teacher", "tuned_from", default="")
    tuned = f" (a run: {base} tuned on this catalog first)" if base else ""
    return ["", f"Teacher: `{teacher}`{tuned}; its grades and embeddings are in the knobs `teacher_*` and "
                "`*_distil` below."]


def serving_section(metrics: dict) -> list[str]:
    """The score threshold to serve with (eval/threshold.py) and what the server's default would do."""
    b, a = (metrics.get(s, {}).get("calibration") for s in ("before", "after"))
    if not a or not b:
        return []
    t, d = a["threshold"], a["default"]
    kept, lost = a["answered@10"]["calibrated"], a["answered@10"]["default"]
    verdict = (f"Keeping {d} loses {kept - lost:.1%} of the held-out queries' answers"
               if kept > lost else f"Keeping {d} answers {lost - kept:.1%} more held-out queries, but "
               f"{a['nonsense_above_default']} of {a['nonsense_queries']} nonsense queries then get an answer too"
               if lost > kept else f"Keeping {d} answers the same held-out queries")
    rows = [["answered@10 at the server's default " + str(d), _f(b["answered@10"]["default"]),
             _f(a["answered@10"]["default"])],
            [f"answered@10 at each model's calibrated threshold ({b['threshold']:.3f} / {t:.3f})",
             _f(b["answered@10"]["calibrated"]), _f(kept)],
            ["best nonsense-query score", _f(b["nonsense_max"]), _f(a["nonsense_max"])]]
    if "answered@10_calibration_half" in a and "answered@10_calibration_half" in b:   # graded apart (threshold.py)
        rows.insert(2, ["the same, on the half that set the threshold",
                        _f(b["answered@10_calibration_half"]["calibrated"]),
                        _f(a["answered@10_calibration_half"]["calibrated"])])
    return ["", "## Serving threshold", "",
            f"Serve this model with **`score_threshold: {t:.3f}`**: a Data Commons NL server drops every match "
            f"below its threshold. {a['rule'].capitalize()} ({a['nonsense_queries']} nonsense queries). "
            "answered@10 is the share of held-out queries whose right StatVar is in the top 10 and scores at "
            f"least the threshold. {verdict}.", ""] + _table(["", "base model", "tuned"], rows)


def results_section(metrics: dict) -> list[str]:
    b, a = metrics.get("before") or {}, metrics.get("after") or {}
    mrr_b, mrr_a = get(b, RETRIEVAL, MRR), get(a, RETRIEVAL, MRR)
    n_q, n_p = get(a, RETRIEVAL, "queries"), get(a, PAIRS, "pairs")
    if not n_q and not n_p:
        out = ["## No held-out evaluation", "", "This run was measured on **no held-out data** (it was trained "
               "with `-p eval_dir none`, or its held-out sets matched nothing in its catalog): nothing here says "
               "whether tuning helped search. Only the collapse checks below were made."]
    else:
        out = ["## Held-out results (base model → tuned)", "", "Measured on held-out data never used in training"
               + (f": {n_q} natural-language queries with their expected StatVars" if n_q else "")
               + (f" and {n_p} scored sentence pairs" if n_p else "") + "."]
        if a.get("heldout"):   # a custom Data Commons without eval/: its owner's own words (data/heldout.py)
            out += ["", f"The queries are the owner's own words, {a['heldout']} (those with at least 3), "
                    "chosen from the seed and the text and never trained on."]
    rows = [[label, arrow(get(b, RETRIEVAL, k), get(a, RETRIEVAL, k))] for k, label in RETRIEVAL_METRICS
            if get(a, RETRIEVAL, k) is not None]
    rows += [[f"held-out pairs {label}", arrow(get(b, PAIRS, k), get(a, PAIRS, k))]
             for k, label in PAIR_METRICS if get(a, PAIRS, k) is not None]
    rows += [[f"curated pairs {label} (seen in training)",
              arrow(get(b, CURATED, k), get(a, CURATED, k))]
             for k, label in PAIR_METRICS if get(a, CURATED, k) is not None]
    if rows:
        out += [""] + _table(["metric", "before → after (change)"], rows)
    boot = {k: v for k, v in (metrics.get("bootstrap") or {}).items() if isinstance(v, dict)}
    if boot:
        out += ["", "### Paired bootstrap", "",
                "The held-out sets are small; resampling them gives a 95% interval for each difference."]
        rows = []
        for k, v in boot.items():
            if not isinstance(v, dict):
                continue
            ci = v.get("diff_ci95") or [None, None]
            rows.append([k, _f(v.get("a")), _f(v.get("b")), f"{v['diff']:+.3f}" if is_figure(v.get("diff")) else "–",
                         f"[{_f(ci[0])}, {_f(ci[1])}]", _f(v.get("a_wins"), 2), v.get("items", "–")])
        ba, bb = get(boot, MRR, "a"), get(boot, MRR, "b")
        tuned_first = all(isinstance(x, (int, float)) for x in (ba, bb, mrr_a, mrr_b)) and \
            abs(ba - mrr_a) < 1e-6 and abs(bb - mrr_b) < 1e-6
        out += [""] + _table(["metric", "A", "B", "A − B", "95% interval", "P(A > B)", "items"], rows)
        out += ["", "A is the tuned model, B the base model." if tuned_first else
                "A and B are the two models the run compared (see metrics.json)."]
    out += ["", "### Collapse checks", "",
            "Fine-tuning can pull every embedding together so that anything matches anything. "
            "Two checks watch for it: the mean cosine of random unrelated pairs, and the best score "
            "a nonsense query gets against the catalog."]
    rows = [["random-pair mean cosine", arrow(get(b, COLLAPSE, "random_pair_mean_cosine"),
                                               get(a, COLLAPSE, "random_pair_mean_cosine"))],
            ["best nonsense-query score",
             arrow(get(b, COLLAPSE, "nonsense_max"), get(a, COLLAPSE, "nonsense_max"))]]
    out += [""] + _table(["check", "before → after"], rows)
    health = metrics.get("health")
    if isinstance(health, dict):
        problems = health.get("problems") or []
        out += ["", "Health check: **passed**." if health.get("ok") and not problems else "Health check: **FAILED**:"]
        out += [f"- {p}" for p in problems]
        out += [f"- not checked: {u}" for u in health.get("unchecked") or []]
    return out


