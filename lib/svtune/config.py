"""Run configuration: presets per size and recipe in one table, user overrides on top.

Presets give epochs, batch size, learning rate, warmup, max_seq_length (and, for
the smoke size, how much data and how many steps). Any of them can be overridden
from papermill, e.g. `-p epochs 1`; `None` means "use the preset".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .catalog import SIZES
from .csvio import DataError

# The seed recipe reproduces the original Data Commons run exactly (model.fit defaults:
# AdamW lr 2e-5, weight decay 0.01, linear warmup 10 steps, batch 256, 10 epochs).
SEED = dict(epochs=10, batch_size=256, learning_rate=2e-5, warmup_steps=10, max_seq_length=256)
# The default recipe: two epochs of in-batch negatives + curated pairs, length-grouped, bf16 where
# the hardware has it. Chosen by `python -m svtune.bench` (see notebooks/benchmark.ipynb).
DEFAULT = dict(epochs=2, batch_size=128, learning_rate=1e-4, warmup_steps=0.1, max_seq_length=64,
               mnrl_scale=40.0, anchor_fraction=1.0, mined_fraction=0.25)
# Why the in-batch recipes' three knobs (used in recipes.py) have these values, measured on
# Data Commons small data with `python -m svtune.bench --full` (README has the tables):
# - mined_fraction: a quarter of the mined pairs keep the original's absolute-label objective
#   beside the in-batch negatives. At scale 20: held-out Spearman 0.658 -> 0.668, MRR@10
#   0.764 -> 0.771 for +12% training time; all of them (1.0) gave Spearman 0.685 but cost MRR
#   (0.757) and let nonsense queries climb (0.46); at scale 40 all of them: 0.741, nonsense 0.53.
# - mnrl_scale: MNRL's softmax scale (1/temperature). The library default, 20, spreads the whole
#   catalog apart (unrelated pairs 0.23 -> 0.01) and takes topically related pairs down with it
#   ("poverty ~ medicaid recipients"); a sharper softmax only pushes the hardest negatives.
#   Held-out Spearman: scale 10 0.654, 20 0.665, 40 0.720, 60 0.734, 100 0.738, but nonsense
#   queries climbed with it (0.37 -> 0.61) until anchors held the catalog in place. With
#   anchors, over seeds 42/7/1: scale 30 Spearman 0.702, nonsense max up to 0.495; 40: 0.708,
#   up to 0.498; 50: 0.711, up to 0.500 (the limit).
# - anchor_fraction: anchor pairs per mined pair. Each is two random texts of different
#   StatVars labelled with the base model's cosine, so unrelated catalog texts stay where the
#   base model had them: neither collapsed (the original recipe's failure) nor spread apart.
#   At scale 40: nonsense max 0.511 -> 0.455, unrelated pairs 0.113 -> 0.227 (base 0.230),
#   held-out Spearman 0.720 -> 0.717.

PRESETS: dict[str, dict[str, dict]] = {
    # tiny: a smoke test of the whole pipeline (CI, nbval): little data, a few steps.
    "tiny": {"seed": {**SEED, "batch_size": 16, "max_steps": 3, "max_statvars": 40},
             "default": {**DEFAULT, "batch_size": 16, "max_steps": 3, "max_statvars": 40}},
    "small": {"seed": SEED, "default": DEFAULT},
    "medium": {"seed": SEED, "default": DEFAULT},
}

DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"


@dataclass
class RunConfig:
    """Every parameter of a run; written to the run's config.json."""
    size: str = "small"
    recipe: str = "default"
    data_dir: str = ""
    eval_dir: str = ""
    base_model: str = DEFAULT_BASE_MODEL
    epochs: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup_steps: float | None = None
    max_seq_length: int | None = None
    max_steps: int | None = None
    max_statvars: int | None = None
    seed: int = 42
    device: str = ""        # "" = cuda when available, else cpu
    precision: str = "auto"  # auto | fp32 | bf16
    report_queries: str = ""  # query list for rank_diff.html; "" = the held-out queries
    # Knobs of the in-batch recipes (default, mnrl, cosent); unused by seed.
    mnrl_scale: float | None = None       # MNRL softmax scale (1/temperature)
    anchor_fraction: float | None = None  # base-model-scored anchor pairs per mined pair
    mined_fraction: float | None = None   # share of mined pairs also in the scored (absolute-label) loss

    def to_dict(self) -> dict:
        return asdict(self)


def recipes() -> list[str]:
    from .recipes import RECIPES
    return sorted(RECIPES)


def make_config(**params) -> RunConfig:
    """Validate parameters and fill every `None` from the preset of (size, recipe)."""
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise DataError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    cfg = RunConfig(**{k: v for k, v in params.items() if v is not None})
    if cfg.size not in SIZES:
        raise DataError(f"unknown size {cfg.size!r}; choose one of {', '.join(SIZES)}")
    if cfg.recipe not in recipes():
        raise DataError(f"unknown recipe {cfg.recipe!r}; choose one of {', '.join(recipes())}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise DataError(f"unknown precision {cfg.precision!r}; choose auto, fp32 or bf16")
    preset = PRESETS[cfg.size].get(cfg.recipe, PRESETS[cfg.size]["default"])
    for key, value in preset.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    for key in ("batch_size", "max_seq_length"):
        if int(getattr(cfg, key)) < 1:
            raise DataError(f"{key} must be a positive integer, got {getattr(cfg, key)}")
    if cfg.mnrl_scale is not None and not cfg.mnrl_scale > 0:
        raise DataError(f"mnrl_scale must be positive, got {cfg.mnrl_scale}")
    for key, high in (("anchor_fraction", 10), ("mined_fraction", 1)):
        value = getattr(cfg, key)
        if value is not None and not 0 <= value <= high:
            raise DataError(f"{key} must be between 0 and {high}, got {value}")
    return cfg


def model_slug(base_model: str) -> str:
    """A short, filesystem-safe name of a base model for run folder names."""
    name = Path(base_model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:40]
