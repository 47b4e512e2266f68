"""Run a speed or full benchmark, print its table and save it under outputs/bench/; read saved
results back for notebooks/benchmark.ipynb."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from svtune import paths
from svtune.bench.full import full
from svtune.bench.save import save
from svtune.bench.speed import machine, speed
from svtune.run.config import parse_value

RECIPES = ["default", "seed"]  # default first: its peak RSS is then not inflated by the seed run

def print_table(rows: list[dict], keys: list[str]) -> None:
    def fmt(v):
        if isinstance(v, list):
            return "->".join(fmt(x) for x in v)
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    print(pd.DataFrame([[fmt(r.get(k)) for k in keys] for r in rows], columns=keys).to_string(index=False))


def variant(spec: str, params: dict) -> tuple[str, dict]:
    """`recipe[:knob=value,...]` -> (recipe, params with those knobs among its overrides), so one
    benchmark can set a recipe beside itself with other knobs: `default,default:freeze_layers=0,seed`."""
    name, _, knobs = spec.partition(":")
    extra = dict(kv.split("=", 1) for kv in knobs.split(",") if kv)
    overrides = {**params.get("overrides", {}), **{k: parse_value(v) for k, v in extra.items()}}
    return name, {**params, "overrides": overrides}


def against_seed(rows: list[dict], full_mode: bool) -> dict:
    """Each recipe against the seed recipe of the same benchmark: throughput, time-to-quality, wall."""
    seed = next((r for r in rows if r["recipe"] == "seed"), None)
    if seed is None:
        return {}
    out = {}
    for r in rows:
        if r is seed:
            continue
        ratios = {"pairs_per_second": round(r["pairs_per_second"] / seed["pairs_per_second"], 2)}
        if full_mode:
            ratios["time_to_quality"] = round(seed["time_to_quality_seconds"]
                                              / max(r["time_to_quality_seconds"], 1e-9), 1)
            ratios["wall"] = round(seed["wall_seconds"] / r["wall_seconds"], 1)
        out[r["recipe"]] = ratios
    return out


FULL_COLUMNS = ["recipe", "epochs", "wall_seconds", "train_seconds", "time_to_quality_seconds", "pairs_per_second",
                "mrr@10", "spearman_heldout", "topic_mrr@10", "autogen_mrr@10", "transfer_mrr@10", "low_band_cosine",
                "nonsense_max", "peak_rss_mb", "healthy"]
SPEED_COLUMNS = ["recipe", "precision", "batch_size", "steps", "pairs_per_second", "limit_pairs_per_second",
                 "share_of_limit", "real_tokens_per_pair", "padded_tokens_per_pair", "peak_rss_mb"]


def run_bench(full_mode: bool = False, recipes: list[str] = RECIPES, steps: int = 30,
              params: dict | None = None, out: str | Path | None = None, transfer_index: str = "") -> dict:
    """Run the benchmark, print its table and save it as JSON; returns the result."""
    params = {"size": "small", **(params or {})}
    mode = "full" if full_mode else "speed"
    hw = machine(params.get("base_model", "all-MiniLM-L6-v2"))
    print(f"{hw['name']} ({hw['device']}, {hw['cores']} cores, {hw['torch_threads']} torch threads; "
          f"flags: {' '.join(hw.get('flags', [])) or 'n/a'}): matmul fp32 {hw['fp32_gflops']:.0f} GFLOP/s, "
          f"bf16 {hw['bf16_gflops']:.0f} GFLOP/s -> auto precision {hw['auto_precision']}; {hw['base_model']}: "
          f"{hw['train_flops_per_token'] / 1e6:.1f} MFLOP/token to train (forward + backward)", flush=True)
    rows = []
    for spec in recipes:
        name, p = variant(spec, params)
        row = full(name, p, transfer_index=transfer_index) if full_mode else speed(name, steps, p, hw)
        rows.append({**row, "recipe": spec})
    result = {"mode": mode, "params": params, "steps": None if full_mode else steps, "machine": hw,
              "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows, "against_seed": against_seed(rows, full_mode)}
    print()
    print_table(rows, FULL_COLUMNS if full_mode else SPEED_COLUMNS)
    for spec, ratios in result["against_seed"].items():
        print(f"{spec} against seed: " + ", ".join(f"{k.replace('_', ' ')} {v}x" for k, v in ratios.items()))
    save(result, mode, out)
    return result


def _saved(pattern: str) -> list[dict]:
    """Saved benchmark results matching `pattern`, oldest first (names start with the time)."""
    return [json.loads(f.read_text()) for f in sorted((paths.OUTPUTS_DIR / "bench").glob(pattern))]


def _same_heldout(rows: list[dict]) -> list[dict]:
    """The rows evaluated on the same held-out pairs as the newest row: a Spearman on 106 pairs
    and one on 305 do not go in one table or plot."""
    return [r for r in rows if r.get("heldout_pairs") == rows[-1].get("heldout_pairs")] if rows else []


def latest(mode: str) -> dict | None:
    """Newest saved benchmark of `mode`. For "full", each recipe's newest row across saved
    results (the seed recipe takes half an hour, so it is not rerun with every ablation),
    among rows evaluated on the newest row's held-out pairs; each keeps when it was measured."""
    found = _saved(f"*-{mode}.json")
    if not found:
        return None
    if mode != "full":
        return found[-1]
    rows: dict[str, dict] = {}
    for r in _same_heldout([{**r, "measured": doc["when"], "params": doc["params"]}
                            for doc in found for r in doc["rows"]]):
        rows[r["recipe"]] = r
    return {"mode": "full", "rows": list(rows.values())}


def all_full_rows() -> list[dict]:
    """Every full-mode row saved under outputs/bench/ (sweeps written with --out included) on
    the newest held-out pairs, labelled by recipe and the knobs it changed: the plots' points."""
    rows = []
    for doc in sorted(_saved("*.json"), key=lambda d: d.get("when", "")):
        if doc.get("mode") != "full":
            continue
        params = doc.get("params", {})
        knobs = [f"{k}={v}" for k, v in {**params.get("overrides", {}),
                                          **{k: params[k] for k in ("seed", "epochs") if k in params}}.items()]
        for r in doc["rows"]:
            rows.append({**r, "label": " ".join([r["recipe"], *knobs]), "measured": doc["when"]})
    return _same_heldout(rows)
