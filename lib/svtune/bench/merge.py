"""Merge a finished run's weights back toward its base model at several alphas, without retraining,
and choose alpha on one half of the held-out sets, judged on the other (the choice never sees the
figures it is judged on). Each merge is re-centred as the run was, then evaluated on the run's
held-out sets and, with `--transfer`, on a larger index it never saw.

    svtune bench --merge outputs/runs/<run> --alphas 1,0.9,0.8,0.7,0.5 \
        --transfer ../shared/datacommons/preindex/medium/sv_descriptions.csv
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from svtune import runs
from svtune.bench.compare import config_of
from svtune.bench.full import transfer_mrr
from svtune.bench.results import print_table
from svtune.bench.save import save
from svtune.data.catalog import load_catalog
from svtune.data.formats import index_from_catalog
from svtune.data.heldout import seed_for
from svtune.eval.evaluate import evaluate_run
from svtune.eval.headline import (
    ANSWERED_DEFAULT,
    AUTOGEN_MRR,
    COLLAPSE,
    MRR,
    SPEARMAN,
    THRESHOLD,
    TOPIC_MRR,
    get,
    headline,
)
from svtune.eval.metrics import reciprocal_rank
from svtune.eval.threshold import half as threshold_half
from svtune.model.load import load_model
from svtune.train.centering import center_model
from svtune.train.merge import merge_toward_base, uncentred


def half(text: str) -> str:
    """A fixed, content-based split of held-out items: "validation" or "test"."""
    return "validation" if threshold_half(text, byte=0) == 0 else "test"


def half_figures(details: dict) -> dict:
    """MRR@10 and Spearman of each half of the held-out queries and pairs."""
    out = {}
    for part in ("validation", "test"):
        rr = [reciprocal_rank([d for d, _ in q["top"]], q["expected"]) for q in details["queries"]
              if q["expected"] and half(q["query"]) == part]
        pairs = [p for p in details["pairs_heldout"] if half(p["sentence_1"] + "\t" + p["sentence_2"]) == part]
        out[part] = {MRR: float(np.mean(rr)) if rr else None, "queries": len(rr),
                     SPEARMAN: float(spearmanr([p["cosine"] for p in pairs], [p["label"] for p in pairs])[0])
                     if len(pairs) > 2 else None, "pairs": len(pairs)}
    return out


def merged(run_dir: Path, cfg, alpha: float, texts: list[str]):
    """The run's model merged toward its base at `alpha` and centred as the run was."""
    model = merge_toward_base(uncentred(load_model(str(run_dir / "model"))), cfg.base_model, alpha)
    if cfg.hp.center:
        center_model(model, texts, float(cfg.hp.center))
    return model


def one_alpha(run_dir: Path, cfg, catalog, alpha: float, transfer: str) -> dict:
    texts = sorted({s for s, _ in index_from_catalog(catalog)})
    model = merged(run_dir, cfg, alpha, texts)
    m = evaluate_run(model, catalog, cfg)
    h = headline(m)
    row = {"alpha": alpha, MRR: h[MRR], SPEARMAN: h[SPEARMAN], TOPIC_MRR: h[TOPIC_MRR], AUTOGEN_MRR: h[AUTOGEN_MRR],
           "nonsense_max": get(m, COLLAPSE, "nonsense_max"), THRESHOLD: h[THRESHOLD],
           ANSWERED_DEFAULT: h[ANSWERED_DEFAULT]}
    for part, figures in half_figures(m["details"]).items():
        row.update({f"{part}_{k}": v for k, v in figures.items() if k in (MRR, SPEARMAN)})
    if transfer:
        row["transfer_mrr@10"] = transfer_mrr(model, transfer, m["files"]["queries"])
    return row


def merge_sweep(run: str, alphas: list[float], transfer: str = "", out: str | Path | None = None) -> dict:
    """Every alpha; the one with the best validation-half MRR@10 + Spearman (ties: the larger alpha)."""
    run_dir = runs.finished_run(run)
    cfg = config_of(run_dir)
    catalog = load_catalog(cfg.data_dir, cfg.size, warn=False, heldout_seed=seed_for(cfg),
                           eval_dir=cfg.eval_dir)   # the run's own held-out texts, never a default seed
    rows = [one_alpha(run_dir, cfg, catalog, a, transfer) for a in alphas]
    chosen = max(rows, key=lambda r: (r["validation_mrr@10"] + r["validation_spearman"], r["alpha"]))
    result = {"mode": "merge", "run": str(run_dir), "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows,
              "chosen_alpha": chosen["alpha"], "rule": "best validation-half MRR@10 + Spearman; reported on the "
              "test half"}
    print_table(rows, ["alpha", "validation_mrr@10", "validation_spearman", "test_mrr@10", "test_spearman", "mrr@10",
                       "spearman", "topic_mrr@10", "autogen_mrr@10", "transfer_mrr@10", "nonsense_max", "threshold",
                       "answered@10_at_0.5"])
    print(f"chosen on the validation half: alpha {chosen['alpha']}; test half: MRR@10 {chosen['test_mrr@10']:.3f}, "
          f"Spearman {chosen['test_spearman']:.3f}")
    save(result, "merge", out)
    return result
