"""Everything checked before a run writes anything: parameters, every input file, the held-out
files, the base model and teacher, free disk; and resume, which takes the run's own parameters."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.formats import index_from_catalog, read_pairs, read_queries
from svtune.data.heldout import check_count, seed_for
from svtune.model.load import resolve_base_model
from svtune.run.config import RunConfig, make_config
from svtune.run.served import check_served

# Free disk a run needs, in multiples of the base model's weights: the saved model, one checkpoint
# (weights + AdamW's two moments) and the one being written.
DISK_WEIGHTS = 8
_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.name != "hp"}


def check_disk(folder: Path, model_info: dict) -> None:
    """Refuse to start training without room for the model and its checkpoints."""
    weights = Path(model_info.get("path") or "") / "model.safetensors"
    size = weights.stat().st_size if weights.is_file() else 100 * 2**20
    probe = folder if folder.exists() else paths.RUNS_DIR if paths.RUNS_DIR.exists() else paths.OUTPUTS_DIR.parent
    free = shutil.disk_usage(probe).free
    if free < DISK_WEIGHTS * size:
        raise DataError(f"not enough free disk for the model and its checkpoints: {free / 2**20:,.0f} MB free, "
                        f"{DISK_WEIGHTS * size / 2**20:,.0f} MB needed", probe)


def resume_params(params: dict, given: set[str] | None = None) -> dict:
    """The recorded parameters of the run in `params["resume"]`: what a resumed run trains with.
    Only a parameter the user gave (`given`; by default, any value other than its default, since
    a notebook's parameters cell holds every default) with another value than the run's is refused."""
    folder = paths.resolve(params["resume"])
    try:
        doc = runs.read_config(folder)
    except (OSError, ValueError) as e:   # not a run folder, or its config.json unreadable: one line
        raise DataError(str(e), folder) from None
    if doc.get("status") == runs.COMPLETE:
        raise DataError("cannot resume: this run is complete", folder)
    stored = {k: v for k, v in doc["params"].items() if k != "resume"}
    if given is None:
        given = {k for k, v in params.items() if v not in (None, "", {}) and v != _DEFAULTS.get(k)}
    changed = sorted(k for k in given if k not in ("resume", "run_dir") and k in stored
                     and params[k] != stored[k] and not (k == "data_dir" and paths.data_dir(params[k]) ==
                                                         paths.data_dir(stored[k])))
    if changed:
        raise DataError("a resumed run keeps its own parameters; drop "
                        + ", ".join(f"{k} (the run has {stored[k]!r})" for k in changed), folder)
    return {**stored, "resume": str(folder)}


def check_inputs(params: dict, given: set[str] | None = None) -> RunConfig:
    """Everything that can be checked before a run starts, cheaply: parameters, every input file,
    the held-out files, the base model. Raises DataError (file, line, column) on the first problem."""
    from svtune.eval.evaluate import check_coverage, eval_files
    if params.get("resume"):
        params = resume_params(params, given)
    cfg = make_config(**{k: v for k, v in params.items() if k != "run_dir"})
    # the whole catalog: what evaluation searches (a custom DC's held-out search descriptions taken out)
    catalog = load_catalog(cfg.data_dir, cfg.size, warn=False, heldout_seed=seed_for(cfg), eval_dir=cfg.eval_dir)
    queries, pairs, topic_queries = eval_files(cfg)
    if not (queries or pairs):
        check_count(catalog.heldout_queries, catalog.files[0])
    known = {d for _, d in index_from_catalog(catalog)}
    for path, read in ((queries, read_queries), (pairs, read_pairs), (topic_queries, read_queries)):
        if path:
            rows = read(path)
            if path == queries:   # topic queries only score the topics a catalog has: not checked
                check_coverage(rows, known, path)
    if cfg.dc_dir:
        check_served(cfg, catalog)
    if cfg.report_queries:
        read_queries(paths.resolve(cfg.report_queries))
    _, info = resolve_base_model(cfg.base_model)
    if cfg.teacher:
        resolve_base_model(cfg.teacher)
    check_disk(paths.RUNS_DIR, info)
    return cfg
