"""What a recipe is: a frozen record of knobs, each with its default, meaning and allowed values
(`knob`), checked when overridden; and the Plan of one training stage a recipe produces. The
recipes themselves are in recipes.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import pandas as pd

from svtune.data.csvio import DataError


def knob(default, help: str, lo: float | None = None, hi: float | None = None, whole: bool = False,
         positive: bool = False, choices: tuple | None = None):
    """A recipe field a run may override, with its meaning and its allowed values."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "whole": whole,
                                            "positive": positive, "choices": choices})


@dataclass
class Plan:
    """One training stage: datasets and their losses, batches, and the stage's own settings."""
    datasets: Any                 # a Dataset or a dict name -> Dataset
    losses: Any                   # a loss or a dict name -> loss (same keys)
    batch_sampler: Any = "batch_sampler"
    notes: str = ""
    freeze_token_embeddings: bool = False
    dropout: float | None = None
    epochs: float = 1.0
    learning_rate: float = 2e-5
    batch_size: int = 32
    name: str = "train"

    def num_pairs(self) -> int:
        ds = self.datasets.values() if isinstance(self.datasets, dict) else [self.datasets]
        return sum(len(d) for d in ds)


@dataclass(frozen=True)
class Recipe:
    """What every recipe has: how long and how fast it trains, its batches, and what follows."""
    name: str = ""
    about: str = ""
    epochs: float = knob(1.0, "passes over the training pairs", lo=0, hi=1000, positive=True)
    batch_size: int = knob(32, "pairs per optimizer step", lo=1, whole=True)
    learning_rate: float = knob(2e-5, "AdamW peak learning rate (linear schedule)", hi=1, positive=True)
    warmup: float = knob(0.0, "linear warmup: a fraction of the steps (below 1) or a number of steps", lo=0)
    weight_decay: float = knob(0.01, "AdamW weight decay", lo=0, hi=1)
    max_seq_length: int = knob(128, "tokens per text; longer texts are cut", lo=8, hi=8192, whole=True)
    length_grouped: bool = knob(False, "batches of texts of similar token length (less padding)")
    # Token embeddings are half of MiniLM's weights but get sparse, tiny updates from short texts.
    freeze_token_embeddings: bool = knob(False, "keep the token embedding matrix fixed")
    # Fine-tuning for a domain moves the top layers most; frozen bottom layers are computed once per text.
    freeze_layers: int = knob(0, "bottom transformer layers kept fixed (with the embeddings); 0: none",
                              lo=0, hi=48, whole=True)
    frozen_cache: bool = knob(True, "compute the frozen layers' output once per distinct text (frozen.py)")
    # Dropout masks cost a noticeable share of a CPU step; in-batch negatives regularise enough.
    dropout: float | None = knob(None, "dropout while training (None: the model's own)", lo=0, hi=1)
    bf16: bool = knob(False, "train under bf16 autocast where the machine measures faster in it")
    center: float = knob(0.0, "share of the catalog's mean embedding removed after training", lo=0, hi=1)
    merge_base: float = knob(1.0, "final weights: this share of the tuned ones + the rest of the base model's "
                                  "(before centring; 1: no merge)", lo=0, hi=1)
    # A custom DC trained beside Data Commons' catalog (-p dc_dir): its pairs are few against Data Commons'.
    # 8: the owner's served MRR@10 0.82 at 4, 0.87 at 8, 0.87 at 16 (docs/custom_dc.md, section 7).
    owner_repeat: int = knob(8, "with -p dc_dir: passes over the owner's pairs per pass over Data Commons' "
                                "(each copy a positive in the in-batch loss)", lo=1, hi=100, whole=True)
    dc_fraction: float = knob(1.0, "with -p dc_dir: share of Data Commons' mined pairs trained on beside the "
                                   "owner's (its curated pairs always)", lo=0, hi=1)
    # Speed only (docs/experiments.md has what each measured):
    optimizer: str = knob("adamw_torch_fused", "AdamW kernel", choices=("adamw_torch_fused", "adamw_torch"))
    attention: str = knob("auto", "attention kernel (auto: eager for bf16 on a CPU, else SDPA)",
                          choices=("auto", "eager", "sdpa"))

    @classmethod
    def knobs(cls) -> list:
        return [f for f in fields(cls) if f.name not in ("name", "about")]

    def with_overrides(self, overrides: dict) -> "Recipe":
        """This recipe with `overrides` applied, each checked against the knob's allowed values."""
        if not isinstance(overrides, dict):
            raise DataError(f"overrides must be a mapping knob -> value, got {overrides!r}")
        by_name = {f.name: f for f in self.knobs()}
        unknown = sorted(set(overrides) - set(by_name))
        if unknown:
            raise DataError(f"recipe {self.name!r} has no knob {', '.join(unknown)}; its knobs: "
                            f"{', '.join(by_name)} (svtune recipes)")
        return replace(self, **{k: _checked(by_name[k], v) for k, v in overrides.items()})

    def values(self) -> dict:
        return asdict(self)

    @property
    def needs_teacher(self) -> bool:
        return False

    @property
    def distils(self) -> bool:
        """Matches the teacher's similarities while training (needs its embeddings)."""
        return False

    @property
    def embeds_teacher(self) -> bool:
        """Matches the teacher's embedding of each text (needs the student's own, to project onto)."""
        return False

    @property
    def tuned_teacher(self) -> str:
        """The base model of a teacher to tune on the catalog first, when no teacher is given ('': none)."""
        return ""

    @property
    def neighbour_pairs(self) -> int:
        """Teacher-graded pairs of each item with its nearest others (teacher.annotate)."""
        return 0

    @property
    def scored_epochs(self) -> float:
        """Epochs of a second stage of scored pairs alone (0: none); a knob of the recipes that have one."""
        return 0.0

    def plans(self, pairs: pd.DataFrame, model, seed: int, teacher=None) -> list[Plan]:
        """The training stages; `teacher` is a teacher.Space when the recipe distils one."""
        raise NotImplementedError

    def _plan(self, datasets, losses, sampler, notes: str, **stage) -> Plan:
        settings = {"freeze_token_embeddings": self.freeze_token_embeddings, "dropout": self.dropout,
                    "epochs": self.epochs, "learning_rate": self.learning_rate, "batch_size": self.batch_size}
        return Plan(datasets, losses, sampler, notes, **{**settings, **stage})


