"""One loss, one encoding per text: in-batch negatives on the positive rows and a scored loss on
every row of the same batch.

Training the two objectives on two datasets (the earlier default) encodes every mined pair
twice per epoch, once per loss. Here each batch row carries a `label` vector (batch.Label);
the batch is embedded once, the scored loss (CosineSimilarityLoss or CoSENT) sees the rows
marked scored, and MultipleNegativesRankingLoss the rows marked positive. With a teacher, two
more terms: its cosines between every two texts of the batch (similarity level) and its
embedding of each text, projected onto the student's space (embedding level). Under torch.distributed the
embeddings and marks of every process are gathered, so the in-batch negatives span the global
batch, as they would in one process (docs/experiments.md has the parity check).
"""

from __future__ import annotations

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util import all_gather, all_gather_with_grad
from torch import nn

from svtune.train.batch import Label


class InBatchAndScored(nn.Module):
    def __init__(self, model, in_batch: nn.Module, scored: nn.Module, gather: bool = False,
                 scored_weight: float = 1.0, teacher=None, distil_weight: float = 0.0, embed_weight: float = 0.0):
        super().__init__()
        self.model, self.in_batch, self.scored = model, in_batch, scored
        # This loss gathers the embeddings with their positive marks itself: the inner loss must not again.
        self.gather = gather or getattr(in_batch, "gather_across_devices", False)
        if hasattr(in_batch, "gather_across_devices"):
            in_batch.gather_across_devices = False
        self.scored_weight = scored_weight
        self.teacher = None if teacher is None else (torch.as_tensor(teacher.emb), teacher.slope, teacher.intercept)
        self.distil_weight = distil_weight
        self.embed_weight = embed_weight if teacher is not None and teacher.targets is not None else 0.0
        self.targets = torch.as_tensor(teacher.targets) if self.embed_weight else None

    def forward(self, sentence_features, labels: torch.Tensor) -> torch.Tensor:
        embeddings = embed_columns(self.model, sentence_features, separate_first=True)
        score, positive, scored = (labels[:, Label.SCORE].float(), labels[:, Label.POSITIVE] > 0,
                                   labels[:, Label.IN_SCORED] > 0)
        loss = (self.scored_weight * self.scored.compute_loss_from_embeddings([e[scored] for e in embeddings],
                                                                            score[scored])
                if bool(scored.any()) else embeddings[0].sum() * 0.0)
        if self.teacher is not None and self.distil_weight:
            loss = loss + self.distil_weight * self._distil(embeddings[:2], labels)
        if self.embed_weight:
            loss = loss + self.embed_weight * self._embed(embeddings[:2], labels)
        if self.gather:   # every process computes the global in-batch loss; gradients reach each one's rows
            embeddings = [all_gather_with_grad(e) for e in embeddings]
            positive = all_gather(positive.to(torch.uint8)) > 0   # gloo gathers no bools
        if int(positive.sum()) >= 2:
            loss = loss + self.in_batch.compute_loss_from_embeddings([e[positive] for e in embeddings], None)
        return loss

    def _distil(self, embeddings, labels: torch.Tensor) -> torch.Tensor:
        """Mean squared gap between the student's cosines of every sentence_1 x sentence_2 of the
        batch and the teacher's, mapped onto the label scale (the pairs themselves excluded)."""
        table, slope, intercept = self.teacher
        ids = labels[:, [Label.TEACHER_1, Label.TEACHER_2]].long().cpu()
        t1, t2 = (table[ids[:, i]].to(embeddings[0].device) for i in (0, 1))
        target = (slope * (t1 @ t2.T) + intercept).clamp(0, 1)
        s1, s2 = (nn.functional.normalize(e.float(), dim=-1) for e in embeddings)
        off = ~torch.eye(len(s1), dtype=torch.bool, device=s1.device)
        return ((s1 @ s2.T - target)[off] ** 2).mean()

    def _embed(self, embeddings, labels: torch.Tensor) -> torch.Tensor:
        """Mean squared distance between each text's unit embedding and the teacher's, projected
        onto the student's space (teacher.project): the teacher's geometry, text by text."""
        ids = labels[:, [Label.TEACHER_1, Label.TEACHER_2]].long().cpu()
        gaps = [((nn.functional.normalize(e.float(), dim=-1) - self.targets[ids[:, i]].to(e.device)) ** 2).sum(-1)
                for i, e in enumerate(embeddings)]
        return torch.cat(gaps).mean()

    @property
    def citation(self) -> str:
        return self.in_batch.citation
