"""The one place that knows where things live: repo root, data, notebooks, outputs.

Paths never depend on the working directory, because papermill and nbval run
notebooks from different folders. A relative path given by a user (for example
`-p data_dir ../shared/datacommons`) is resolved against the repo root.
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


def run_problem(folder: Path) -> str | None:
    """Why `folder` is not a finished run (None when it is one): the one definition of "finished"."""
    import json
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a run folder (no such directory)"
    if folder.name.startswith(INCOMPLETE_PREFIX):
        return f"{folder} is still being written or was interrupted (.incomplete- folder)"
    if folder.name.endswith(FAILED_SUFFIX):
        return f"{folder} is a failed run"
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{folder} has no config.json"
    except (OSError, ValueError) as e:
        return f"{folder}/config.json cannot be read ({e})"
    status = config.get("status") if isinstance(config, dict) else None
    if status != "complete":
        return f"{folder} is not complete (config.json status is {status!r})"
    for name in ("metrics.json", "model/modules.json"):
        if not (folder / name).is_file():
            return f"{folder} has no {name}"
    return None


def finished_runs(runs_dir: Path | None = None) -> list[Path]:
    """Finished run folders, newest first."""
    runs_dir = Path(runs_dir or RUNS_DIR)
    if not runs_dir.is_dir():
        return []
    return sorted((p for p in runs_dir.iterdir() if not p.name.startswith(".") and run_problem(p) is None),
                  key=lambda p: p.name, reverse=True)


def finished_run(run: str | os.PathLike = "") -> Path:
    """The finished run folder `run` ("" = the newest); FileNotFoundError, one line, when there is none."""
    if not str(run):
        runs = finished_runs()
        if not runs:
            raise FileNotFoundError(f"no finished run under {RUNS_DIR}; train one first: make train")
        return runs[0]
    folder = resolve(run)
    problem = run_problem(folder)
    if problem:
        raise FileNotFoundError(problem)
    return folder
