"""Training recipes as data: each recipe is one record holding every hyper-parameter it uses.

    seed      the original Data Commons recipe: CosineSimilarityLoss on every pair, random
              batches, fp32, 10 epochs (kept to reproduce and compare against)
    default   in-batch negatives (symmetric MultipleNegativesRankingLoss; a batch never holds two
              rows of one StatVar or one text) + CosineSimilarityLoss on the scored pairs,
              length-grouped batches, then centred on the catalog
    twostage  the in-batch negatives alone, then one epoch of scored pairs
    distil    the default, also learning from a teacher tuned on the same catalog first (cached):
              its cosines within each batch and its embedding of each text (teacher.py)
    mnrl, cosent  ablations: no scored loss; CoSENT instead of the cosine loss

A run names a recipe and may change any of its knobs (`-o mnrl_scale 30`); every knob, its
value and its meaning: `svtune recipes`. Why the values are what they are:
docs/experiments.md. A recipe's `plans()` turns the mined pairs into training stages
(datasets, losses, batches), trained in order by training.fit.

To add a knob: a `knob(...)` field on the recipe's class, and its use in that class's `plans`.
To add a recipe: one record in RECIPES.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from svtune.data import sources
from svtune.data.csvio import DataError
from svtune.data.mining import text_dcids
from svtune.model.load import token_counter
from svtune.train import batch
from svtune.train.distributed import world_size
from svtune.train.knobs import Plan, Recipe, describe, knob
from svtune.train.negatives import hard_negatives

__all__ = ["RECIPES", "Plan", "Recipe", "describe", "get", "knob", "positives"]

POSITIVE_MIN_SCORE = 0.8   # pairs at or above this label are positives for in-batch negatives


def positives(pairs: pd.DataFrame) -> pd.Series:
    """Rows that are two texts of one thing (mined or curated synonyms): in-batch positives.
    Relation and teacher pairs join different things, whatever their label."""
    related = pairs["source"].isin([*sources.RELATIONS, sources.TEACHER_NEIGHBOUR])
    return (pairs["score"] >= POSITIVE_MIN_SCORE) & ~related


def _scored(pairs: pd.DataFrame):
    from datasets import Dataset
    return Dataset.from_dict({"sentence_1": pairs["sentence_1"].tolist(),
                              "sentence_2": pairs["sentence_2"].tolist(),
                              "score": pairs["score"].astype(float).tolist()})


def _sampler(pairs: pd.DataFrame, model, grouped: bool, guard_labelled: bool = False):
    """Length-grouped batches with no two rows of one StatVar or text, or the library's random ones."""
    if not grouped:
        return "batch_sampler"
    from svtune.train.sampling import GroupedBatchSampler
    return functools.partial(GroupedBatchSampler, text_dcids=text_dcids(pairs), guard_labelled=guard_labelled,
                             length_fn=token_counter(model.tokenizer, model.max_seq_length), world_size=world_size())


def _loss(name: str, model):
    from sentence_transformers.sentence_transformer import losses
    return {"cosine": losses.CosineSimilarityLoss, "cosent": losses.CoSENTLoss}[name](model)


@dataclass(frozen=True)
class Cosine(Recipe):
    """One absolute-label loss on every pair (the original recipe's shape)."""

    def plans(self, pairs: pd.DataFrame, model, seed: int, teacher=None) -> list[Plan]:
        return [self._plan(_scored(pairs), _loss("cosine", model), _sampler(pairs, model, self.length_grouped),
                           "CosineSimilarityLoss on all pairs" + ("" if self.length_grouped else ", random batches"))]


