"""A run folder, read: where its files are, whether it is a finished run, and what it recorded.

    from svtune import runs
    folder = runs.finished_run("")          # the newest finished run (or one named); one line when there is none
    runs.read_config(folder)["params"]      # config.json: every parameter, the recipe, the command, the status
    runs.read_metrics(folder)["after"]      # metrics.json: the evaluations' summaries, training, bootstrap
    runs.read_eval(folder, "before")        # eval_before.json: per-query and per-pair results, names

Every reader of a run folder goes through here; the run itself (run/run.py, run/folder.py) writes the
files under these names. A folder's life: `.incomplete-<name>` while it is written (status RUNNING),
`<name>` when complete (COMPLETE), `<name>.failed` when it stopped (FAILED, with its reason). Only svtune
paths and the standard library are imported: every stage may read a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from svtune import paths

CONFIG = "config.json"       # every parameter, the recipe's knobs, provenance, the status
METRICS = "metrics.json"     # the aggregates: data, training, before/after evaluations, bootstrap, health
MODEL = "model"              # the tuned model, a stock sentence-transformers folder
EVALS = ("before", "after")  # eval_<stage>.json: per-query and per-pair results beside metrics.json

# config.json's "status".
RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"

# The console line `svtune train` ends a finished run with; what follows it is the run folder.
COMPLETE_LINE = "run complete: "


def eval_file(stage: str) -> str:
    """The name of a stage's evaluation file ("before", "after", "served")."""
    return f"eval_{stage}.json"


def _read(folder: Path | str, name: str) -> dict:
    return json.loads((Path(folder) / name).read_text(encoding="utf-8"))


def read_config(folder: Path | str) -> dict:
    """The run's config.json: FileNotFoundError when the folder has none (not a run folder), ValueError
    when it cannot be read."""
    if not (Path(folder) / CONFIG).is_file():
        raise FileNotFoundError(f"not a run folder (no {CONFIG})")
    try:
        return _read(folder, CONFIG)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {CONFIG}: {e}") from None


def params(folder: Path | str) -> dict:
    """The parameters the run was made with (config.json `params`)."""
    return read_config(folder)["params"]


def read_metrics(folder: Path | str) -> dict:
    """The run's metrics.json."""
    return _read(folder, METRICS)


def read_eval(folder: Path | str, stage: str) -> dict:
    """eval_<stage>.json: `details` (per query and pair), `names` (dcid -> name), `summary`."""
    return _read(folder, eval_file(stage))


def read_all(folder: Path | str) -> dict:
    """config, metrics and each stage's evaluation ("before", "after"), {} for a file that is not there."""
    out = {}
    for key, name in (("config", CONFIG), ("metrics", METRICS), *((s, eval_file(s)) for s in EVALS)):
        try:
            out[key] = _read(folder, name)
        except FileNotFoundError:
            out[key] = {}
    return out


def run_problem(folder: Path | str) -> str | None:
    """Why `folder` is not a finished run (None when it is one): the one definition of "finished"."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a run folder (no such directory)"
    if folder.name.startswith(paths.INCOMPLETE_PREFIX):
        return f"{folder} is still being written or was interrupted (.incomplete- folder)"
    if folder.name.endswith(paths.FAILED_SUFFIX):
        return f"{folder} is a failed run"
    try:
        config = _read(folder, CONFIG)
    except FileNotFoundError:
        return f"{folder} has no {CONFIG}"
    except (OSError, ValueError) as e:
        return f"{folder}/{CONFIG} cannot be read ({e})"
    status = config.get("status") if isinstance(config, dict) else None
    if status != COMPLETE:
        return f"{folder} is not complete ({CONFIG} status is {status!r})"
    for name in (METRICS, f"{MODEL}/modules.json"):
        if not (folder / name).is_file():
            return f"{folder} has no {name}"
    return None


def finished_runs(runs_dir: Path | None = None) -> list[Path]:
    """Finished run folders, newest first."""
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    if not runs_dir.is_dir():
        return []
    return sorted((p for p in runs_dir.iterdir() if not p.name.startswith(".") and run_problem(p) is None),
                  key=lambda p: p.name, reverse=True)


def finished_run(run: str | os.PathLike = "") -> Path:
    """The finished run folder `run` ("" = the newest); FileNotFoundError, one line, when there is none."""
    if not str(run):
        found = finished_runs()
        if not found:
            raise FileNotFoundError(f"no finished run under {paths.RUNS_DIR}; train one first: make train")
        return found[0]
    folder = paths.resolve(run)
    problem = run_problem(folder)
    if problem:
        raise FileNotFoundError(problem)
    return folder


def completed_folder(console: str) -> Path:
    """The run folder a `svtune train` process named on its COMPLETE_LINE (ValueError when it named none)."""
    for line in console.splitlines():
        if line.startswith(COMPLETE_LINE):
            return Path(line[len(COMPLETE_LINE):].strip())
    raise ValueError(f"no {COMPLETE_LINE!r} line: the run did not finish")
