"""Benchmark recipes side by side, in one process, on the same data and machine.

    python -m svtune.bench                          # speed: seed vs default, same number of steps
    python -m svtune.bench --steps 20 -p data_dir ../shared/datacommons
    python -m svtune.bench --full -p data_dir ../shared/datacommons   # train each recipe to the end
    python -m svtune.bench --compare RUN_A RUN_B    # paired bootstrap of two finished runs

Speed mode prints training pairs/s, real vs padded tokens per pair, peak RSS and
the default/seed ratio. Full mode runs the whole pipeline per recipe (mining,
before/after evaluation, training, saving) and reports wall time and quality.
Results are saved as JSON under outputs/bench/ for notebooks/benchmark.ipynb.
Compare mode resamples the held-out queries and pairs of two runs (a run folder,
or `RUN:before` for its base model) to say whether a difference is more than noise.
Runs unchanged on a GPU (device and bf16 are picked per machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from . import paths
from .config import parse_value
from .run import PeakRSS

RECIPES = ["default", "seed"]  # default first: its peak RSS is then not inflated by the seed run


def speed(recipe: str, steps: int, params: dict) -> dict:
    """Train `steps` steps of `recipe` from a fresh base model; throughput figures."""
    import shutil
    import tempfile

    from .run import Run
    scratch = tempfile.mkdtemp(prefix="svtune-bench-")   # the trained model is not kept
    try:
        # Centring happens after the timed steps and its model is thrown away: skip it.
        overrides = {**params.get("overrides", {}), "center": 0.0}
        run = Run.start(recipe=recipe, max_steps=steps, run_dir=scratch, **{**params, "overrides": overrides})
        run.load_data()
        with PeakRSS() as mem:
            stats = run.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    keys = ["pairs_per_second", "real_tokens_per_pair", "padded_tokens_per_pair", "pairs_trained",
            "steps", "train_seconds", "precision"]
    return {"recipe": recipe, "batch_size": run.cfg.hp.batch_size, "device": run.device,
            **{k: stats[k] for k in keys}, "peak_rss_mb": mem.mb}


def full(recipe: str, params: dict) -> dict:
    """The whole pipeline for one recipe, as `make train` runs it (without the notebook)."""
    from .run import Run
    start = time.perf_counter()
    with PeakRSS() as mem:
        run = Run.start(recipe=recipe, **params)
        folder = run.run_all()
    m = run.metrics
    b, a = m["before"], m["after"]
    return {"recipe": recipe, "run": str(folder), "wall_seconds": round(time.perf_counter() - start, 1),
            "train_seconds": m["train"]["train_seconds"], "pairs_per_second": m["train"]["pairs_per_second"],
            # "2+1": two epochs, then one epoch of the scored stage (twostage)
            "epochs": (f"{run.cfg.hp.epochs:g}+{run.cfg.hp.scored_epochs:g}" if getattr(run.cfg.hp, "scored_epochs", 0)
                       else run.cfg.hp.epochs),
            "peak_rss_mb": mem.mb, "precision": m["train"]["precision"],
            "mrr@10": [b["retrieval"]["mrr@10"], a["retrieval"]["mrr@10"]],
            "recall@1": [b["retrieval"]["recall@1"], a["retrieval"]["recall@1"]],
            "ndcg@10": [b["retrieval"]["ndcg@10"], a["retrieval"]["ndcg@10"]],
            "queries": a["retrieval"]["queries"],
            "spearman_heldout": [b["pairs_heldout"].get("spearman"), a["pairs_heldout"].get("spearman")],
            "heldout_pairs": a["pairs_heldout"].get("pairs", 0),
            "low_band_cosine": [b["pairs_heldout"]["band_mean_cosine"]["<=0.05"],
                                a["pairs_heldout"]["band_mean_cosine"]["<=0.05"]],
            "nonsense_max": [b["collapse"]["nonsense_max"], a["collapse"]["nonsense_max"]],
            "random_pair_cosine": [b["collapse"]["random_pair_mean_cosine"],
                                   a["collapse"]["random_pair_mean_cosine"]],
            "healthy": m["health"]["ok"]}


def print_table(rows: list[dict], keys: list[str]) -> None:
    def fmt(v):
        if isinstance(v, list):
            return "->".join(fmt(x) for x in v)
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    cells = [[fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def run_bench(full_mode: bool = False, recipes: list[str] = RECIPES, steps: int = 12,
              params: dict | None = None, out: str | Path | None = None) -> dict:
    """Run the benchmark, print its table and save it as JSON; returns the result."""
    params = {"size": "small", **(params or {})}
    mode = "full" if full_mode else "speed"
    rows = [full(r, params) if full_mode else speed(r, steps, params) for r in recipes]
    result = {"mode": mode, "params": params, "steps": None if full_mode else steps,
              "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    by = {r["recipe"]: r for r in rows}
    if "seed" in by and "default" in by:
        result["default_over_seed_pairs_per_second"] = round(
            by["default"]["pairs_per_second"] / by["seed"]["pairs_per_second"], 2)
    print()
    if full_mode:
        print_table(rows, ["recipe", "epochs", "wall_seconds", "pairs_per_second", "mrr@10",
                           "spearman_heldout", "low_band_cosine", "nonsense_max", "peak_rss_mb", "healthy"])
    else:
        print_table(rows, ["recipe", "batch_size", "precision", "steps", "pairs_per_second",
                           "real_tokens_per_pair", "padded_tokens_per_pair", "peak_rss_mb"])
    if "default_over_seed_pairs_per_second" in result:
        print(f"\ndefault/seed training throughput: {result['default_over_seed_pairs_per_second']}x")
    out = Path(out) if out else paths.OUTPUTS_DIR / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {out}")
    return result


def _saved(pattern: str) -> list[dict]:
    """Saved benchmark results matching `pattern`, oldest first (names start with the time)."""
    return [json.loads(f.read_text()) for f in sorted((paths.OUTPUTS_DIR / "bench").glob(pattern))]


def _heldout_pairs(row: dict) -> int | None:
    """How many held-out pairs a full row was evaluated on (older rows: from its run folder)."""
    if "heldout_pairs" in row:
        return row["heldout_pairs"]
    metrics = Path(row.get("run", "")) / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text())["after"]["pairs_heldout"].get("pairs")
    return None


def _same_heldout(rows: list[dict]) -> list[dict]:
    """The rows evaluated on the same held-out pairs as the newest row: a Spearman on 106 pairs
    and one on 305 do not go in one table or plot (the set grew on 2026-11-27)."""
    rows = [{**r, "heldout_pairs": _heldout_pairs(r)} for r in rows]
    return [r for r in rows if r["heldout_pairs"] == rows[-1]["heldout_pairs"]] if rows else []


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


def _eval_details(spec: str) -> dict:
    """Per-query and per-pair results of `RUN` (after training) or `RUN:before` (its base model)."""
    folder, _, stage = spec.partition(":")
    folder = paths.resolve(folder)
    path = folder / f"eval_{stage or 'after'}.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such evaluation (give a finished run folder, optionally :before)")
    return json.loads(path.read_text())["details"]


def _fresh_details(spec: str) -> dict:
    """`RUN`'s tuned model (or `RUN:before`, its base model) evaluated now, on the held-out
    files as they are today: runs evaluated on an older held-out set become comparable."""
    from .catalog import load_catalog
    from .evaluate import evaluate_run
    from .models import load_model
    folder, _, stage = spec.partition(":")
    folder = paths.resolve(folder)
    if not (folder / "config.json").is_file():
        raise SystemExit(f"{folder}: not a run folder (no config.json)")
    cfg = config_of(folder)
    model = load_model(cfg.base_model if stage == "before" else str(folder / "model"))
    catalog = load_catalog(cfg.data_dir, cfg.size, cfg.max_statvars, warn=False)
    print(f"evaluating {spec} on today's held-out files ...")
    return evaluate_run(model, catalog, cfg)["details"]


def config_of(folder: Path):
    """The RunConfig a finished run was made with (runs of the older flat layout included)."""
    from .config import PARAMETERS, make_config
    from .recipes import get
    params = json.loads((folder / "config.json").read_text())["params"]
    knobs = {f.name for f in get(params.get("recipe", "default")).knobs()}
    old = {k: v for k, v in params.items() if k in knobs and v is not None and k not in PARAMETERS}
    essential = {k: v for k, v in params.items() if k in PARAMETERS}
    essential["overrides"] = {**old, **(essential.get("overrides") or {})}
    return make_config(**essential)


def compare(a: str, b: str, fresh: bool = False) -> dict:
    """Paired bootstrap of two evaluated models on the same held-out queries and pairs
    (as stored in the runs, or `fresh`: both evaluated again now)."""
    from .metrics import paired_bootstrap, reciprocal_rank
    details = _fresh_details if fresh else _eval_details
    da, db = details(a), details(b)
    out = {"a": a, "b": b}
    qa, qb = da["queries"], db["queries"]
    if [q["query"] for q in qa] != [q["query"] for q in qb]:
        raise SystemExit("the two runs were evaluated on different queries (or catalogs): not comparable "
                         "(add --fresh to evaluate both again on today's files)")
    if qa:
        rr = [[reciprocal_rank([d for d, _ in q["top"]], q["expected"]) for q in qs] for qs in (qa, qb)]
        out["mrr@10"] = paired_bootstrap("mean", rr[0], rr[1])
    pa, pb = da["pairs_heldout"], db["pairs_heldout"]
    if [(p["sentence_1"], p["sentence_2"]) for p in pa] != [(p["sentence_1"], p["sentence_2"]) for p in pb]:
        raise SystemExit("the two runs were evaluated on different held-out pairs: not comparable "
                         "(add --fresh to evaluate both again on today's files)")
    if len(pa) >= 2:
        out["spearman_heldout"] = paired_bootstrap("spearman", [p["cosine"] for p in pa],
                                                   [p["cosine"] for p in pb], [p["label"] for p in pa])
    print(f"A = {a}\nB = {b}")
    rows = [{"metric": k, "A": v["a"], "B": v["b"], "A-B": v["diff"],
             "95% interval": "[{:+.3f}, {:+.3f}]".format(*v["diff_ci95"]), "P(A>B)": v["a_wins"],
             "items": v["items"]} for k, v in out.items() if isinstance(v, dict)]
    print_table(rows, ["metric", "A", "B", "A-B", "95% interval", "P(A>B)", "items"])
    return out


def compare_latest(a: str = "default", b: str = "seed") -> list[dict]:
    """Compare recipe `a` with recipe `b` and with its own base model, from the newest full
    benchmark rows whose run folders still exist; [] when there are none."""
    full = latest("full")
    runs = {r["recipe"]: r["run"] for r in (full or {}).get("rows", [])
            if (Path(r["run"]) / "eval_after.json").is_file()}
    if a not in runs or b not in runs:
        return []
    return [compare(runs[a], runs[b]), compare(runs[a], runs[a] + ":before")]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m svtune.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="train each recipe to completion and evaluate")
    ap.add_argument("--steps", type=int, default=12, help="speed mode: optimizer steps per recipe")
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipe names")
    ap.add_argument("--size", default="small")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="any run parameter, e.g. -p data_dir ../shared/datacommons")
    ap.add_argument("-o", "--override", nargs=2, action="append", default=[], metavar=("KNOB", "VALUE"),
                    help="a recipe knob for every recipe benchmarked, e.g. -o mnrl_scale 30")
    ap.add_argument("--out", help="JSON result path (default outputs/bench/<time>-<mode>.json)")
    ap.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                    help="paired bootstrap of two finished runs (RUN or RUN:before)")
    ap.add_argument("--fresh", action="store_true",
                    help="with --compare: evaluate both models again on today's held-out files")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare, fresh=args.fresh)
    params = {"size": args.size, **{k: parse_value(v) for k, v in args.param}}
    if args.override:
        params["overrides"] = {k: parse_value(v) for k, v in args.override}
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    return run_bench(args.full, recipes, args.steps, params, args.out)


if __name__ == "__main__":
    main()
