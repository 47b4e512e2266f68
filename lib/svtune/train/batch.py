"""The one-pass batch layout: each row's `label` vector, as the recipe builds it
(recipes.InBatch._one_pass), the loss reads it (losses.InBatchAndScored) and the sampler guards it
(sampling.GroupedBatchSampler). The teacher columns are there only when the recipe distils."""

from __future__ import annotations

from enum import IntEnum


class Label(IntEnum):
    SCORE = 0          # the pair's label in [0, 1], for the scored loss
    POSITIVE = 1       # 1: the row is an in-batch positive
    IN_SCORED = 2      # 1: the row is in the scored loss
    TEACHER_1 = 3      # row of sentence_1 in the teacher's embeddings (distillation only)
    TEACHER_2 = 4      # row of sentence_2 in the teacher's embeddings


def columns(distil: bool) -> list[str]:
    """The label vector's column names, in order."""
    names = [m.name.lower() for m in Label]
    return names if distil else names[:Label.TEACHER_1]