def _checked(f, value):
    """`value` for knob `f`, or a DataError saying what the knob accepts."""
    meta, default = f.metadata, f.default
    if value is None and default is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DataError(f"{f.name} must be True or False, got {value!r}")
        return value
    if isinstance(default, str) and not meta["choices"]:
        if not isinstance(value, str):
            raise DataError(f"{f.name} must be text, got {value!r}")
        return value
    if meta["choices"]:
        if value not in meta["choices"]:
            raise DataError(f"{f.name} must be one of {', '.join(meta['choices'])}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{f.name} must be a number, got {value!r}")
    lo, hi = meta["lo"], meta["hi"]
    if meta["whole"] and value != int(value):
        raise DataError(f"{f.name} must be a whole number, got {value}")
    if meta["positive"] and not value > 0:
        raise DataError(f"{f.name} must be positive, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi) or value != value:
        raise DataError(f"{f.name} must be between {lo if lo is not None else '-inf'} and "
                        f"{hi if hi is not None else 'inf'}, got {value}")
    return int(value) if meta["whole"] else float(value)


def describe(recipe: Recipe) -> str:
    """The recipe's knobs, values and meaning, as `svtune recipes` prints them."""
    lines = [f"{recipe.name}: {recipe.about}"]
    for f in recipe.knobs():
        lines.append(f"  {f.name:<24} {getattr(recipe, f.name)!s:<10} {f.metadata['help']}")
    return "\n".join(lines)
