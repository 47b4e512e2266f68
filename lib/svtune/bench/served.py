"""Served: issue 33's targets, measured as a user runs them. One custom Data Commons run trained beside Data
Commons' catalog (`-p dc_dir`), a Data Commons small run as the cost reference, and the export of both
indexes, each `svtune` command in its own process; then the served search of the run (eval/served.py) for
(a) the base model serving both indexes, (b) tuned on the owner's index, (c) tuned on both, with paired
intervals against (a), and every target with its verdict.

    svtune bench --served -p data_dir data/custom_dc_example -p dc_dir ../shared/datacommons
    svtune bench --served ... --reference outputs/runs/<a Data Commons small run>   # its time, not a new run
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from svtune import paths, runs
from svtune.bench.save import save
from svtune.bench.speed import machine
from svtune.bench.sweep import train

TARGETS = {"owner_top1": 0.85, "owner_mrr": 0.90, "dc_mrr_drop": 0.005, "dc_first_owner": 0.02,
           "export_s": 180.0, "run_ratio": 1.5}


def _export_seconds(run: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "svtune", "export", str(run), "--to-custom-dc", f"{tmp}/out",
               "--cache-root", f"{tmp}/cache"]
        print("$ svtune " + " ".join(cmd[3:]), flush=True)
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"svtune export failed: {out.stderr[-2000:]}")
        return round(time.perf_counter() - start, 1)


def verdicts(served: dict, run_s: float, reference_s: float, export_s: float) -> list[tuple[str, bool]]:
    """Each target of issue 33 as (what was measured, met)."""
    a, c, iv = served["configs"]["a"], served["configs"]["c"], served["intervals"]["c"]
    lo = iv["owner"]["mrr@10"]["diff_ci95"][0]
    drop = a["dc"]["mrr@10"] - c["dc"]["mrr@10"]
    t, o = TARGETS, c["owner"]
    return [(f"owner top-1 (c) {o['top1']:.3f} >= {t['owner_top1']}", o["top1"] >= t["owner_top1"]),
            (f"owner MRR@10 (c) {o['mrr@10']:.3f} >= {t['owner_mrr']}", o["mrr@10"] >= t["owner_mrr"]),
            (f"owner MRR@10 (c) - (a): 95% interval lower end {lo:+.3f} > 0", lo > 0),
            (f"Data Commons MRR@10 (c) {c['dc']['mrr@10']:.3f}, (a) {a['dc']['mrr@10']:.3f}: drop {drop:+.3f} <= "
             f"{t['dc_mrr_drop']}", drop <= t["dc_mrr_drop"]),
            (f"Data Commons queries answered first by an owner variable (c) {c['dc']['first_answer_other_index']:.3f}"
             f" <= {t['dc_first_owner']}", c["dc"]["first_answer_other_index"] <= t["dc_first_owner"]),
            (f"one threshold {c['threshold']:.4f}, calibrated on the other half; nonsense max {c['nonsense_max']:.4f} "
             "below it", c["nonsense_below_threshold"]),
            (f"export of both indexes {export_s:.0f} s <= {t['export_s']:.0f} s", export_s <= t["export_s"]),
            (f"run with both catalogs {run_s:.0f} s = {run_s / reference_s:.2f}x a Data Commons small run "
             f"({reference_s:.0f} s) <= {t['run_ratio']}x", run_s <= t["run_ratio"] * reference_s)]


def table(served: dict) -> list[str]:
    """One line per configuration and side: MRR@10, top-1, answered@10, first answer from the other index,
    and (b), (c) against (a) with the paired 95% interval."""
    lines = [f"{'':4}{'queries':<14}{'MRR@10':>8}{'top-1':>8}{'ans@10':>8}{'other 1st':>10}  vs (a): MRR@10 [95%]"]
    for name, c in served["configs"].items():
        for side in ("owner", "dc"):
            f = c[side]
            iv = served["intervals"].get(name, {}).get(side, {}).get("mrr@10")
            vs = f"{iv['diff']:+.3f} [{iv['diff_ci95'][0]:+.3f}, {iv['diff_ci95'][1]:+.3f}]" if iv else ""
            lines.append(f"({name}) {side + ' ' + str(f['queries']):<14}{f['mrr@10']:>8.3f}{f['top1']:>8.3f}"
                         f"{(f['answered@10'] or 0):>8.3f}{f['first_answer_other_index']:>10.3f}  {vs}")
    return lines


def served_bench(params: dict, reference: str | None = None, out: str | Path | None = None) -> dict:
    if not params.get("dc_dir") or not params.get("data_dir"):
        raise SystemExit("bench --served needs -p data_dir (the owner's custom DC) and -p dc_dir (Data Commons')")
    hw = machine(params.get("base_model", "all-MiniLM-L6-v2"))
    print(f"{hw['name']} ({hw['cores']} cores; flags: {' '.join(hw.get('flags', []))}): auto precision "
          f"{hw['auto_precision']}", flush=True)
    run, _ = train(params)
    m = runs.read_metrics(run)
    dc_small = {k: v for k, v in params.items() if k not in ("dc_dir", "dc_index")} | {"data_dir": params["dc_dir"]}
    ref = paths.resolve(reference) if reference else train(dc_small)[0]
    ref_s = runs.read_metrics(ref)["wall_time_s"]
    export_s = _export_seconds(run)
    served = m["served"]
    result = {"machine": hw, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "params": params, "run": str(run),
              "reference_run": str(ref), "run_s": m["wall_time_s"], "reference_s": ref_s, "export_s": export_s,
              "served": served, "verdicts": verdicts(served, m["wall_time_s"], ref_s, export_s)}
    print("\n".join(["", *table(served), ""]))
    for what, ok in result["verdicts"]:
        print(f"{'MET ' if ok else 'MISS'} {what}")
    save(result, "served", out)
    return result
