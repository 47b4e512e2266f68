"""The few lines a headless run ends with: held-out figures base -> tuned, the paired bootstrap's
interval for each difference, the health verdict, and the training-pair figure labelled as such
(the same figures the train notebook shows)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# (label, path in an evaluation summary); the held-out figures first, the training pairs apart.
HELD_OUT = [("MRR@10, held-out queries", ("retrieval", "mrr@10")),
            ("recall@1", ("retrieval", "recall@1")),
            ("topic MRR@10, held-out topic queries", ("retrieval_topics", "mrr@10")),
            ("Spearman, held-out pairs", ("pairs_heldout", "spearman"))]
TRAINING = [("Spearman, curated pairs (TRAINING data)", ("pairs_curated", "spearman"))]
BOOTSTRAP = {"MRR@10, held-out queries": "mrr@10", "Spearman, held-out pairs": "spearman_heldout"}


def _get(d: dict, path: tuple):
    for k in path:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def table(metrics: dict) -> pd.DataFrame:
    """One row per figure: base, tuned, change and the bootstrap's 95% interval where it has one."""
    rows = []
    for label, path in HELD_OUT + TRAINING:
        b, a = _get(metrics.get("before", {}), path), _get(metrics.get("after", {}), path)
        if a is None and b is None:
            continue
        boot = (metrics.get("bootstrap") or {}).get(BOOTSTRAP.get(label, ""))
        ci = "[{:+.3f}, {:+.3f}]".format(*boot["diff_ci95"]) if boot else ""
        change = f"{a - b:+.3f}" if a is not None and b is not None else ""
        rows.append([label, _fmt(b), _fmt(a), change, ci])
    return pd.DataFrame(rows, columns=["", "base", "tuned", "change", "95% interval"])


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def serving_line(before: dict, after: dict) -> str:
    """The threshold to serve the tuned model with, and what the server's default would cost."""
    b, a = before["answered@10"], after["answered@10"]
    return (f"serving threshold {after['threshold']:.3f} (server default {after['default']}): answered@10 "
            f"{a['calibrated']:.3f} there, {a['default']:.3f} at {after['default']} (base model: "
            f"{b['default']:.3f} at {before['default']})")


def summary(run_dir: str | Path) -> str:
    """The terminal summary of a finished run."""
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    after = metrics.get("after", {})
    n_q, n_p = _get(after, ("retrieval", "queries")), _get(after, ("pairs_heldout", "pairs"))
    if n_q or n_p:
        lines = [f"held-out evaluation ({n_q} queries, {n_p} pairs; interval: paired bootstrap, 95%):",
                 table(metrics).to_string(index=False)]
    else:
        lines = ["no held-out evaluation (-p eval_dir none): nothing here shows whether tuning helped search",
                 table(metrics).to_string(index=False)]
    if after.get("heldout"):   # a custom Data Commons evaluated on its owner's own words (data/heldout.py)
        lines.insert(1, f"{after['heldout']} (never trained on)")
    health = metrics.get("health") or {}
    if health:
        lines.append("health: ok" if health.get("ok") else "health: FAILED: " + "; ".join(health["problems"]))
    cal = [metrics.get(stage, {}).get("calibration") for stage in ("before", "after")]
    if all(cal):
        lines.append(serving_line(*cal))
    return "\n".join(lines)
