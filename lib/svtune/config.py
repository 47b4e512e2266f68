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
SEED = dict(epochs=10, batch_size=256, learning_rate=2e-5, warmup_steps=10, max_seq_length=256, center=0.0)
# The default recipe: two epochs of in-batch negatives + scored pairs, length-grouped, bf16 where
# the hardware has it, then centred. Chosen by `python -m svtune.bench --full` (README, benchmark.ipynb).
DEFAULT = dict(epochs=2, batch_size=128, learning_rate=1e-4, warmup_steps=0.1, max_seq_length=64,
               mnrl_scale=40.0, anchor_fraction=0.0, mined_fraction=1.0, curated_repeat=16, center=0.5,
               scored_epochs=0.0, scored_learning_rate=2e-5, scored_batch_size=64, hard_negatives=0)
# The two-stage alternative: the in-batch negatives alone, then one epoch of scored pairs.
TWOSTAGE = {**DEFAULT, "scored_epochs": 1.0, "curated_repeat": 1, "center": 0.6}
# Why the knobs have these values, measured on Data Commons small data (README has the tables;
# the held-out Spearman figures here are on the first 106 held-out pairs, before the set grew to 305):
# - mnrl_scale: MNRL's softmax scale (1/temperature). The library default, 20, spreads the whole
#   catalog apart (unrelated pairs 0.23 -> 0.01) and takes topically related pairs down with it
#   ("poverty ~ medicaid recipients"); a sharper softmax only pushes the hardest negatives.
#   Held-out Spearman (a quarter of the mined pairs scored): scale 10 0.654, 20 0.665, 40 0.720,
#   60 0.734, 100 0.738, while nonsense queries climbed with it (0.37 -> 0.61); MRR@10 peaks
#   at 40 (0.774; 0.755 at 60 with every mined pair scored).
# - mined_fraction: share of the mined pairs also trained with the original's absolute-label
#   CosineSimilarityLoss beside the in-batch negatives. At scale 40: a quarter 0.720, all of
#   them 0.741 held-out Spearman, but nonsense queries then reach 0.53 -- until centring.
# - curated_repeat: the curated pairs are few (124 of ~8,800); x16 gives their loss enough steps
#   (x4: the <=0.05 band stays at the base model's 0.288).
# - center: share of the catalog's mean embedding removed after training (centering.py). The
#   scored mined pairs pull the catalog into a cone; centring takes the shared direction out.
#   All mined pairs at scale 40, seeds 42/7/1, center 0 -> 0.5: held-out Spearman
#   0.741/0.733/0.741 -> 0.735/0.721/0.736, nonsense max 0.531/0.535/0.513 (broken) ->
#   0.452/0.460/0.429, MRR@10 0.766/0.769/0.765 -> 0.767/0.771/0.767. 0.3 left nonsense at
#   0.49 on two seeds, too near the 0.5 limit. Against the previous default (anchors, a quarter
#   of the mined pairs, no centring), same seeds: Spearman mean 0.708 -> 0.731.
# - anchor_fraction: base-model-scored pairs of random texts of different StatVars, per mined
#   pair: the previous default's way to hold the catalog in place (1.0; nonsense 0.511 -> 0.455
#   at scale 40), at the cost of ~40 s of encoding and ~0.02 held-out Spearman. Centring
#   does that job better; kept as a knob.
# - scored_*: the optional second stage (0 epochs = none in the default). twostage, seeds
#   42/7/1: held-out Spearman 0.763/0.752/0.747 (default 0.735/0.722/0.735), MRR@10
#   0.769/0.758/0.750 (default 0.765/0.770/0.768), pairs <=0.05 0.206/0.238/0.266 (default
#   ~0.20). Its learning rate is the trade (seed 42, centred 0.5): 1e-5 MRR@10 0.777 /
#   Spearman 0.755, 2e-5 0.770 / 0.767, 4e-5 0.757 / 0.784. Curated pairs once: x16 in stage
#   2 gave Spearman 0.746/0.736/0.736. Center 0.6: at 0.5 nonsense reached 0.48-0.50.
# - hard_negatives: mined hard negatives per positive (negatives.py); 0 = in-batch negatives only.
#   One each, seed 42: default MRR@10 0.769 / Spearman 0.725 (without: 0.765 / 0.735) in 257 s
#   and 4.1 GB (a third text per row); twostage 0.748 / 0.759 (without: 0.769 / 0.763).

PRESETS: dict[str, dict[str, dict]] = {
    # tiny: a smoke test of the whole pipeline (CI, nbval): little data, a few steps.
    "tiny": {name: {**preset, "batch_size": 16, "scored_batch_size": 16, "max_steps": 3, "max_statvars": 40}
             for name, preset in (("seed", SEED), ("default", DEFAULT), ("twostage", TWOSTAGE))},
    "small": {"seed": SEED, "default": DEFAULT, "twostage": TWOSTAGE},
    "medium": {"seed": SEED, "default": DEFAULT, "twostage": TWOSTAGE},
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
    curated_repeat: int | None = None     # copies of each curated pair among the scored pairs
    hard_negatives: int | None = None     # mined hard negatives per positive pair (0 = in-batch only)
    scored_epochs: float | None = None    # a second stage of scored pairs alone after the first (0 = none)
    scored_learning_rate: float | None = None  # that stage's learning rate
    scored_batch_size: int | None = None       # and batch size
    # Any recipe: share of the catalog's mean embedding removed after training (centering.py).
    center: float | None = None

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
    for key in ("batch_size", "max_seq_length", "scored_batch_size"):
        if getattr(cfg, key) is not None and int(getattr(cfg, key)) < 1:
            raise DataError(f"{key} must be a positive integer, got {getattr(cfg, key)}")
    for key in ("mnrl_scale", "scored_learning_rate"):
        if getattr(cfg, key) is not None and not getattr(cfg, key) > 0:
            raise DataError(f"{key} must be positive, got {getattr(cfg, key)}")
    for key, high in (("anchor_fraction", 10), ("mined_fraction", 1), ("center", 1),
                      ("scored_epochs", 100), ("curated_repeat", 1000), ("hard_negatives", 10)):
        value = getattr(cfg, key)
        if value is not None and not 0 <= value <= high:
            raise DataError(f"{key} must be between 0 and {high}, got {value}")
    for key in ("curated_repeat", "hard_negatives"):
        if getattr(cfg, key) is not None and getattr(cfg, key) != int(getattr(cfg, key)):
            raise DataError(f"{key} must be a whole number, got {getattr(cfg, key)}")
    return cfg


def model_slug(base_model: str) -> str:
    """A short, filesystem-safe name of a base model for run folder names."""
    name = Path(base_model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:40]
