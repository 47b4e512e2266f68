"""Is run A really better than B? A paired bootstrap over the same held-out queries and pairs, from the
runs' saved evaluations (or `fresh`: both evaluated again on today's files). A run is a folder, or
`RUN:before` for its base model. `svtune compare A B` (= `svtune bench --compare A B`) also writes the rank
diff of A vs B, labelled queries first (eval/run_diff.py), to outputs/compare/."""

from __future__ import annotations

from pathlib import Path

from svtune import paths, runs
from svtune.bench.results import latest, print_table
from svtune.data.catalog import load_catalog
from svtune.data.heldout import seed_for
from svtune.eval.headline import BOOTSTRAPPED
from svtune.model import load
from svtune.run.config import make_config


def _eval_details(spec: str) -> dict:
    """Per-query and per-pair results of `RUN` (after training) or `RUN:before` (its base model)."""
    folder, _, stage = spec.partition(":")
    folder, stage = paths.resolve(folder), stage or "after"
    if not (folder / runs.eval_file(stage)).is_file():
        raise SystemExit(f"{folder / runs.eval_file(stage)}: no such evaluation (give a finished run folder, "
                         "optionally :before)")
    return runs.read_eval(folder, stage)["details"]


def _fresh_details(spec: str) -> dict:
    """`RUN`'s tuned model (or `RUN:before`, its base model) evaluated now, on the held-out
    files as they are today: runs evaluated on an older held-out set become comparable."""
    from svtune.eval.evaluate import evaluate_run
    folder, _, stage = spec.partition(":")
    folder = paths.resolve(folder)
    cfg = config_of(folder)
    model = load.load_model(cfg.base_model if stage == "before" else str(folder / "model"))
    catalog = load_catalog(cfg.data_dir, cfg.size, cfg.max_statvars, warn=False, heldout_seed=seed_for(cfg),
                           eval_dir=cfg.eval_dir)   # the run's own held-out texts, never a default seed
    print(f"evaluating {spec} on today's held-out files ...")
    return evaluate_run(model, catalog, cfg)["details"]


def config_of(folder: Path):
    """The RunConfig a finished run was made with (SystemExit, one line, when `folder` is not a run)."""
    try:
        params = runs.params(folder)
    except (OSError, ValueError) as e:
        raise SystemExit(f"{folder}: {e}") from None
    return make_config(**{k: v for k, v in params.items() if k != "resume"})


def compare(a: str, b: str, fresh: bool = False, diff: bool = True) -> dict:
    """Paired bootstrap of two evaluated models on the same held-out queries and pairs
    (as stored in the runs, or `fresh`: both evaluated again now); with `diff`, also the rank diff
    of A vs B (eval/run_diff.py: the curation file's labelled queries first), written and summarised."""
    from svtune.eval.evaluate import paired_differences
    details = _fresh_details if fresh else _eval_details
    try:
        out = {"a": a, "b": b, **paired_differences(details(a), details(b))}
    except ValueError as e:
        raise SystemExit(f"{e} (add --fresh to evaluate both again on today's files)") from None
    print(f"A = {a}\nB = {b}")
    rows = [{"metric": k, "A": out[k]["a"], "B": out[k]["b"], "A-B": out[k]["diff"],
             "95% interval": "[{:+.3f}, {:+.3f}]".format(*out[k]["diff_ci95"]), "P(A>B)": out[k]["a_wins"],
             "items": out[k]["items"]} for k in BOOTSTRAPPED if isinstance(out.get(k), dict)]
    print_table(rows, ["metric", "A", "B", "A-B", "95% interval", "P(A>B)", "items"])
    if diff:
        out["rank_diff"] = print_rank_diff(a, b)
    return out


def print_rank_diff(a: str, b: str) -> str | None:
    """Write the A-vs-B rank diff page and print where, with each labelled query's rank in A and B."""
    from svtune.eval.run_diff import write
    try:
        path, result = write(a, b)
    except (OSError, ValueError, KeyError) as e:
        print(f"no rank diff: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return None
    print(f"rank diff A vs B ({result['queries']} queries, labelled first): {path}")
    for query, rank_a, rank_b in result["labelled"]:
        print(f"  labelled {query!r}: first expected StatVar {rank_a} -> {rank_b}")
    return str(path)


def compare_latest(a: str = "default", b: str = "seed") -> list[dict]:
    """Compare recipe `a` with recipe `b` and with its own base model, from the newest full
    benchmark rows whose run folders still exist; [] when there are none."""
    full = latest("full")
    found = {r["recipe"]: r["run"] for r in (full or {}).get("rows", [])
             if (Path(r["run"]) / runs.eval_file("after")).is_file()}
    if a not in found or b not in found:
        return []
    return [compare(found[a], found[b], diff=False), compare(found[a], found[a] + ":before", diff=False)]
