"""A batch sampler for in-batch-negative losses: length-grouped, no false negatives.

MultipleNegativesRankingLoss treats every other positive in a batch as a negative.
Two pairs mined from the same StatVar (or sharing a text) in one batch would teach
the model to push apart sentences that mean the same thing, so a batch never holds
two rows that share a text or a dcid. Rows are also grouped by length inside
shuffled pools, which cuts the padding that random batches carry (most catalog
texts are short, a few are long). Scored datasets (with a label column) get the
length grouping only, as their losses do not use in-batch negatives, unless
`guard_labelled` says some rows feed in-batch negatives too (losses.InBatchAndScored, whose
label is batch.Label): then only the positive rows are kept apart, as the
scored-only rows never meet the in-batch loss.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sentence_transformers.base.sampler import DefaultBatchSampler

from svtune.data.records import text_key
from svtune.train.batch import Label

LABEL_COLUMNS = ("label", "score", "scores", "labels")
POOL_BATCHES = 64  # length-sort inside pools of this many batches: grouped, yet still random


class GroupedBatchSampler(DefaultBatchSampler):
    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None,
                 generator=None, seed: int = 0, text_dcids: dict[str, set[str]] | None = None,
                 group_by_length: bool = True, no_duplicates: bool = True, guard_labelled: bool = False,
                 length_fn: Callable[[list[str]], list[int]] | None = None, world_size: int = 1):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        # Under torchrun each process gets every world_size-th batch (accelerate's BatchSamplerShard),
        # and in-batch negatives are gathered across them: so the guard holds for a global batch of
        # batch_size x world_size rows, cut into world_size consecutive per-process batches.
        self.world_size = world_size
        labels = [c for c in dataset.column_names if c in (valid_label_columns or LABEL_COLUMNS)]
        text_cols = [c for c in dataset.column_names if c not in labels]
        columns = [dataset[c] for c in text_cols]
        self.n = len(dataset)
        # Each column pads to its own longest text, so a row costs about its longest text times the
        # number of columns: group by that, in tokens when a tokenizer is given (the least padding,
        # docs/experiments.md); pools keep each batch drawn from a random slice of the epoch.
        length_fn = length_fn or (lambda texts: [len(t) for t in texts])
        self.lengths = np.max([np.asarray(length_fn(list(col))) for col in columns], axis=0) \
            if columns and self.n else np.zeros(self.n, dtype=int)
        self.group_by_length = group_by_length
        self._cache: tuple[int, list[list[int]]] | None = None
        self.keys: list[frozenset] | None = None
        if no_duplicates and (guard_labelled or not labels):
            text_dcids = text_dcids or {}
            guarded = [row[Label.POSITIVE] > 0 for row in dataset["label"]] if guard_labelled else [True] * self.n
            keys = []
            for i in range(self.n):
                texts = {text_key(col[i]) for col in columns} if guarded[i] else set()
                dcids = {"dcid:" + d for t in texts for d in text_dcids.get(t, ())}
                keys.append(frozenset(texts | dcids))
            self.keys = keys

    def __len__(self) -> int:
        return len(self._epoch_batches())

    def _order(self, rng: np.random.Generator) -> list[int]:
        order = rng.permutation(self.n)
        if not self.group_by_length:
            return order.tolist()
        pool = self.batch_size * POOL_BATCHES
        out = []
        for start in range(0, self.n, pool):
            chunk = order[start:start + pool]
            out.extend(chunk[np.argsort(self.lengths[chunk], kind="stable")].tolist())
        return out

    def _batches(self, order: list[int]) -> list[list[int]]:
        size = self.batch_size * self.world_size
        if self.keys is None:
            return [order[i:i + size] for i in range(0, len(order), size)]
        batches, remaining = [], order
        while remaining:
            batch, used, rest = [], set(), []
            for idx in remaining:
                if len(batch) < size and used.isdisjoint(self.keys[idx]):
                    batch.append(idx)
                    used |= self.keys[idx]
                else:
                    rest.append(idx)
            batches.append(batch)
            remaining = rest
        return batches

    def _epoch_batches(self) -> list[list[int]]:
        """This epoch's batches, computed once: len() must match what __iter__ yields."""
        if self._cache is None or self._cache[0] != self.epoch:
            rng = np.random.default_rng(self.seed + self.epoch)
            batches = self._batches(self._order(rng))
            # The trainer forces drop_last under DDP; split global batches cannot leave ranks uneven, so
            # the batches and their order stay one process's (accelerate's shard still skips the few
            # steps whose parts are short, docs/experiments.md).
            if self.drop_last and self.world_size == 1:
                batches = [b for b in batches if len(b) == self.batch_size]
            # Shuffle batch order so lengths do not rise steadily within an epoch.
            batches = [batches[i] for i in rng.permutation(len(batches))]
            if self.world_size > 1:   # each global batch -> one batch per process, in process order
                batches = [part.tolist() for b in batches if len(b) >= self.world_size
                           for part in np.array_split(np.array(b), self.world_size)]
            self._cache = (self.epoch, batches)
        return self._cache[1]

    def __iter__(self):
        yield from self._epoch_batches()
