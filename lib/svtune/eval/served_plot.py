"""The served search's figure (eval/served.py): each configuration's MRR@10, top-1 and answered@10 on the
owner's held-out queries beside Data Commons'. What notebooks/train.ipynb draws after a run with dc_dir."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def served_bars(served: dict | None):
    """The served search (eval/served.py): MRR@10, top-1 and answered@10 of each configuration, the owner's
    held-out queries beside Data Commons'. None (no dc_dir): nothing to draw, said so."""
    if not served:
        print("served search not measured: pass -p dc_dir (Data Commons' catalog) to measure it")
        return None
    configs = served["configs"]
    metrics = ("mrr@10", "top1", "answered@10")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    titles = ("the owner's held-out queries", "Data Commons' held-out queries")
    for ax, side, title in zip(axes, ("owner", "dc"), titles):
        x = np.arange(len(metrics))
        for i, (name, c) in enumerate(configs.items()):
            vals = [c[side][m] or 0 for m in metrics]
            ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=f"({name}) {c['label']}")
        ax.set_xticks(x, metrics)
        ax.set_title(title)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Served search: the owner's index merged with Data Commons' medium index, one threshold")
    fig.tight_layout()
    return fig
