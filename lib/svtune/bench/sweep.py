"""Sweep: one whole run per value of a recipe knob, each as a user runs it (`svtune train` in its own
process, so its wall time and peak memory are its own), then quality against the first value with
the paired bootstrap, and cost. Picks the cheapest value within noise of the first.

    svtune bench --sweep freeze_layers=0,2,3,4,5 -p data_dir ../shared/datacommons
    svtune bench --sweep freeze_layers=0,6,8,10 -p base_model all-mpnet-base-v2 -p epochs 1 -o center 0.7
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from svtune import runs
from svtune.bench.compare import compare
from svtune.bench.results import print_table
from svtune.bench.save import save
from svtune.eval.headline import BOOTSTRAPPED, COLLAPSE, MRR, SPEARMAN, TOPIC_MRR, get, headline
from svtune.run.config import parse_value


def _argv(params: dict) -> list[str]:
    args = []
    for key, value in params.items():
        if key == "overrides":
            for knob, v in value.items():
                args += ["-o", knob, str(v)]
        else:
            args += ["-p", key, str(value)]
    return args


def train(params: dict, label: str = "") -> tuple[Path, float]:
    """`svtune train` with `params` in its own process, as a user runs it: its folder and wall seconds."""
    cmd = [sys.executable, "-m", "svtune", "train", *_argv(params)]
    print(f"{label or '$ svtune'} {' '.join(cmd[3:])}", flush=True)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{label or 'svtune train'} failed: {out.stderr[-2000:]}")
    return runs.completed_folder(out.stdout), wall


def one_run(knob: str, value, params: dict) -> dict:
    """`svtune train` with `knob` = `value`: its folder, wall seconds and figures."""
    folder, wall = train({**params, "overrides": {**params.get("overrides", {}), knob: value}}, f"{knob}={value}:")
    m = runs.read_metrics(folder)
    a, h = m["after"], headline(m["after"])
    return {"value": value, "run": str(folder), "whole_run_seconds": round(wall, 1),
            "train_seconds": m["train"]["train_seconds"], "peak_rss_mb": m["peak_rss_mb"],
            MRR: h[MRR], SPEARMAN: h[SPEARMAN], TOPIC_MRR: h[TOPIC_MRR], "healthy": m["health"]["ok"],
            "nonsense_max": get(a, COLLAPSE, "nonsense_max")}


def within_noise(row: dict) -> bool:
    """Neither MRR@10 nor Spearman is worse than the reference beyond noise: the paired bootstrap's 95%
    interval of the difference reaches zero or above."""
    return all(row[f"{k}_ci95"][1] >= 0 for k in BOOTSTRAPPED)


def sweep(spec: str, params: dict, out: str | Path | None = None) -> dict:
    """Run every value of `spec` (`knob=v1,v2,...`), compare each with the first, pick the cheapest in noise."""
    knob, _, values = spec.partition("=")
    rows = [one_run(knob, parse_value(v), params) for v in values.split(",")]
    ref = rows[0]
    for row in rows[1:]:
        boot = compare(row["run"], ref["run"], diff=False)
        for k in BOOTSTRAPPED:
            row[f"{k}_diff"], row[f"{k}_ci95"] = boot[k]["diff"], boot[k]["diff_ci95"]
        row["within_noise"] = within_noise(row) and row["healthy"]
    fits = [r for r in rows[1:] if r["within_noise"]]
    chosen = min(fits, key=lambda r: r["whole_run_seconds"]) if fits else ref
    result = {"mode": "sweep", "knob": knob, "params": params, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
              "rows": rows, "chosen": chosen["value"],
              "why": "the fastest value whose MRR@10 and Spearman stay within the bootstrap's noise of "
                     f"{knob}={ref['value']}" if fits else f"no value is within noise of {knob}={ref['value']}"}
    print()
    print_table(rows, ["value", "whole_run_seconds", "train_seconds", "peak_rss_mb", "mrr@10", "spearman",
                       "topic_mrr@10", "healthy", "mrr@10_ci95", "spearman_heldout_ci95", "within_noise"])
    print(f"chosen: {knob}={result['chosen']} ({result['why']})")
    save(result, "sweep", out)
    return result
