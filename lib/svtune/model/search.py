"""Exhaustive similarity search in bounded memory: the query x corpus score matrix, a block of query
rows at a time, so a 100k-item catalog never needs a 100k x 100k matrix (evaluation, hard negatives,
the teacher's neighbours)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CELLS = 1 << 26   # scores held at once (256 MB of float32)


def score_blocks(queries: np.ndarray, corpus: np.ndarray, cells: int = CELLS) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, queries[first:first + n] @ corpus.T) for consecutive row blocks."""
    step = max(1, cells // max(1, len(corpus)))
    for start in range(0, len(queries), step):
        yield start, queries[start:start + step] @ corpus.T
