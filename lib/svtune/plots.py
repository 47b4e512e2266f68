"""matplotlib figures the notebooks show: pair counts, labels, lengths, loss, before/after.

Each function returns the Figure so notebooks can display or save it; every
plot carries a title, axis labels and units so it reads without the code.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

CALLOUTS = [("poverty", "prison"), ("african americans", "black and african american demographic"),
            ("african americans", "people living in africa")]


def pair_counts(counts: dict[str, int], title: str = "Training pairs per mining rule"):
    fig, ax = plt.subplots(figsize=(7, 3))
    names, values = list(counts), list(counts.values())
    ax.barh(names, values, color="#4c78a8")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,}", va="center", fontsize=9)
    ax.set(title=title, xlabel="pairs", ylabel="source")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def label_histograms(pairs: pd.DataFrame):
    sources = list(pairs["source"].unique())
    fig, axes = plt.subplots(1, len(sources), figsize=(3 * len(sources), 2.6), sharey=False, squeeze=False)
    for ax, src in zip(axes[0], sources):
        ax.hist(pairs.loc[pairs["source"] == src, "score"], bins=np.linspace(0, 1, 21), color="#72b7b2")
        ax.set(title=src, xlabel="label (0-1)", ylabel="pairs")
    fig.suptitle("Label distribution per source")
    fig.tight_layout()
    return fig


def length_histogram(lengths: dict[str, list[int]], title="Sentence length (tokens, MiniLM tokenizer)"):
    fig, ax = plt.subplots(figsize=(7, 3))
    top = max(max(v) for v in lengths.values() if v)
    bins = np.arange(0, min(top, 128) + 2)
    for label, vals in lengths.items():
        ax.hist(np.minimum(vals, bins[-1]), bins=bins, alpha=0.6, label=label)
    ax.set(title=title, xlabel="tokens per sentence (clipped at 128)", ylabel="sentences")
    ax.legend()
    fig.tight_layout()
    return fig


def loss_curve(history: list[dict], title="Training loss"):
    fig, ax = plt.subplots(figsize=(6, 3))
    # Stages train different objectives, so each gets its own line (and scale: log y).
    for stage in dict.fromkeys(h.get("stage", "train") for h in history):
        part = [h for h in history if h.get("stage", "train") == stage]
        ax.plot([h["step"] for h in part], [h["loss"] for h in part], marker=".", label=stage)
    if len({h.get("stage") for h in history}) > 1:
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set(title=title, xlabel="optimizer step", ylabel="loss (each stage's objective)")
    fig.tight_layout()
    return fig


def summary_table(metrics: dict) -> pd.DataFrame:
    """Key before/after figures of a run as a table (rows: metric; columns: before, after, delta)."""
    keys = [("retrieval", "mrr@10"), ("retrieval", "recall@1"), ("retrieval", "recall@10"),
            ("retrieval", "ndcg@10"), ("pairs_heldout", "spearman"), ("pairs_curated", "spearman"),
            ("collapse", "random_pair_mean_cosine"), ("collapse", "nonsense_max")]
    rows = []
    for group, key in keys:
        b = metrics.get("before", {}).get(group, {}).get(key)
        a = metrics.get("after", {}).get(group, {}).get(key)
        rows.append({"metric": f"{group}.{key}", "before": b, "after": a,
                     "delta": (a - b) if a is not None and b is not None else None})
    return pd.DataFrame(rows).set_index("metric")


def before_after_bars(table: pd.DataFrame, title="Base model vs fine-tuned (held-out data)"):
    t = table.dropna(subset=["before", "after"])
    fig, ax = plt.subplots(figsize=(8, 3.2))
    y = np.arange(len(t))
    ax.barh(y - 0.2, t["before"], height=0.4, label="base", color="#bab0ac")
    ax.barh(y + 0.2, t["after"], height=0.4, label="tuned", color="#4c78a8")
    ax.set_yticks(y, t.index)
    ax.invert_yaxis()
    ax.set(title=title, xlabel="value (higher is better, except collapse.*)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pair_scatter(before: list[dict], after: list[dict], title: str):
    """Cosine vs label for each pair, base (grey) and tuned (blue), with named pairs called out."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    labels = np.array([d["label"] for d in before])
    jitter = np.random.default_rng(0).uniform(-0.012, 0.012, len(labels))
    ax.scatter(labels + jitter, [d["cosine"] for d in before], s=14, c="#bab0ac", label="base")
    ax.scatter(labels + jitter, [d["cosine"] for d in after], s=14, c="#4c78a8", label="tuned")
    for b, a in zip(before, after):
        key = (b["sentence_1"].lower(), b["sentence_2"].lower())
        if key in CALLOUTS or key[::-1] in CALLOUTS:
            ax.annotate("", xy=(b["label"], a["cosine"]), xytext=(b["label"], b["cosine"]),
                        arrowprops={"arrowstyle": "->", "color": "#e45756"})
            right = b["label"] > 0.5   # keep the text inside the axes
            ax.annotate(f"{b['sentence_1']} ~ {b['sentence_2']}", (b["label"], a["cosine"]),
                        fontsize=8, color="#e45756", xytext=(-6 if right else 6, 3),
                        textcoords="offset points", ha="right" if right else "left")
    ax.plot([0, 1], [0, 1], ls=":", c="k", lw=0.8)
    ax.set(title=title, xlabel="label (curated score)", ylabel="cosine similarity", xlim=(-0.05, 1.1))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def query_changes(before: list[dict], after: list[dict], n: int = 10) -> pd.DataFrame:
    """Per-query reciprocal rank before/after, most improved first (regressions at the bottom)."""
    from .metrics import reciprocal_rank
    rows = [{"query": b["query"], "expected": b["expected"][0],
             "rr_before": reciprocal_rank([d for d, _ in b["top"]], b["expected"]),
             "rr_after": reciprocal_rank([d for d, _ in a["top"]], a["expected"])}
            for b, a in zip(before, after)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["change"] = df["rr_after"] - df["rr_before"]
    return df.sort_values("change", ascending=False)


def bench_bars(result: dict):
    """Speed benchmark: pairs/s per recipe, and real vs padded tokens per pair."""
    rows = result["rows"]
    names = [r["recipe"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3))
    a1.bar(names, [r["pairs_per_second"] for r in rows], color="#4c78a8")
    a1.set(title=f"Training throughput ({result['steps']} steps each)", ylabel="pairs / second")
    x = np.arange(len(rows))
    a2.bar(x - 0.2, [r["real_tokens_per_pair"] for r in rows], 0.4, label="real")
    a2.bar(x + 0.2, [r["padded_tokens_per_pair"] for r in rows], 0.4, label="padded (computed)")
    a2.set_xticks(x, names)
    a2.set(title="Tokens per pair", ylabel="tokens")
    a2.legend()
    fig.tight_layout()
    return fig


def ablation_table(result: dict) -> pd.DataFrame:
    """Full benchmark rows as a table: one row per recipe, before->after columns split."""
    out = []
    for r in result["rows"]:
        row = {k: r.get(k) for k in ("recipe", "epochs", "wall_seconds", "pairs_per_second", "peak_rss_mb",
                                     "healthy", "heldout_pairs", "measured")}
        for k in ("mrr@10", "ndcg@10", "spearman_heldout", "low_band_cosine", "nonsense_max", "random_pair_cosine"):
            row[f"{k} base"], row[f"{k} tuned"] = r[k]
        out.append(row)
    return pd.DataFrame(out).set_index("recipe")


def _run_points(rows: list[dict], x_key: str, y_key: str):
    """One labelled point per full run at its tuned (x, y); red where it breaks a collapse rule."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        x, y = r[x_key][1], r[y_key][1]
        ax.scatter(x, y, color="#4c78a8" if r.get("healthy") else "#e45756")
        ax.annotate(r["label"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    return fig, ax


def quality_vs_health(rows: list[dict], nonsense_max: float = 0.5):
    """Held-out Spearman against the best nonsense-query score, one point per full run: the
    trade-off the recipe knobs move along. Points right of the line break the collapse rule."""
    fig, ax = _run_points(rows, "nonsense_max", "spearman_heldout")
    if rows:
        ax.scatter(rows[0]["nonsense_max"][0], rows[0]["spearman_heldout"][0], marker="x", color="k")
        ax.annotate("base model", (rows[0]["nonsense_max"][0], rows[0]["spearman_heldout"][0]), fontsize=7,
                    xytext=(3, -10), textcoords="offset points")
    ax.axvline(nonsense_max, color="grey", ls="--", lw=1)
    ax.set(xlabel="best cosine of a nonsense query (lower is healthier)", ylabel="held-out pair Spearman",
           title="Quality vs collapse (red: breaks a no-collapse rule)")
    fig.tight_layout()
    return fig


def retrieval_vs_ranking(rows: list[dict], mrr_gain: float = 0.04):
    """MRR@10 against held-out Spearman, one point per full run: the trade the recipes make
    between finding the right StatVar and ranking related concepts. Dashed lines: the base
    model's MRR@10 plus `mrr_gain`, and the seed recipe's Spearman (when a seed run is saved)."""
    fig, ax = _run_points(rows, "mrr@10", "spearman_heldout")
    if rows:
        ax.axvline(rows[0]["mrr@10"][0] + mrr_gain, color="grey", ls="--", lw=1)
    seed = [r["spearman_heldout"][1] for r in rows if r["recipe"] == "seed"]
    if seed:
        ax.axhline(seed[-1], color="grey", ls=":", lw=1)
    ax.set(xlabel="held-out MRR@10 (finds the right StatVar)", ylabel="held-out pair Spearman (ranks related pairs)",
           title="Retrieval vs ranking (red: breaks a no-collapse rule)")
    fig.tight_layout()
    return fig
