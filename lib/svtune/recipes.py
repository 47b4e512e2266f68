"""Training recipes: each is a small named function from mined pairs to datasets and losses.

    seed     the original Data Commons recipe: CosineSimilarityLoss on every pair,
             random batches (kept to reproduce and compare against)
    default  symmetric MultipleNegativesRankingLoss on the positive pairs (in-batch
             negatives; a batch never holds two rows of one StatVar or one text) +
             CosineSimilarityLoss on the curated scored pairs (repeated) and a quarter of
             the mined pairs, so curated low labels pull spurious links down in absolute
             terms; length-grouped batches, frozen token embeddings, no dropout, bf16.
             Chosen by `python -m svtune.bench --full` (README, benchmark.ipynb)
    mnrl     ablation: the default without the scored pairs
    cosent   ablation: the default with CoSENTLoss (rank-only) on the scored pairs

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
CURATED_REPEAT = 16        # the curated scored pairs are few; repeat them so their loss gets enough steps
# A quarter of the mined pairs keep the original's absolute-label objective beside the
# in-batch negatives: measured on Data Commons data, held-out Spearman 0.658 -> 0.668 and
# MRR@10 0.764 -> 0.771 for +12% training time; all of them (1.0) raised Spearman to 0.685
# but cost MRR (0.757) and let nonsense queries climb (0.46).
MINED_SCORED_FRACTION = 0.25


@dataclass
class Plan:
    datasets: Any                 # a Dataset or a dict name -> Dataset
    losses: Any                   # a loss or a dict name -> loss (same keys)
    batch_sampler: Any = "batch_sampler"
    notes: str = ""
    # Token embeddings take half of MiniLM's weights but get sparse, tiny updates from short
    # texts; freezing them saves optimizer work per step without hurting held-out quality.
    freeze_token_embeddings: bool = False
    # Dropout while training (None = the model's own). On a CPU, dropout masks cost ~18% of
    # a MiniLM step; in-batch negatives regularise enough without them.
    dropout: float | None = None

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


def token_counter(model) -> Callable[[list[str]], list[int]]:
    """Token counts as the model will see them (truncated to its max_seq_length)."""
    def count(texts: list[str]) -> list[int]:
        ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        return [len(x) for x in ids]
    return count


def _sampler(pairs: pd.DataFrame, model) -> Callable:
    return functools.partial(GroupedBatchSampler, text_dcids=text_dcids(pairs), length_fn=token_counter(model))


def _in_batch(pairs: pd.DataFrame, model, cfg, scored_loss: str | None, notes: str) -> Plan:
    from sentence_transformers.sentence_transformer import losses
    datasets = {"positives": _positives(pairs)}
    # Symmetric in-batch negatives: each anchor against every positive, and back.
    objectives = {"positives": losses.MultipleNegativesRankingLoss(
        model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")}
    curated = pairs[pairs["source"] == "curated_pair"]
    if scored_loss and len(curated) >= 2:
        mined = pairs[pairs["source"] != "curated_pair"]
        scored = pd.concat([curated] * CURATED_REPEAT + [mined.sample(frac=MINED_SCORED_FRACTION,
                                                                       random_state=cfg.seed)],
                           ignore_index=True)
        datasets["scored"] = _scored(scored)
        objectives["scored"] = {"mse": losses.CosineSimilarityLoss, "cosent": losses.CoSENTLoss}[scored_loss](model)
    return Plan(datasets, objectives, _sampler(pairs, model), notes, freeze_token_embeddings=True,
                dropout=0.0)


def default(pairs: pd.DataFrame, model, cfg) -> Plan:
    return _in_batch(pairs, model, cfg, "mse", "symmetric MNRL on positives (no same-StatVar negatives) + "
                     "CosineSimilarityLoss on curated pairs x16 and a quarter of the mined pairs")


def mnrl(pairs: pd.DataFrame, model, cfg) -> Plan:
    return _in_batch(pairs, model, cfg, None, "symmetric MNRL on positives only (ablation)")


def cosent(pairs: pd.DataFrame, model, cfg) -> Plan:
    return _in_batch(pairs, model, cfg, "cosent", "symmetric MNRL + CoSENTLoss on the scored pairs (ablation)")


RECIPES: dict[str, Callable[..., Plan]] = {"seed": seed, "default": default, "mnrl": mnrl, "cosent": cosent}
