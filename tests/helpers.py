"""What the tests share: tiny inline files, a custom Data Commons folder, and the one fabricator of
finished runs (`finished_run`), with the hand-written config, metrics and evaluation it writes.

A plain module, imported as `from helpers import ...` (pytest puts tests/ on sys.path: it has no
__init__.py). Fixtures live in conftest.py; no test module imports another.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np

# The tiny BERT's vocabulary (conftest.tiny_model_dir): every word the inline catalogs use.
WORDS = """poverty prison income household median unemployment rate people population women men
children count of person below level black african american americans living in africa
farm wheat corn energy solar electricity crime burglary housing rent home value the a and
number how many what is jobless poor earnings age female male health insurance""".split()

# Texts whose embeddings a shipped copy of a tiny run must reproduce.
TEXTS = ["how many poor people", "median household income", "women", "wheat farms"]


def write(path: Path, text: str) -> Path:
    """`text`, dedented, as the file `path` (its folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


# --- a custom Data Commons (docs/custom_dc.md) ---------------------------------------------------------------

DC_WORDS = ["poverty", "income", "crime", "housing", "farm", "energy", "health", "rent"]


def variables(n: int, descriptions: int = 3) -> dict:
    """`n` variables of a custom DC's config.json in two levels of groups, each with `descriptions`
    search descriptions."""
    out = {}
    for i in range(n):
        w = DC_WORDS[i % len(DC_WORDS)]
        out[f"c/Var{i}"] = {"name": f"{w} count {i}", "description": f"the number of {w} cases, {i}",
                            "searchDescriptions": [f"how many {w} {i} {k}" for k in range(descriptions)],
                            "group": f"Society/{w.title()}" if i % 2 else "Economy"}
    return out


def custom_dc(root: Path, variables: dict, pairs: str | None = None) -> Path:
    """`root/dc/`: a custom Data Commons import folder (config.json with `variables`, optional curated pairs)."""
    folder = root / "dc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"inputFiles": {}, "variables": variables}, indent=2))
    if pairs:
        write(folder / "finetuning" / "sentence_pairs.csv", pairs)
    return folder


# --- a finished run, hand-written -------------------------------------------------------------------------------

RUN_NAME = "20260101-000000-000000-tiny-all-MiniLM-L6-v2"
COMMAND = "python -m svtune train --size tiny -p recipe default -p seed 7"

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


def finished_run(root: Path, model_dir: Path, data_dir: Path | None = None, *, name: str = RUN_NAME,
                 config: dict | None = None, metrics: dict | bool | None = None, evals: bool = True,
                 tuned: bool = False, names: dict | None = None, notebook: bool = True) -> Path:
    """`root/name/`, a finished run folder as a launcher leaves it, made without training.

    Two kinds:

    - a run with hand-written results (the default; the card, publish and export read it):
      model/ is `model_dir` copied; config.json is `config`, else CONFIG with `data_dir` (when given);
      metrics.json is `metrics`, else METRICS (False: none); eval_after.json and eval_before.json are
      EVAL_AFTER (`evals=False`: none);
    - `tuned=True`, a run the lab opens beside its base model (the playground, curation, suggestions,
      retrain, the browser test): model/ is `model_dir` with its weights nudged (seeded), so that base
      and tuned rank differently; config.json names `model_dir` as its base, `data_dir` and size small;
      metrics.json is {} and eval_after.json holds only `names` (dcid -> name).

    train.ipynb ("{}", the executed notebook) unless `notebook=False`.
    """
    folder = root / name
    if tuned:
        import torch
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
        torch.manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5 * torch.randn_like(p))
        model.save(str(folder / "model"))
        if config is None:
            config = {"status": "complete", "params": {"base_model": str(model_dir), "data_dir": str(data_dir),
                                                       "size": "small"}}
        metrics = {} if metrics is None else metrics
    else:
        shutil.copytree(model_dir, folder / "model")
        if config is None:
            config = CONFIG if data_dir is None else dict(CONFIG, params=dict(CONFIG["params"], data_dir=str(data_dir)))
        metrics = METRICS if metrics is None else metrics
    (folder / "config.json").write_text(json.dumps(config))
    if metrics is not False:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if tuned:
        (folder / "eval_after.json").write_text(json.dumps({"names": names or {}}))
    elif evals:
        (folder / "eval_after.json").write_text(json.dumps(EVAL_AFTER))
        (folder / "eval_before.json").write_text(json.dumps(EVAL_AFTER))
    if notebook:
        (folder / "train.ipynb").write_text("{}")
    return folder


def centred_copy(model_dir: Path, out: Path) -> Path:
    """`model_dir` with svtune's centring modules (Normalize -> Dense -> Normalize) appended, saved to `out`:
    the shape of a tuned model, for export and its checks."""
    from sentence_transformers import SentenceTransformer

    from svtune.train.centering import add_centering
    model = SentenceTransformer(str(model_dir), device="cpu")
    add_centering(model, np.linspace(-0.1, 0.2, model.get_embedding_dimension()).astype(np.float32), 0.5)
    model.save(str(out))
    return out