@dataclass(frozen=True)
class InBatch(Recipe):
    """In-batch negatives on the positive pairs, optionally joined by a loss on the scored pairs,
    optionally followed by a stage of scored pairs alone."""
    # The library's default scale (20) spreads the whole catalog apart and takes related pairs with it.
    mnrl_scale: float = knob(40.0, "in-batch softmax scale (1/temperature)", hi=1000, positive=True)
    scored_loss: str = knob("cosine", "loss on the scored pairs beside the in-batch negatives",
                            choices=("cosine", "cosent", "none"))
    mined_fraction: float = knob(1.0, "share of the mined pairs also in the scored loss", lo=0, hi=1)
    curated_repeat: int = knob(16, "copies of each curated pair among the scored pairs", lo=0, hi=1000, whole=True)
    hard_negatives: int = knob(0, "mined hard negatives per positive pair (negatives.py)", lo=0, hi=10, whole=True)
    scored_epochs: float = knob(0.0, "epochs of a second stage of scored pairs alone (0: none)", lo=0, hi=100)
    scored_learning_rate: float = knob(2e-5, "that stage's learning rate", hi=1, positive=True)
    scored_batch_size: int = knob(64, "that stage's batch size", lo=1, whole=True)
    relations: bool = knob(True, "train on the topic hierarchy's relation pairs (mining.py), when there is one")
    topic_member_label: float = knob(0.7, "label of topic name ~ member pairs", lo=0, hi=1)
    peer_group_label: float = knob(0.5, "label of two StatVars of one peer group", lo=0, hi=1)
    same_topic_label: float = knob(0.4, "label of two StatVars under one topic", lo=0, hi=1)
    sibling_label: float = knob(0.4, "label of two sub-topics of one topic", lo=0, hi=1)
    teacher_neighbours: int = knob(0, "teacher-graded pairs of each item with its nearest other items "
                                      "(needs -p teacher)", lo=0, hi=100, whole=True)
    teacher_labels: str = knob("none", "pairs whose label the teacher gives instead of the rules (needs -p teacher)",
                               choices=("none", "relations", "mined", "all"))
    teacher_distil: float = knob(0.0, "one pass: weight of matching the teacher's (calibrated) cosines between "
                                      "every two texts of a batch (needs -p teacher)", lo=0, hi=100)
    embed_distil: float = knob(0.0, "one pass: weight of the squared distance between each text's embedding and "
                                    "the teacher's, PCA-projected onto the student's space (needs a teacher)",
                               lo=0, hi=100)
    # A teacher tuned on the catalog grades far better than an untuned one (docs/experiments.md, issue 22).
    teacher_base: str = knob("", "without -p teacher: tune this model on the same catalog first (cached under "
                                 "outputs/teachers/) and learn from it; '': no such teacher")
    # Two datasets (one per loss) encode each mined pair twice per epoch; one pass encodes it once.
    one_pass: bool = knob(True, "both losses on one dataset, each text encoded once per step "
                                "(losses.py; not with hard_negatives)")
    # Adam normalises the summed gradient, so in one pass the scored loss needs its own weight to
    # move the model as far as its own steps did (docs/experiments.md).
    scored_weight: float = knob(1.0, "one pass: weight of the scored loss against the in-batch loss", lo=0, hi=100)

    @property
    def needs_teacher(self) -> bool:
        return (self.teacher_neighbours > 0 or self.teacher_labels != "none" or self.teacher_distil > 0
                or self.embed_distil > 0)

    @property
    def distils(self) -> bool:
        return self.teacher_distil > 0 or self.embed_distil > 0

    @property
    def embeds_teacher(self) -> bool:
        return self.embed_distil > 0

    @property
    def tuned_teacher(self) -> str:
        return self.teacher_base if self.needs_teacher else ""

    @property
    def neighbour_pairs(self) -> int:
        return self.teacher_neighbours

    def _positives(self, pairs: pd.DataFrame, model):
        """The positive pairs, with mined hard negatives per pair when asked for."""
        from datasets import Dataset
        pos = pairs[positives(pairs)]
        columns = {"anchor": pos["sentence_1"].tolist(), "positive": pos["sentence_2"].tolist()}
        k = self.hard_negatives
        if k < 1:
            return Dataset.from_dict(columns), ""
        negatives = hard_negatives(pos, pairs, model, k, POSITIVE_MIN_SCORE)
        if any(len(n) < k for n in negatives):
            return Dataset.from_dict(columns), "; no hard negatives (no StatVar to take them from)"
        for j in range(k):
            columns[f"negative_{j + 1}"] = [n[j] for n in negatives]
        return Dataset.from_dict(columns), f"; {k} mined hard negative(s) per positive"

    def _relations(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """The hierarchy's relation pairs with this recipe's labels (or the teacher's)."""
        rel = pairs[pairs["source"].isin(sources.RELATIONS)]
        if not self.relations or rel.empty:
            return rel.iloc[:0]
        if self.teacher_labels in ("relations", "all"):
            return rel.assign(score=rel["teacher"])
        labels = {sources.TOPIC_MEMBER: self.topic_member_label, sources.PEER_GROUP: self.peer_group_label,
                  sources.SAME_TOPIC: self.same_topic_label, sources.SIBLING_TOPICS: self.sibling_label}
        return rel.assign(score=rel["source"].map(labels).astype(float))

    def _scored_pairs(self, pairs: pd.DataFrame, model, seed: int) -> tuple[pd.DataFrame, str]:
        """Curated pairs x curated_repeat, mined_fraction of the mined pairs, relation and
        teacher-neighbour pairs."""
        source = pairs["source"]
        curated = pairs[source == sources.CURATED]
        mined = pairs[~source.isin([sources.CURATED, sources.TEACHER_NEIGHBOUR, *sources.RELATIONS])]
        mined = mined.sample(frac=self.mined_fraction, random_state=seed)
        if self.teacher_labels in ("mined", "all"):
            mined = mined.assign(score=mined["teacher"])
        relations = self._relations(pairs)
        neighbours = pairs[source == sources.TEACHER_NEIGHBOUR] if self.teacher_neighbours else pairs.iloc[:0]
        scored = pd.concat([curated] * self.curated_repeat + [mined, relations, neighbours],
                           ignore_index=True)
        return scored, (f"{len(curated)} curated pairs x{self.curated_repeat}, {len(mined)} mined, "
                        f"{len(relations)} relation and {len(neighbours)} teacher pairs")

    def _one_pass(self, pairs: pd.DataFrame, model, seed: int, in_batch, teacher=None) -> Plan:
        """One dataset: every scored pair (curated x repeat, mined, relations) and every positive,
        each row labelled as batch.Label lays out."""
        from datasets import Dataset

        from svtune.train.losses import InBatchAndScored
        scored, what = self._scored_pairs(pairs, model, seed)
        scored = scored.assign(positive=0.0, in_scored=1.0)
        positive = positives(pairs)
        # Each positive in the in-batch loss as often as `pairs` holds it (owner_repeat; curated_repeat's
        # copies do not count): flag its first rows in `scored`, add the ones not sampled into it
        # (mined_fraction < 1) as in-batch-only rows.
        key = pd.Series(list(zip(scored["sentence_1"], scored["sentence_2"])), index=scored.index)
        times = Counter(zip(pairs.loc[positive, "sentence_1"], pairs.loc[positive, "sentence_2"]))
        seen: Counter = Counter()
        flags = [seen.update([k]) or seen[k] <= times.get(k, 0) for k in key]
        scored.loc[np.array(flags, dtype=bool), "positive"] = 1.0
        in_scored = set(key)
        not_scored = np.array([k not in in_scored for k in zip(pairs["sentence_1"], pairs["sentence_2"])], dtype=bool)
        missing = pairs[positive.to_numpy() & not_scored]
        rows = pd.concat([scored, missing.assign(positive=1.0, in_scored=0.0)], ignore_index=True)
        distil = teacher if self.distils else None
        if distil is not None:   # where each text sits in the teacher's embeddings (losses.InBatchAndScored)
            rows = rows.assign(teacher_1=distil.ids(rows["sentence_1"]), teacher_2=distil.ids(rows["sentence_2"]))
        columns = batch.columns(distil is not None)
        data = Dataset.from_dict({"sentence_1": rows["sentence_1"].tolist(), "sentence_2": rows["sentence_2"].tolist(),
                                  "label": rows[columns].astype(float).values.tolist()})
        loss = InBatchAndScored(model, in_batch, _loss(self.scored_loss, model),
                                scored_weight=self.scored_weight, gather=in_batch.gather_across_devices,
                                teacher=distil, distil_weight=self.teacher_distil, embed_weight=self.embed_distil)
        notes = (f"one pass: symmetric MNRL on {int(rows.positive.sum())} positives (no same-StatVar negatives) + "
                 f"{type(loss.scored).__name__} on {what} (MNRL scale {self.mnrl_scale:g})")
        return self._plan(data, loss, _sampler(pairs, model, self.length_grouped, guard_labelled=True), notes,
                          name="in-batch negatives + scored pairs")

    def plans(self, pairs: pd.DataFrame, model, seed: int, teacher=None) -> list[Plan]:
        from sentence_transformers.sentence_transformer import losses
        # Several processes: in-batch negatives span the global batch, as in one process.
        in_batch = losses.MultipleNegativesRankingLoss(
            model, scale=self.mnrl_scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction",
            gather_across_devices=world_size() > 1)
        has_curated = (pairs["source"] == sources.CURATED).sum() >= 2
        if self.one_pass and self.scored_loss != "none" and self.hard_negatives == 0 and has_curated:
            return [self._one_pass(pairs, model, seed, in_batch, teacher), *self._scored_stage(pairs, model, seed)]
        positive_rows, mined = self._positives(pairs, model)
        notes = "symmetric MNRL on positives (no same-StatVar negatives)" + mined
        datasets = {"positives": positive_rows}
        # Symmetric: each anchor against every positive in the batch, and back.
        objectives = {"positives": in_batch}
        sampler = _sampler(pairs, model, self.length_grouped)
        if self.scored_loss != "none" and has_curated:
            scored, what = self._scored_pairs(pairs, model, seed)
            datasets["scored"], objectives["scored"] = _scored(scored), _loss(self.scored_loss, model)
            notes += f" + {type(objectives['scored']).__name__}: {what}"
        return [self._plan(datasets, objectives, sampler, f"{notes} (MNRL scale {self.mnrl_scale:g})",
                           name="in-batch negatives"), *self._scored_stage(pairs, model, seed)]

    def _scored_stage(self, pairs: pd.DataFrame, model, seed: int) -> list[Plan]:
        """The optional second stage: the scored pairs alone (none when scored_epochs is 0)."""
        if not self.scored_epochs:
            return []
        scored, what = self._scored_pairs(pairs, model, seed)
        loss = _loss("cosine" if self.scored_loss == "none" else self.scored_loss, model)
        return [self._plan({"scored": _scored(scored)}, {"scored": loss}, _sampler(pairs, model, self.length_grouped),
                           f"{type(loss).__name__}: {what}", epochs=self.scored_epochs,
                           learning_rate=self.scored_learning_rate, batch_size=self.scored_batch_size,
                           name="scored pairs")]


SEED = Cosine(
    "seed", "the original Data Commons recipe (model.fit defaults): CosineSimilarityLoss on every pair, "
    "random batches, fp32",
    epochs=10, batch_size=256, learning_rate=2e-5, warmup=10, max_seq_length=256)
DEFAULT = InBatch(
    "default", "symmetric in-batch negatives + CosineSimilarityLoss on every mined and curated pair, "
    "length-grouped, then centred on the catalog",
    epochs=2, batch_size=128, learning_rate=1e-4, warmup=0.1, max_seq_length=64, length_grouped=True,
    freeze_token_embeddings=True, dropout=0.0, bf16=True, center=0.5,
    mnrl_scale=40.0, scored_loss="cosine", mined_fraction=1.0, curated_repeat=16, scored_weight=2.0)
RECIPES: dict[str, Recipe] = {r.name: r for r in [
    SEED,
    DEFAULT,
    replace(DEFAULT, name="twostage", about="the in-batch negatives alone, then one epoch of CosineSimilarityLoss "
            "on every pair (curated once) at lr 2e-5, batch 64; centred 0.6",
            scored_loss="none", scored_epochs=1.0, curated_repeat=1, center=0.6),
    replace(DEFAULT, name="distil", about="the default, also matching a teacher tuned on the same catalog first "
            "(all-mpnet-base-v2, cached; or -p teacher): its cosines within each batch and its projected embeddings",
            teacher_base="all-mpnet-base-v2", teacher_distil=1.0, embed_distil=1.0),
    replace(DEFAULT, name="mnrl", about="ablation: the default's in-batch negatives alone", scored_loss="none"),
    replace(DEFAULT, name="cosent", about="ablation: the default with CoSENTLoss on the scored pairs",
            scored_loss="cosent"),
]}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise DataError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


