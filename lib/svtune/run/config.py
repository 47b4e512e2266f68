"""A run's parameters: a few essentials, plus `overrides` for the chosen recipe's knobs.

    cfg = make_config(size="small", recipe="default", overrides={"center": 0.3})
    cfg.hp                      # the recipe record actually trained (recipes.py), overrides applied

Everything is checked here, before anything is written; a bad value is one DataError line.
`epochs`, `batch_size` and `learning_rate` are the recipe's own knobs, lifted to the top
because people change them most; None keeps the recipe's value.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from svtune import paths
from svtune.data.catalog import SIZES
from svtune.data.csvio import DataError
from svtune.data.served import default_dc_index
from svtune.train import recipes

DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"
# `tiny` is a smoke test of the whole pipeline (CI, nbval): 40 StatVars, 3 steps, small batches.
TINY = {"max_statvars": 40, "max_steps": 3, "knobs": {"batch_size": 16, "scored_batch_size": 16}}
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class RunConfig:
    """Every parameter of a run; written to the run's config.json."""
    size: str = "small"                # tiny (smoke test) | small | medium
    data_dir: str = ""                 # "": the repo's data/
    recipe: str = "default"            # svtune recipes
    base_model: str = DEFAULT_BASE_MODEL
    epochs: float | None = None        # None: the recipe's
    batch_size: int | None = None      # None: the recipe's
    learning_rate: float | None = None  # None: the recipe's
    seed: int = 42
    max_steps: int | None = None       # stop each stage after this many steps (None: whole epochs)
    precision: str = "auto"            # auto (bf16 where it measures faster) | fp32 | bf16
    eval_dir: str = ""                 # held-out queries.csv/pairs.csv; "": <data_dir>/eval, else data/eval; none
    dc_dir: str = ""                   # a custom DC: Data Commons' catalog served beside it, trained on too (served.py)
    dc_index: str = ""                 # Data Commons' medium index it is merged with; "": dc_dir's preindex/medium
    teacher: str = ""                  # a model that grades pairs for the recipe's teacher knobs (teacher.py)
    report_queries: str = ""           # queries for rank_diff.html; "": the held-out queries
    resume: str = ""                   # an interrupted run's folder: continue it from its last checkpoint
    overrides: dict = field(default_factory=dict)   # recipe knob -> value
    hp: recipes.Recipe = field(default=None, repr=False)   # filled by make_config

    @property
    def max_statvars(self) -> int | None:
        return TINY["max_statvars"] if self.size == "tiny" else None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "hp"}


PARAMETERS = [f.name for f in fields(RunConfig) if f.name != "hp"]


def params_from(namespace: dict) -> dict:
    """The run parameters found in `namespace` (a notebook's parameters cell, run_dir included)."""
    return {k: namespace[k] for k in [*PARAMETERS, "run_dir"] if k in namespace}


def parse_value(text: str):
    """A command-line value: a Python literal (number, None, True, dict...), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(value) -> dict:
    if isinstance(value, str):   # papermill and the shell pass mappings as text
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            value = parse_value(value)
    if not isinstance(value, dict):
        raise DataError(f"overrides must be a mapping knob -> value, e.g. {{\"center\": 0.3}}; got {value!r}")
    return dict(value)


def make_config(**params) -> RunConfig:
    """Validate parameters and resolve the recipe record the run will train."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        recipe = recipes.RECIPES.get(params.get("recipe") or "default", recipes.DEFAULT)
        knobs = {f.name for f in recipe.knobs()}
        hint = ("; recipe knobs go in overrides: " + ", ".join(f"-o {k} VALUE" for k in unknown if k in knobs)
                if set(unknown) & knobs else f"; known: {', '.join(PARAMETERS)}")
        raise DataError(f"unknown parameter(s) {', '.join(unknown)}{hint}")
    cfg = RunConfig(**{k: v for k, v in params.items() if v is not None})
    if cfg.size not in SIZES:
        raise DataError(f"unknown size {cfg.size!r}; choose one of {', '.join(SIZES)}")
    if cfg.precision not in PRECISIONS:
        raise DataError(f"unknown precision {cfg.precision!r}; choose one of {', '.join(PRECISIONS)}")
    for key in ("seed", "max_steps"):
        value = getattr(cfg, key)
        least = 0 if key == "seed" else 1
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise DataError(f"{key} must be a {'non-negative' if least == 0 else 'positive'} whole number, "
                            f"got {value!r}")
    cfg.data_dir = str(paths.data_dir(cfg.data_dir))
    if cfg.dc_dir:
        cfg.dc_dir = str(paths.resolve(cfg.dc_dir))
        cfg.dc_index = str(paths.resolve(cfg.dc_index or default_dc_index(cfg.dc_dir)))
    elif cfg.dc_index:
        raise DataError("dc_index names Data Commons' index beside a custom DC: it needs -p dc_dir (Data Commons' "
                        "catalog, e.g. ../shared/datacommons)")
    cfg.overrides = parse_overrides(cfg.overrides)
    recipe = recipes.get(cfg.recipe)
    lifted = {k: getattr(cfg, k) for k in ("epochs", "batch_size", "learning_rate") if getattr(cfg, k) is not None}
    if cfg.size == "tiny":
        smoke = {k: v for k, v in TINY["knobs"].items() if hasattr(recipe, k)}
        cfg.max_steps = cfg.max_steps or TINY["max_steps"]
    else:
        smoke = {}
    cfg.hp = recipe.with_overrides({**smoke, **lifted, **cfg.overrides})
    if cfg.hp.needs_teacher and not cfg.teacher and not cfg.hp.tuned_teacher:
        raise DataError(f"recipe {cfg.recipe!r} with these knobs learns from a teacher: add -p teacher MODEL "
                        "(e.g. all-mpnet-base-v2, fetched once with `make teacher`)")
    return cfg


def model_slug(base_model: str) -> str:
    """A short, filesystem-safe name of a base model for run folder names."""
    name = Path(base_model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:40]
