"""Benchmark recipes side by side, in one process, on the same data and machine, against the
machine's own limit.

    python -m svtune.bench.bench                          # speed: seed vs default, same number of steps
    python -m svtune.bench.bench --steps 60 -p data_dir ../shared/datacommons
    python -m svtune.bench.bench --full -p data_dir ../shared/datacommons   # train each recipe to the end
    python -m svtune.bench.bench --compare RUN_A RUN_B    # paired bootstrap of two finished runs
    python -m svtune.bench.bench --scale 10000,30000,100000   # synthetic catalogs: time and memory per stage

Speed mode measures, in the same run, this machine's fp32 and bf16 matmul throughput and the
model's FLOPs per token (hardware.py), then trains each recipe for the same number of steps and
prints steady-state training pairs/s (the first STARTUP_STEPS steps excluded), real vs padded
tokens per pair, and the share of the machine's limit in the precision the recipe ran in:
limit = GFLOP/s / (FLOPs per token x real tokens per pair). Full mode runs the whole pipeline
per recipe (mining, before/after evaluation, training, saving), evaluates the held-out sets
at CURVE_POINTS points during training, and reports wall time, quality and time-to-quality:
the training time after which both held-out MRR@10 and Spearman stay within QUALITY_TOLERANCE
of their final values. Results are saved as JSON under outputs/bench/ for
notebooks/benchmark.ipynb. Compare mode resamples the held-out queries and pairs of two runs
(a run folder, or `RUN:before` for its base model) to say whether a difference is more than
noise. Runs unchanged on a GPU (device and precision are picked per machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from svtune import paths
from svtune.run.config import parse_value
from svtune.run.run import PeakRSS

RECIPES = ["default", "seed"]  # default first: its peak RSS is then not inflated by the seed run
STARTUP_STEPS = 3             # steps left out of the speed figure: data loading and first-call costs
CURVE_POINTS = 8              # held-out evaluations during a full run's training (time-to-quality)
QUALITY_TOLERANCE = 0.005


def machine(base_model: str = "all-MiniLM-L6-v2") -> dict:
    """This machine's measured limits and the model's cost per token."""
    from transformers import AutoConfig

    from svtune.model import hardware
    from svtune.model.load import resolve_base_model
    source, _ = resolve_base_model(base_model)
    config = AutoConfig.from_pretrained(source)
    return {**hardware.summary(), "base_model": base_model,
            "train_flops_per_token": hardware.flops_per_token(config, training=True),
            "forward_flops_per_token": hardware.flops_per_token(config, training=False)}


def _limit(hw: dict, precision: str, real_tokens_per_pair: float) -> float:
    """Pairs/s at the machine's measured matmul speed, if every FLOP were a matmul."""
    return hw[f"{precision}_gflops"] * 1e9 / (hw["train_flops_per_token"] * real_tokens_per_pair)


def _step_clock():
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter())
    return StepClock()


def speed(recipe: str, steps: int, params: dict, hw: dict) -> dict:
    """Train `steps` steps of `recipe` from a fresh base model; steady-state throughput figures."""
    import shutil
    import tempfile

    from svtune.run.run import Run
    scratch = tempfile.mkdtemp(prefix="svtune-bench-")   # the trained model is not kept
    clock = _step_clock()
    try:
        # Centring happens after the timed steps and its model is thrown away: skip it.
        overrides = {**params.get("overrides", {}), "center": 0.0}
        run = Run.start(recipe=recipe, max_steps=steps, run_dir=scratch, **{**params, "overrides": overrides})
        run.load_data()
        with PeakRSS() as mem:
            stats = run.train(callbacks=[clock])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    batch = run.cfg.hp.batch_size
    timed = clock.times[STARTUP_STEPS - 1:]
    steady = (len(timed) - 1) * batch / (timed[-1] - timed[0]) if len(timed) > 1 else stats["pairs_per_second"]
    limit = _limit(hw, stats["precision"], stats["real_tokens_per_pair"])
    return {"recipe": recipe, "batch_size": batch, "device": run.device, "precision": stats["precision"],
            "steps": stats["steps"], "pairs_per_second": round(steady, 1),
            "pairs_per_second_with_startup": stats["pairs_per_second"],
            "real_tokens_per_pair": stats["real_tokens_per_pair"],
            "padded_tokens_per_pair": stats["padded_tokens_per_pair"],
            "limit_pairs_per_second": round(limit, 1), "share_of_limit": round(steady / limit, 3),
            "peak_rss_mb": mem.mb}


