"""One loss, one encoding per text: in-batch negatives on the positive rows and a scored loss on
every row of the same batch.

Training the two objectives on two datasets (the earlier default) encodes every mined pair
twice per epoch, once per loss. Here each batch row carries `label = [score, positive, scored]`;
the batch is embedded once, the scored loss (CosineSimilarityLoss or CoSENT) sees the rows
marked scored, and MultipleNegativesRankingLoss the rows marked positive. Under torch.distributed the
embeddings and marks of every process are gathered, so the in-batch negatives span the global
batch, as they would in one process (docs/experiments.md has the parity check).
"""

from __future__ import annotations

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util import all_gather, all_gather_with_grad
from torch import nn


class InBatchAndScored(nn.Module):
    def __init__(self, model, in_batch: nn.Module, scored: nn.Module, gather: bool = False, merged: bool = False,
                 scored_weight: float = 1.0):
        super().__init__()
        self.model, self.in_batch, self.scored, self.gather, self.merged = model, in_batch, scored, gather, merged
        self.scored_weight = scored_weight

    def forward(self, sentence_features, labels: torch.Tensor) -> torch.Tensor:
        embeddings = embed_columns(self.model, sentence_features, separate_first=not self.merged)
        score, positive, scored = labels[:, 0].float(), labels[:, 1] > 0, labels[:, 2] > 0
        loss = (self.scored_weight * self.scored.compute_loss_from_embeddings([e[scored] for e in embeddings],
                                                                            score[scored])
                if bool(scored.any()) else embeddings[0].sum() * 0.0)
        if self.gather:   # every process computes the global in-batch loss; gradients reach each one's rows
            embeddings = [all_gather_with_grad(e) for e in embeddings]
            positive = all_gather(positive)
        if int(positive.sum()) >= 2:
            loss = loss + self.in_batch.compute_loss_from_embeddings([e[positive] for e in embeddings], None)
        return loss

    @property
    def citation(self) -> str:
        return self.in_batch.citation
