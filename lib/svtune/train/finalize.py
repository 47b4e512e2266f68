"""After fitting: centre the model on the catalog (a Dense layer, so the saved folder is a stock
model), save it, fingerprint it, and prime the embeddings cache with the catalog vectors that
centring already computed, so the evaluation after need not encode the catalog again."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from svtune.model.embeddings import remember, set_fingerprint
from svtune.model.load import fingerprint
from svtune.train.centering import center_model
from svtune.train.merge import merge_toward_base


def finalize_model(model, folder: Path, catalog_texts: list[str], center: float,
                   checkpoints: Path | None = None, merge: tuple[str, float] | None = None) -> dict:
    """Merge toward the base model (`merge` = (base model, alpha), train/merge.py), centre (when
    `center` > 0), save into `folder`, drop the checkpoints; returns the stats (seconds per part)."""
    stats, began, catalog_emb = {}, time.perf_counter(), None
    if merge and merge[1] < 1:
        merge_toward_base(model, *merge)
        stats["merged_toward_base"] = {"base_model": merge[0], "alpha": merge[1]}
    if center:
        stats["centering"], catalog_emb = center_model(model, catalog_texts, float(center))
    centred = time.perf_counter()
    model.save(str(folder))
    if checkpoints is not None:
        shutil.rmtree(checkpoints, ignore_errors=True)   # the saved model is all a finished run needs
    set_fingerprint(model, fingerprint(folder))
    if catalog_emb is not None:
        remember(model, catalog_texts, catalog_emb)
    stats["seconds"] = {"center": round(centred - began, 2), "save": round(time.perf_counter() - centred, 2)}
    return stats
