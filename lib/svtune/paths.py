"""The one place that knows where things live: repo root, data, notebooks, outputs.

Paths never depend on the working directory, because papermill and nbval run
notebooks from different folders. A relative path given by a user (for example
`-p data_dir ../shared/datacommons`) is resolved against the repo root. What is inside a run
folder, and when it is a finished run: runs.py.
"""

from __future__ import annotations

import os
from pathlib import Path

# lib/svtune/paths.py -> repo root is two folders above the package.
REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
OUTPUTS_DIR = Path(os.environ.get("SVTUNE_OUTPUTS", REPO_ROOT / "outputs"))
RUNS_DIR = OUTPUTS_DIR / "runs"
# Embeddings cached per (model, text): safe to delete, rebuilt on demand (embeddings.py).
CACHE_DIR = OUTPUTS_DIR / "cache"
# Base models fetched by `svtune fetch`, one folder per model name.
MODELS_DIR = OUTPUTS_DIR / "models"
# Teachers tuned on a catalog (run/teacher_cache.py): one record per (catalog, recipe, base model).
TEACHERS_DIR = OUTPUTS_DIR / "teachers"
# Real Data Commons data, beside the repo in CI and in the dev sandbox; optional.
SHARED_DATACOMMONS = REPO_ROOT.parent / "shared" / "datacommons"

# Held-out evaluation files inside a data folder.
EVAL_QUERIES = Path("eval") / "queries.csv"
EVAL_PAIRS = Path("eval") / "pairs.csv"

# Marks a run folder that is still being written; renamed away at the end.
INCOMPLETE_PREFIX = ".incomplete-"
# Marks a run that stopped (error, interrupt, full disk); config.json says why.
FAILED_SUFFIX = ".failed"


def resolve(path: str | os.PathLike | None, default: Path | None = None) -> Path:
    """Absolute path: `~` expanded, relative paths taken from the repo root."""
    if path is None or str(path) == "":
        if default is None:
            raise ValueError("no path given and no default")
        return default
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p).resolve()


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder to read: the repo's own `data/` unless another is named."""
    return resolve(path, DATA_DIR)
