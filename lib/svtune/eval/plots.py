"""matplotlib figures the notebooks show: pair counts, labels, lengths, loss, before/after.

Each function returns the Figure so notebooks can display or save it; every
plot carries a title, axis labels and units so it reads without the code.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from svtune.eval.evaluate import MRR_GAIN_TARGET, NONSENSE_MAX, RANDOM_PAIR_RISE_MAX
from svtune.eval.metrics import BANDS, reciprocal_rank

GREEN, RED, GREY, BASE_GREY = "#54a24b", "#e45756", "#9d9d9d", "#bab0ac"

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


SUMMARY_KEYS = [("retrieval", "mrr@10"), ("retrieval", "recall@1"), ("retrieval", "recall@10"),
                ("retrieval", "ndcg@10"), ("pairs_heldout", "spearman"), ("pairs_curated", "spearman"),
                ("collapse", "random_pair_mean_cosine"), ("collapse", "nonsense_max")]
TRAINING_PREFIX = "pairs_curated."   # computed on training pairs: in the table, labelled, never in the chart
LOWER_IS_BETTER = ("collapse.",)   # metric-name prefixes where a smaller value is the better one


def better_direction(metric: str) -> str:
    """"lower" for the collapse metrics (they must stay low / below a limit), else "higher"."""
    return "lower" if metric.startswith(LOWER_IS_BETTER) else "higher"


def metric_limit(metric: str, before: float | None) -> float | None:
    """The most a tuned model may score on a collapse metric (evaluate.health_check's rules)."""
    if metric == "collapse.nonsense_max":
        return NONSENSE_MAX
    if metric == "collapse.random_pair_mean_cosine" and before is not None:
        return before + RANDOM_PAIR_RISE_MAX
    return None


def summary_table(metrics: dict) -> pd.DataFrame:
    """Key before/after figures of a run as a table (rows: metric; columns: before, after, delta,
    better = which direction is the better one, limit = the most the tuned value may reach)."""
    rows = []
    for group, key in SUMMARY_KEYS:
        b = metrics.get("before", {}).get(group, {}).get(key)
        a = metrics.get("after", {}).get(group, {}).get(key)
        name = f"{group}.{key}"
        label = name + (" (training pairs)" if name.startswith(TRAINING_PREFIX) else "")
        rows.append({"metric": label, "before": b, "after": a,
                     "delta": (a - b) if a is not None and b is not None else None,
                     "better": better_direction(name), "limit": metric_limit(name, b)})
    return pd.DataFrame(rows).set_index("metric")


def _limit_text(metric: str, limit: float) -> str:
    if metric == "collapse.random_pair_mean_cosine":
        return f"limit: base + {RANDOM_PAIR_RISE_MAX} = {limit:.3f}"
    return f"limit: {limit:g}"


def before_after_bars(table: pd.DataFrame, title="Base model vs fine-tuned (held-out data)"):
    """Base vs tuned per metric, in two panels: higher-is-better metrics (retrieval, Spearman)
    and lower-is-better collapse metrics with their limits as dashed lines. A tuned bar is green
    where it moved the metric's own good way, red where it got worse."""
    t = table.dropna(subset=["before", "after"]).copy()
    t = t[[not m.startswith(TRAINING_PREFIX) for m in t.index]]   # the chart is held-out data only
    better = t["better"] if "better" in t else pd.Series([better_direction(m) for m in t.index], t.index)
    if "limit" not in t:
        t["limit"] = [metric_limit(m, b) for m, b in zip(t.index, t["before"])]
    groups = [("higher is better", t[better == "higher"]),
              ("lower is better: collapse checks, must stay below their limit", t[better == "lower"])]
    groups = [(name, part) for name, part in groups if len(part)]
    heights = [len(part) + 1.2 for _, part in groups] or [1]
    fig, axes = plt.subplots(len(groups) or 1, 1, figsize=(8.5, 0.42 * sum(heights) + 1.2), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    for ax, (name, part) in zip(axes, groups):
        lower = better[part.index[0]] == "lower"
        y = np.arange(len(part))
        delta = part["after"].astype(float) - part["before"].astype(float)
        good = -delta if lower else delta
        colors = [GREEN if g > 0 else RED if g < 0 else GREY for g in good]
        ax.barh(y - 0.2, part["before"].astype(float), height=0.4, color=BASE_GREY, label="base")
        ax.barh(y + 0.2, part["after"].astype(float), height=0.4, color=colors)
        top = max(part[["before", "after"]].astype(float).max().max(),
                  part["limit"].dropna().astype(float).max() if part["limit"].notna().any() else 0)
        for i, (m, row) in enumerate(part.iterrows()):
            a, lim = float(row["after"]), row["limit"]
            note, x = f" {a:.3f} ({float(delta[m]):+.3f})", a
            if lim is not None and not pd.isna(lim):
                lim = float(lim)
                ax.plot([lim, lim], [i - 0.48, i + 0.48], color="k", ls="--", lw=1.2, gid="limit")
                ax.annotate(_limit_text(m, lim), (lim, i - 0.48), xytext=(3, 1), textcoords="offset points",
                            fontsize=7, va="top")
                if a >= lim if m == "collapse.nonsense_max" else a > lim:   # as evaluate.health_check
                    note += "  OVER THE LIMIT"
                elif lim - a < 0.25 * top:
                    x = lim   # start the text past the limit line instead of across it
            ax.text(x, i + 0.2, note, va="center", fontsize=8, color=colors[i])
        ax.set_yticks(y, part.index)
        ax.invert_yaxis()
        ax.set_xlim(0, max(1.0, top * 1.25) if not lower else top * 1.45)
        ax.set_title(name, fontsize=10, loc="left")
        ax.set_xlabel("cosine similarity" if lower else "score (0-1)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Patch(color=BASE_GREY, label="base"), Patch(color=GREEN, label="tuned: better"),
               Patch(color=RED, label="tuned: worse")]
    if any(len(part) and part["limit"].notna().any() for _, part in groups):
        handles.append(Line2D([], [], color="k", ls="--", lw=1.2, label="limit"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
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
    """Per-query reciprocal rank of the first expected dcid within the top `n`, before and after.

    `change` = rr_after - rr_before; `status` is "improved" (> 0), "regressed" (< 0) or
    "unchanged" (== 0). This is the one definition of a query's change: the compare notebook
    and the rank-diff report both count with it (see `change_counts`). Rows come most improved
    first (regressions at the bottom); the index is each query's position in the input lists."""
    rows = [{"query": b["query"], "expected": b["expected"][0] if b["expected"] else "",
             "rr_before": reciprocal_rank([d for d, _ in b["top"]], b["expected"], n),
             "rr_after": reciprocal_rank([d for d, _ in a["top"]], a["expected"], n)}
            for b, a in zip(before, after)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["change"] = df["rr_after"] - df["rr_before"]
    df["status"] = np.select([df["change"] > 0, df["change"] < 0], ["improved", "regressed"], "unchanged")
    return df.sort_values("change", ascending=False, kind="stable")


def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """{"improved": n, "regressed": n, "unchanged": n} of a `query_changes` table."""
    status = changes["status"] if "status" in changes else pd.Series(dtype=str)
    return {k: int((status == k).sum()) for k in ("improved", "regressed", "unchanged")}


def band_table(data) -> pd.DataFrame:
    """Rows in label-band order (metrics.BANDS: <=0.05, 0.05-0.3, ..., >=0.9), not alphabetical.

    `data`: {column: {band: value}}, {band: value}, a Series or DataFrame indexed by band, or a
    DataFrame with a "band" column (rows stably sorted by it). Band-pair keys like
    "<=0.05 < 0.05-0.3" (metrics.band_order) sort by their lower band."""
    if isinstance(data, dict):
        nested = any(isinstance(v, dict) for v in data.values())
        data = pd.DataFrame(data) if nested else pd.Series(data, dtype=float).to_frame("value")
    elif isinstance(data, pd.Series):
        data = data.to_frame()
    rank = {name: i for i, (name, _, _) in enumerate(BANDS)}

    def key(values):
        return pd.Index([rank.get(str(v).split(" < ")[0], len(rank)) for v in values])
    if "band" in data.columns:
        return data.sort_values("band", key=key, kind="stable")
    return data.sort_index(key=key, kind="stable")


def bench_bars(result: dict):
    """Speed benchmark: pairs/s per recipe, and real vs padded tokens per pair."""
    rows = result["rows"]
    names = [r["recipe"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3))
    a1.bar(names, [r["pairs_per_second"] for r in rows], color="#4c78a8", label="measured")
    if all("limit_pairs_per_second" in r for r in rows):   # the machine's matmul limit, in each recipe's precision
        a1.scatter(names, [r["limit_pairs_per_second"] for r in rows], marker="_", s=900, color="k",
                   label="this machine's limit")
        for i, r in enumerate(rows):
            a1.annotate(f"{r['share_of_limit']:.0%} of limit ({r['precision']})", (i, r["pairs_per_second"]),
                        ha="center", va="bottom", fontsize=8)
        a1.legend(fontsize=8)
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
        row = {k: r.get(k) for k in ("recipe", "epochs", "wall_seconds", "time_to_quality_seconds", "pairs_per_second",
                                     "peak_rss_mb", "healthy", "heldout_pairs", "measured")}
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


def quality_vs_health(rows: list[dict], nonsense_max: float = NONSENSE_MAX):
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


def retrieval_vs_ranking(rows: list[dict], mrr_gain: float = MRR_GAIN_TARGET):
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

