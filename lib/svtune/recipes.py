"""Training recipes: each is a small named function from mined pairs to datasets and losses.

    seed     the original Data Commons recipe: CosineSimilarityLoss on every pair,
             random batches (kept to reproduce and compare against)
    default  MultipleNegativesRankingLoss on the positive pairs (in-batch negatives,
             batches never hold two rows of one StatVar or one text) + CoSENTLoss on
             the curated scored pairs (so curated low scores push pairs apart),
             length-grouped batches; chosen by `python -m svtune.bench`
    mnrl     the default without the CoSENT part (an ablation)

A recipe returns a `Plan`: train datasets, their losses and the batch sampler.
To add one, write a function and register it in RECIPES.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
from datasets import Dataset

from .sampling import GroupedBatchSampler

POSITIVE_MIN_SCORE = 0.8   # pairs at or above this label are positives for in-batch negatives
CURATED_REPEAT = 8         # the curated scored pairs are few; repeat them so CoSENT gets enough steps


@dataclass
class Plan:
    datasets: Any                 # a Dataset or a dict name -> Dataset
    losses: Any                   # a loss or a dict name -> loss (same keys)
    batch_sampler: Any = "batch_sampler"
    notes: str = ""

    def num_pairs(self) -> int:
        ds = self.datasets.values() if isinstance(self.datasets, dict) else [self.datasets]
        return sum(len(d) for d in ds)


def text_dcids(pairs: pd.DataFrame) -> dict[str, set[str]]:
    """Which StatVars each text was mined from (the false-negative guard's keys)."""
    out: dict[str, set[str]] = {}
    for s1, s2, dcid in pairs[["sentence_1", "sentence_2", "dcid"]].itertuples(index=False):
        if dcid:
            out.setdefault(s1.strip().lower(), set()).add(dcid)
            out.setdefault(s2.strip().lower(), set()).add(dcid)
    return out


def _scored(pairs: pd.DataFrame) -> Dataset:
    return Dataset.from_dict({"sentence_1": pairs["sentence_1"].tolist(),
                              "sentence_2": pairs["sentence_2"].tolist(),
                              "score": pairs["score"].astype(float).tolist()})


def seed(pairs: pd.DataFrame, model, cfg) -> Plan:
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    return Plan(_scored(pairs), CosineSimilarityLoss(model), "batch_sampler",
                "CosineSimilarityLoss on all pairs, random batches (original recipe)")


def _positives(pairs: pd.DataFrame) -> Dataset:
    pos = pairs[pairs["score"] >= POSITIVE_MIN_SCORE]
    return Dataset.from_dict({"anchor": pos["sentence_1"].tolist(),
                              "positive": pos["sentence_2"].tolist()})


def _sampler(pairs: pd.DataFrame) -> Callable:
    return functools.partial(GroupedBatchSampler, text_dcids=text_dcids(pairs))


def mnrl(pairs: pd.DataFrame, model, cfg) -> Plan:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    return Plan(_positives(pairs), MultipleNegativesRankingLoss(model), _sampler(pairs),
                "MNRL on positives, grouped batches without same-StatVar negatives")


def default(pairs: pd.DataFrame, model, cfg) -> Plan:
    from sentence_transformers.sentence_transformer.losses import (CoSENTLoss,
                                                                   MultipleNegativesRankingLoss)
    curated = pairs[pairs["source"] == "curated_pair"]
    datasets = {"positives": _positives(pairs)}
    losses = {"positives": MultipleNegativesRankingLoss(model)}
    if len(curated) >= 2:
        datasets["curated"] = _scored(pd.concat([curated] * CURATED_REPEAT, ignore_index=True))
        losses["curated"] = CoSENTLoss(model)
    return Plan(datasets, losses, _sampler(pairs),
                "MNRL on positives + CoSENT on curated scored pairs, grouped batches")


RECIPES: dict[str, Callable[..., Plan]] = {"seed": seed, "default": default, "mnrl": mnrl}
