"""Training recipes: each is a small named function from mined pairs to datasets and losses.

    seed     the original Data Commons recipe: CosineSimilarityLoss on every pair,
             random batches (kept to reproduce and compare against)
    default  symmetric MultipleNegativesRankingLoss on the positive pairs (in-batch
             negatives; a batch never holds two rows of one StatVar or one text; a sharp
             softmax, cfg.mnrl_scale) + CosineSimilarityLoss on the curated scored pairs
             (x cfg.curated_repeat) and the mined pairs (cfg.mined_fraction of them), in one
             stage, so curated low labels pull spurious links down in absolute terms; optional
             "anchor" pairs (cfg.anchor_fraction: random texts of different StatVars labelled
             with the base model's own cosine); length-grouped batches, frozen token embeddings,
             no dropout, bf16. After training, Run.train centres the model on its catalog
             (cfg.center, centering.py). Chosen by `python -m svtune.bench --full` (README,
             benchmark.ipynb); the knob values and why: config.DEFAULT
    twostage the original's later two-stage variant, measured as an alternative: stage 1 the
             in-batch negatives alone, stage 2 a short pass of CosineSimilarityLoss on every
             pair (cfg.scored_epochs at cfg.scored_learning_rate). Ranks related concepts
             better (held-out Spearman), finds the right StatVar slightly less often; see
             config.TWOSTAGE
    mnrl     ablation: the in-batch negatives alone
    cosent   ablation: the default with CoSENTLoss (rank-only) on the scored pairs

Any in-batch recipe gets the scored stage after its own when cfg.scored_epochs > 0, and
cfg.hard_negatives mined negatives per positive pair (negatives.py) when it is above 0.
A recipe returns a `Plan` or a list of them (stages, trained in order): datasets, their
losses, the batch sampler and any per-stage epochs / learning rate / batch size.
To add one, write a function and register it in RECIPES.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from datasets import Dataset

from .mining import text_key
from .sampling import GroupedBatchSampler

POSITIVE_MIN_SCORE = 0.8   # pairs at or above this label are positives for in-batch negatives


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
    # Per-stage overrides of the run's settings (None = cfg's).
    epochs: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    name: str = "train"

    def num_pairs(self) -> int:
        ds = self.datasets.values() if isinstance(self.datasets, dict) else [self.datasets]
        return sum(len(d) for d in ds)


def text_dcids(pairs: pd.DataFrame) -> dict[str, set[str]]:
    """Which StatVars each text was mined from (the false-negative guard's keys)."""
    out: dict[str, set[str]] = {}
    for s1, s2, dcid in pairs[["sentence_1", "sentence_2", "dcid"]].itertuples(index=False):
        if dcid:
            out.setdefault(text_key(s1), set()).add(dcid)
            out.setdefault(text_key(s2), set()).add(dcid)
    return out


def anchor_pairs(pairs: pd.DataFrame, model, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` (or a few fewer) pairs of random texts from different StatVars, scored with
    `model`'s cosine: the geometry to keep. Call it before training (on the base model)."""
    rows = pd.concat([pairs[["sentence_1", "dcid"]].set_axis(["text", "dcid"], axis=1),
                      pairs[["sentence_2", "dcid"]].set_axis(["text", "dcid"], axis=1)])
    rows = rows[rows["dcid"].astype(bool)].drop_duplicates("text").reset_index(drop=True)
    if rows["dcid"].nunique() < 2 or n < 1:
        return pd.DataFrame(columns=["sentence_1", "sentence_2", "score"])
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(rows), n), rng.integers(0, len(rows), n)
    keep = rows["dcid"].to_numpy()[i] != rows["dcid"].to_numpy()[j]
    i, j = i[keep], j[keep]
    used = np.unique(np.concatenate([i, j]))
    emb = np.zeros((len(rows), model.get_embedding_dimension()), dtype=np.float32)
    emb[used] = model.encode(rows["text"].to_numpy()[used].tolist(), batch_size=256,
                             normalize_embeddings=True, convert_to_numpy=True)
    texts = rows["text"].to_numpy()
    return pd.DataFrame({"sentence_1": texts[i], "sentence_2": texts[j],
                         "score": (emb[i] * emb[j]).sum(axis=1).astype(float)})


def _scored(pairs: pd.DataFrame) -> Dataset:
    return Dataset.from_dict({"sentence_1": pairs["sentence_1"].tolist(),
                              "sentence_2": pairs["sentence_2"].tolist(),
                              "score": pairs["score"].astype(float).tolist()})


def seed(pairs: pd.DataFrame, model, cfg) -> Plan:
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    return Plan(_scored(pairs), CosineSimilarityLoss(model), "batch_sampler",
                "CosineSimilarityLoss on all pairs, random batches (original recipe)")


def _positives(pairs: pd.DataFrame, model=None, k: int = 0) -> tuple[Dataset, str]:
    """The positive pairs, with `k` mined hard negatives per pair when k > 0 (negatives.py)."""
    pos = pairs[pairs["score"] >= POSITIVE_MIN_SCORE]
    columns = {"anchor": pos["sentence_1"].tolist(), "positive": pos["sentence_2"].tolist()}
    if k < 1:
        return Dataset.from_dict(columns), ""
    from .negatives import hard_negatives
    negatives = hard_negatives(pos, pairs, model, k, POSITIVE_MIN_SCORE)
    if any(len(n) < k for n in negatives):
        return Dataset.from_dict(columns), "; no hard negatives (no StatVar to take them from)"
    for j in range(k):
        columns[f"negative_{j + 1}"] = [n[j] for n in negatives]
    return Dataset.from_dict(columns), f"; {k} mined hard negative(s) per positive"


def token_counter(model) -> Callable[[list[str]], list[int]]:
    """Token counts as the model will see them (truncated to its max_seq_length)."""
    def count(texts: list[str]) -> list[int]:
        ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        return [len(x) for x in ids]
    return count


def _sampler(pairs: pd.DataFrame, model) -> Callable:
    return functools.partial(GroupedBatchSampler, text_dcids=text_dcids(pairs), length_fn=token_counter(model))


def _scored_pairs(pairs: pd.DataFrame, model, cfg, repeat: int) -> tuple[pd.DataFrame, str]:
    """Curated pairs x`repeat`, cfg.mined_fraction of the mined pairs, cfg.anchor_fraction anchors."""
    curated = pairs[pairs["source"] == "curated_pair"]
    mined = pairs[pairs["source"] != "curated_pair"]
    anchors = anchor_pairs(pairs, model, int(len(mined) * cfg.anchor_fraction), cfg.seed)
    mined = mined.sample(frac=cfg.mined_fraction, random_state=cfg.seed)
    scored = pd.concat([curated] * repeat + [mined, anchors], ignore_index=True)
    return scored, (f"{len(curated)} curated pairs x{repeat}, {len(mined)} mined and "
                    f"{len(anchors)} anchor pairs scored")


def _loss(name: str, model):
    from sentence_transformers.sentence_transformer import losses
    return {"mse": losses.CosineSimilarityLoss, "cosent": losses.CoSENTLoss}[name](model)


def _in_batch(pairs: pd.DataFrame, model, cfg, notes: str, scored_loss: str | None = None) -> Plan:
    """In-batch negatives on the positives, joined by `scored_loss` on the scored pairs if given."""
    from sentence_transformers.sentence_transformer import losses
    scale = float(cfg.mnrl_scale)
    positives, mined = _positives(pairs, model, int(cfg.hard_negatives))
    notes += mined
    datasets = {"positives": positives}
    # Symmetric in-batch negatives: each anchor against every positive, and back.
    objectives = {"positives": losses.MultipleNegativesRankingLoss(
        model, scale=scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")}
    if scored_loss and (pairs["source"] == "curated_pair").sum() >= 2:
        scored, what = _scored_pairs(pairs, model, cfg, int(cfg.curated_repeat))
        datasets["scored"], objectives["scored"] = _scored(scored), _loss(scored_loss, model)
        notes += f"; {what}"
    return Plan(datasets, objectives, _sampler(pairs, model), f"{notes} (MNRL scale {scale:g})",
                freeze_token_embeddings=True, dropout=0.0, name="in-batch negatives")


def _scored_stage(pairs: pd.DataFrame, model, cfg, loss: str = "mse") -> list[Plan]:
    """The optional second stage: the labelled pairs alone; none when cfg.scored_epochs is 0."""
    if not cfg.scored_epochs:
        return []
    scored, what = _scored_pairs(pairs, model, cfg, int(cfg.curated_repeat))
    objective = _loss(loss, model)
    return [Plan({"scored": _scored(scored)}, {"scored": objective}, _sampler(pairs, model),
                 f"{type(objective).__name__}: {what}",
                 freeze_token_embeddings=True, dropout=0.0, epochs=cfg.scored_epochs,
                 learning_rate=cfg.scored_learning_rate, batch_size=cfg.scored_batch_size,
                 name="scored pairs")]


def default(pairs: pd.DataFrame, model, cfg) -> list[Plan]:
    return [_in_batch(pairs, model, cfg, "symmetric MNRL on positives (no same-StatVar negatives) + "
                      "CosineSimilarityLoss", scored_loss="mse"), *_scored_stage(pairs, model, cfg)]


def mnrl(pairs: pd.DataFrame, model, cfg) -> list[Plan]:
    # Also `twostage`, whose preset adds the scored stage.
    return [_in_batch(pairs, model, cfg, "symmetric MNRL on positives (no same-StatVar negatives)"),
            *_scored_stage(pairs, model, cfg)]


def cosent(pairs: pd.DataFrame, model, cfg) -> list[Plan]:
    return [_in_batch(pairs, model, cfg, "symmetric MNRL + CoSENTLoss on the scored pairs (ablation)",
                      scored_loss="cosent"), *_scored_stage(pairs, model, cfg, "cosent")]


def stages(plan: Plan | list[Plan]) -> list[Plan]:
    return list(plan) if isinstance(plan, (list, tuple)) else [plan]


RECIPES: dict[str, Callable[..., Plan | list[Plan]]] = {"seed": seed, "default": default, "twostage": mnrl,
                                                        "mnrl": mnrl, "cosent": cosent}
