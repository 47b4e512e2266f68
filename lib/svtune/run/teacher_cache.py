"""A teacher tuned on the catalog, trained once and reused (`-p recipe distil` without `-p teacher`).

The teacher is a whole run of its own (`svtune train`, evaluated, with its card), of the recipe's
`teacher_base` (all-mpnet-base-v2 for `distil`) with the measured mpnet preset, PRESET. Its folder
is recorded in outputs/teachers/<key>.json, where the key is the sha256 of the catalog files, the
teacher's recipe record (overrides applied), its base model's weights and the seed: a second
student run on the same catalog finds it there and trains no teacher. A record whose run is gone
or unfinished is trained again. The launcher trains it (`ensure` is handed launch.main): this module
imports no launcher, so the dependency runs one way.

    python -m svtune train -p data_dir ../shared/datacommons -p recipe distil
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.hashing import sha256_text
from svtune.model.load import resolve_base_model
from svtune.run.config import make_config

# all-mpnet-base-v2's preset (docs/experiments.md, "mpnet frozen layers"): one epoch, 8 of 12 layers frozen.
PRESET = {"recipe": "default", "epochs": 1, "overrides": {"center": 0.7, "freeze_layers": 8}}


def teacher_params(cfg) -> dict:
    """The teacher run's parameters: the student's catalog, size, seed and held-out sets, the preset."""
    params = {"size": cfg.size, "data_dir": cfg.data_dir, "eval_dir": cfg.eval_dir, "seed": cfg.seed,
              "base_model": cfg.hp.tuned_teacher, **PRESET}
    if cfg.max_steps:
        params["max_steps"] = cfg.max_steps
    return params


def cache_key(cfg, params: dict) -> str:
    catalog = load_catalog(cfg.data_dir, cfg.size, max_statvars=cfg.max_statvars, warn=False, eval_dir=cfg.eval_dir)
    _, info = resolve_base_model(params["base_model"])
    record = {"catalog": sorted(catalog.sha256().values()), "size": cfg.size, "seed": cfg.seed,
              "max_steps": cfg.max_steps, "recipe": make_config(**params).hp.values(),
              "base_model_sha256": info["sha256"] or info["path"]}
    return sha256_text(json.dumps(record, sort_keys=True))[:16]


def cached(key: str) -> str | None:
    """The finished teacher run recorded under `key`, if it is still there."""
    record = paths.TEACHERS_DIR / f"{key}.json"
    if not record.is_file():
        return None
    run = json.loads(record.read_text(encoding="utf-8"))["run"]
    return run if runs.run_problem(Path(run)) is None else None


def ensure(cfg, train: Callable[[dict], str]) -> str:
    """The tuned teacher's run folder for `cfg`: from the cache, or trained now by `train` (launch.main:
    params -> the finished run folder) and recorded."""
    params = teacher_params(cfg)
    key = cache_key(cfg, params)
    run = cached(key)
    if run:
        print(f"teacher: {run} ({params['base_model']} tuned on this catalog; outputs/teachers/{key}.json)",
              flush=True)
        return run
    print(f"teacher: tuning {params['base_model']} on this catalog first (recipe {PRESET['recipe']}, "
          f"{PRESET['overrides']}); later runs on the same catalog reuse it", flush=True)
    run = train(params)
    paths.TEACHERS_DIR.mkdir(parents=True, exist_ok=True)
    record = paths.TEACHERS_DIR / f"{key}.json"
    tmp = record.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"run": run, "params": params, "when": time.strftime("%Y-%m-%d %H:%M:%S")},
                              indent=1), encoding="utf-8")
    os.replace(tmp, record)
    print(f"teacher: {run}, recorded in {record}", flush=True)
    return run