def _quality_curve(run, points: int):
    """A callback evaluating the held-out sets during training, its time not counted as training."""
    from transformers import TrainerCallback

    from svtune.train.centering import CentredView
    from svtune.eval.evaluate import evaluate_run
    from svtune.data.formats import index_from_catalog
    texts = sorted({s for s, _ in index_from_catalog(run.catalog)})

    class Curve(TrainerCallback):
        def __init__(self):
            self.rows, self.spent, self.offset, self.start = [], 0.0, 0, None

        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.every = time.perf_counter(), max(1, state.max_steps // points)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % self.every == 0 and state.global_step < state.max_steps:
                self.evaluate(state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            self.offset += state.global_step
            self.spent += time.perf_counter() - self.start

        def evaluate(self, step):
            began = time.perf_counter()
            was_training = run.model.training
            run.model.eval()
            view = CentredView(run.model, texts, float(run.cfg.hp.center))
            m = evaluate_run(view, run.catalog, run.cfg)
            run.model.train(was_training)
            self.rows.append({"step": self.offset + step, "train_seconds": round(self.spent + began - self.start, 1),
                              "mrr@10": m["retrieval"]["mrr@10"], "spearman": m["pairs_heldout"].get("spearman")})
            self.start += time.perf_counter() - began   # evaluation time is not training time
    return Curve()


def time_to_quality(curve: list[dict], final: dict, seconds: float) -> float:
    """Training seconds after which MRR@10 and Spearman stay within QUALITY_TOLERANCE of the final ones."""
    points = curve + [{"train_seconds": seconds, **final}]
    reached = seconds
    for p in reversed(points):
        if all(p[k] is not None and p[k] >= final[k] - QUALITY_TOLERANCE for k in ("mrr@10", "spearman")):
            reached = p["train_seconds"]
        else:
            break
    return reached


def transfer(run_dir: Path, base_model: str, index: str, queries: str) -> list[float]:
    """MRR@10 of the base and the tuned model of a run on another (larger) index: does the tuning
    carry over to a catalog it was not tuned on?"""
    from svtune.eval.evaluate import evaluate_model
    from svtune.data.formats import read_index, read_queries
    from svtune.model.load import load_model
    rows, _ = read_index(paths.resolve(index))
    qs = read_queries(paths.resolve(queries))
    return [evaluate_model(load_model(m), rows, qs, [])["retrieval"]["mrr@10"]
            for m in (base_model, str(Path(run_dir) / "model"))]


def full(recipe: str, params: dict, curve: bool = True, transfer_index: str = "") -> dict:
    """The whole pipeline for one recipe, as `make train` runs it (without the notebook)."""
    from svtune.run.run import Run
    start = time.perf_counter()
    with PeakRSS() as mem:
        run = Run.start(recipe=recipe, **params)
        run.load_data()
        run.evaluate("before")
        callback = _quality_curve(run, CURVE_POINTS) if curve else None
        run.train(callbacks=[callback] if callback else None)
        run.evaluate("after")
        run.write_report()
        folder = run.finish()
    m = run.metrics
    b, a = m["before"], m["after"]
    moved = (transfer(folder, run.cfg.base_model, transfer_index, a["files"]["queries"])
             if transfer_index and a["files"]["queries"] else None)
    final = {"mrr@10": a["retrieval"]["mrr@10"], "spearman": a["pairs_heldout"].get("spearman")}
    curve_rows = callback.rows if callback else []
    train_seconds = callback.spent if callback else m["train"]["train_seconds"]
    return {"recipe": recipe, "run": str(folder), "wall_seconds": round(time.perf_counter() - start, 1),
            "evaluation_seconds_during_training": round(m["train"]["seconds"]["fit"] - train_seconds, 1),
            "train_seconds": round(train_seconds, 1),   # the quality curve's evaluations left out
            "pairs_per_second": round(m["train"]["pairs_trained"] / max(train_seconds, 1e-9), 2),
            "time_to_quality_seconds": round(time_to_quality(curve_rows, final, train_seconds), 1),
            "curve": curve_rows, "timings_s": m.get("timings_s"),
            # "2+1": two epochs, then one epoch of the scored stage (twostage)
            "epochs": (f"{run.cfg.hp.epochs:g}+{run.cfg.hp.scored_epochs:g}" if getattr(run.cfg.hp, "scored_epochs", 0)
                       else run.cfg.hp.epochs),
            "peak_rss_mb": mem.mb, "precision": m["train"]["precision"],
            "mrr@10": [b["retrieval"]["mrr@10"], a["retrieval"]["mrr@10"]],
            "recall@1": [b["retrieval"]["recall@1"], a["retrieval"]["recall@1"]],
            "ndcg@10": [b["retrieval"]["ndcg@10"], a["retrieval"]["ndcg@10"]],
            "queries": a["retrieval"]["queries"],
            "transfer_mrr@10": moved,
            "topic_mrr@10": [b.get("retrieval_topics", {}).get("mrr@10"), a.get("retrieval_topics", {}).get("mrr@10")],
            "spearman_heldout": [b["pairs_heldout"].get("spearman"), a["pairs_heldout"].get("spearman")],
            "heldout_pairs": a["pairs_heldout"].get("pairs", 0),
            "weak_below_mid": [b["pairs_heldout"]["band_order"].get("0.05-0.3 < 0.3-0.7"),
                               a["pairs_heldout"]["band_order"].get("0.05-0.3 < 0.3-0.7")],
            "low_band_cosine": [b["pairs_heldout"]["band_mean_cosine"]["<=0.05"],
                                a["pairs_heldout"]["band_mean_cosine"]["<=0.05"]],
            "nonsense_max": [b["collapse"]["nonsense_max"], a["collapse"]["nonsense_max"]],
            "random_pair_cosine": [b["collapse"]["random_pair_mean_cosine"],
                                   a["collapse"]["random_pair_mean_cosine"]],
            "healthy": m["health"]["ok"]}


def scale_one(n: int, folder: Path) -> dict:
    """Mining and evaluation (no training) of a synthetic catalog of `n` StatVars with topics,
    stage by stage: wall seconds and peak RSS, and encoding throughput against the forward limit."""
    import tempfile

    from svtune.data import synthetic
    from svtune.data.catalog import load_catalog
    from svtune.eval.evaluate import Index, evaluate_model
    from svtune.data.formats import index_from_catalog, names_from_catalog, read_pairs, read_queries
    from svtune.data.mining import mine_pairs
    from svtune.model.load import load_model, token_counter
    from svtune.train.negatives import hard_negatives
    from svtune.train.recipes import positives
    from svtune.eval.report import rank_diff
    paths.CACHE_DIR = Path(tempfile.mkdtemp(prefix="svtune-scale-cache-"))   # encoding is measured cold
    stages, out = {}, {"statvars": n}

    @contextlib.contextmanager
    def stage(name):
        start = time.perf_counter()
        with PeakRSS() as mem:
            yield
        stages[name] = {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": mem.mb}
        print(f"  {n:,} StatVars, {name}: {stages[name]['seconds']} s, peak RSS {mem.mb:,.0f} MB", flush=True)

    with stage("write synthetic catalog"):
        synthetic.write_catalog(folder, n)
    with stage("load catalog"):
        catalog = load_catalog(folder, "small", warn=False)
    with stage("mine pairs"):
        pairs, _ = mine_pairs(catalog)
    model = load_model("all-MiniLM-L6-v2")
    rows = index_from_catalog(catalog)
    queries = (read_queries(paths.DATA_DIR / "eval" / "queries.csv")
               + read_queries(paths.DATA_DIR / "eval" / "topic_queries.csv"))[:400]
    with stage("encode catalog"):
        index = Index(model, rows)
    with stage(f"search {len(queries)} queries"):
        index.search([q for q, _ in queries])
    with stage("evaluate (catalog cached)"):
        evaluate_model(model, rows, queries, read_pairs(paths.DATA_DIR / "eval" / "pairs.csv"))
    with stage("hard negatives (k=1)"):
        hard_negatives(pairs[positives(pairs)], pairs, model, k=1)
    with stage("rank-diff report"):
        rank_diff(model, model, rows, [q for q, _ in queries], names_from_catalog(catalog),
                  folder / "rank_diff.html", expected=[e for _, e in queries])
    hw = machine()
    sample = index.sentences[::max(1, len(index.sentences) // 5000)]
    tokens = sum(token_counter(model.tokenizer, model.max_seq_length)(sample)) / len(sample)
    rate = len(index.sentences) / stages["encode catalog"]["seconds"]
    limit = hw["fp32_gflops"] * 1e9 / (hw["forward_flops_per_token"] * tokens)
    out.update({"topics": catalog.num_topics, "index_sentences": len(index.sentences), "pairs": len(pairs),
                "encode_sentences_per_second": round(rate, 1), "tokens_per_sentence": round(tokens, 1),
                "encode_share_of_forward_limit": round(rate / limit, 3), "machine": hw["name"], "stages": stages})
    return out


def scale(sizes: list[int], out: str | Path | None = None) -> dict:
    """scale_one per size, each in a fresh process so its peak memory is its own."""
    import subprocess
    import sys
    import tempfile
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"svtune-synth-{n}-") as folder:
            res = subprocess.run([sys.executable, "-m", "svtune.bench.bench", "--scale-one", str(n), folder],
                                 capture_output=True, text=True)
            print(res.stdout, end="", flush=True)
            if res.returncode:
                raise SystemExit(f"scale {n} failed: {res.stderr[-2000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    names = list(rows[0]["stages"])
    print("\n" + "stage".ljust(28) + "".join(f"  {r['statvars']:>9,} StatVars" for r in rows))
    for name in names:
        print(name.ljust(28) + "".join(f"  {r['stages'][name]['seconds']:>8.1f} s {r['stages'][name]['peak_rss_mb'] / 1024:>4.1f} GB"
                             for r in rows))
    for r in rows:
        print(f"{r['statvars']:,}: {r['index_sentences']:,} index sentences, {r['pairs']:,} pairs; encoding "
              f"{r['encode_sentences_per_second']:,.0f} sentences/s = {r['encode_share_of_forward_limit']:.0%} of "
              f"the fp32 forward limit ({r['machine']})")
    result = {"mode": "scale", "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    out = Path(out) if out else paths.OUTPUTS_DIR / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}-scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out}")
    return result


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


def run_bench(full_mode: bool = False, recipes: list[str] = RECIPES, steps: int = 30,
              params: dict | None = None, out: str | Path | None = None, transfer_index: str = "") -> dict:
    """Run the benchmark, print its table and save it as JSON; returns the result."""
    params = {"size": "small", **(params or {})}
    mode = "full" if full_mode else "speed"
    hw = machine(params.get("base_model", "all-MiniLM-L6-v2"))
    print(f"{hw['name']} ({hw['device']}, {hw['cores']} cores, {hw['torch_threads']} torch threads): "
          f"matmul fp32 {hw['fp32_gflops']:.0f} GFLOP/s, bf16 {hw['bf16_gflops']:.0f} GFLOP/s -> auto precision "
          f"{hw['auto_precision']}; {hw['base_model']}: {hw['train_flops_per_token'] / 1e6:.1f} MFLOP/token "
          "to train (forward + backward)", flush=True)
    rows = [full(r, params, transfer_index=transfer_index) if full_mode else speed(r, steps, params, hw)
            for r in recipes]
    result = {"mode": mode, "params": params, "steps": None if full_mode else steps, "machine": hw,
              "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    by = {r["recipe"]: r for r in rows}
    if "seed" in by and "default" in by:
        result["default_over_seed_pairs_per_second"] = round(
            by["default"]["pairs_per_second"] / by["seed"]["pairs_per_second"], 2)
        if full_mode:
            result["seed_over_default_time_to_quality"] = round(
                by["seed"]["time_to_quality_seconds"] / max(by["default"]["time_to_quality_seconds"], 1e-9), 1)
            result["seed_over_default_wall"] = round(by["seed"]["wall_seconds"] / by["default"]["wall_seconds"], 1)
    print()
    if full_mode:
        print_table(rows, ["recipe", "epochs", "wall_seconds", "train_seconds", "time_to_quality_seconds",
                           "pairs_per_second", "mrr@10", "spearman_heldout", "topic_mrr@10", "transfer_mrr@10",
                           "low_band_cosine",
                           "nonsense_max", "peak_rss_mb", "healthy"])
    else:
        print_table(rows, ["recipe", "precision", "batch_size", "steps", "pairs_per_second", "limit_pairs_per_second",
                           "share_of_limit", "real_tokens_per_pair", "padded_tokens_per_pair", "peak_rss_mb"])
    for key, what in (("default_over_seed_pairs_per_second", "default/seed training throughput"),
                      ("seed_over_default_time_to_quality", "time-to-quality, seed/default"),
                      ("seed_over_default_wall", "whole pipeline, seed/default")):
        if key in result:
            print(f"{what}: {result[key]}x")
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
    from svtune.data.catalog import load_catalog
    from svtune.eval.evaluate import evaluate_run
    from svtune.model.load import load_model
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
    from svtune.run.config import PARAMETERS, make_config
    from svtune.train.recipes import get
    params = json.loads((folder / "config.json").read_text())["params"]
    knobs = {f.name for f in get(params.get("recipe", "default")).knobs()}
    old = {k: v for k, v in params.items() if k in knobs and v is not None and k not in PARAMETERS}
    essential = {k: v for k, v in params.items() if k in PARAMETERS}
    essential["overrides"] = {**old, **(essential.get("overrides") or {})}
    return make_config(**essential)


def compare(a: str, b: str, fresh: bool = False) -> dict:
    """Paired bootstrap of two evaluated models on the same held-out queries and pairs
    (as stored in the runs, or `fresh`: both evaluated again now)."""
    from svtune.eval.evaluate import paired_differences
    details = _fresh_details if fresh else _eval_details
    try:
        out = {"a": a, "b": b, **paired_differences(details(a), details(b))}
    except ValueError as e:
        raise SystemExit(f"{e} (add --fresh to evaluate both again on today's files)") from None
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
    import os
    os.environ.setdefault("TQDM_DISABLE", "1")   # tqdm reads it when first imported: before any library is
    ap = argparse.ArgumentParser(prog="python -m svtune.bench.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="train each recipe to completion and evaluate")
    ap.add_argument("--steps", type=int, default=30, help="speed mode: optimizer steps per recipe")
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipe names")
    ap.add_argument("--size", default="small")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="any run parameter, e.g. -p data_dir ../shared/datacommons")
    ap.add_argument("-o", "--override", nargs=2, action="append", default=[], metavar=("KNOB", "VALUE"),
                    help="a recipe knob for every recipe benchmarked, e.g. -o mnrl_scale 30")
    ap.add_argument("--out", help="JSON result path (default outputs/bench/<time>-<mode>.json)")
    ap.add_argument("--transfer", default="", metavar="INDEX",
                    help="full mode: also evaluate base and tuned on this (larger) index, e.g. "
                         "../shared/datacommons/preindex/medium/sv_descriptions.csv")
    ap.add_argument("--scale", metavar="N,N,...", help="mining + evaluation of synthetic catalogs of these sizes "
                    "(e.g. 10000,30000,100000), each in its own process: wall time and peak RSS per stage")
    ap.add_argument("--scale-one", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    ap.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                    help="paired bootstrap of two finished runs (RUN or RUN:before)")
    ap.add_argument("--fresh", action="store_true",
                    help="with --compare: evaluate both models again on today's held-out files")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare, fresh=args.fresh)
    if args.scale_one:
        print(json.dumps(scale_one(int(args.scale_one[0]), Path(args.scale_one[1]))))
        return {}
    if args.scale:
        return scale([int(x) for x in args.scale.split(",")], args.out)
    params = {"size": args.size, **{k: parse_value(v) for k, v in args.param}}
    if args.override:
        params["overrides"] = {k: parse_value(v) for k, v in args.override}
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    return run_bench(args.full, recipes, args.steps, params, args.out, args.transfer)


if __name__ == "__main__":
    main()
