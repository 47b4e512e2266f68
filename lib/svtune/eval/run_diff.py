"""Run-vs-run rank diff: did the retrain fix what the curator labelled, and what else moved?

    from svtune.eval.run_diff import run_diff
    out = run_diff("outputs/runs/<A>", "outputs/runs/<B>")      # "RUN:before" = that run's base model
    out["html"]        # report.py's rank-diff page, A vs B, with a first section "Labelled queries"
    out["labelled"]    # [(query, rank in A, rank in B)] of the first expected StatVar ("-": not in the top 10)

The labelled queries are the queries of B's curation file (data/curation.py: the playground writes the query
as sentence_1); each one's expected StatVars are those it was labelled "same thing" or "related" (score >=
0.5) with, by name. Both models search B's catalog for them. The held-out queries come from the two runs'
saved evaluations (eval_after.json, or eval_before.json for RUN:before): no model is loaded for them.
The page is report.rank_diff_context's, with the labelled queries moved to a first section.
Used by `svtune compare A B` (bench/compare.py) and run/retrain.py.
"""

from __future__ import annotations

from pathlib import Path

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.formats import index_from_catalog, names_from_catalog
from svtune.data.heldout import seed_for
from svtune.data.records import CURATION_FILE, read_sentence_pairs, text_key
from svtune.eval.report import rank_diff_context, render
from svtune.model.load import load_model

LABELLED_MIN = 0.5       # a label at least this high makes the StatVar an expected answer of the query
K = 10


def _spec(spec: str | Path) -> tuple[Path, str]:
    folder, _, stage = str(spec).partition(":")
    return paths.resolve(folder), stage or "after"


def labelled_queries(data_dir: Path, names: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(query, expected dcids) of the curation file's rows, first-labelled first; names -> dcids."""
    path = Path(data_dir) / CURATION_FILE
    if not path.is_file():
        return []
    by_name: dict[str, str] = {}
    for d, n in names.items():
        by_name.setdefault(text_key(n), d)
    out: dict[str, list[str]] = {}
    for p in read_sentence_pairs(path):
        want = out.setdefault(p.sentence_1, [])
        dcid = by_name.get(text_key(p.sentence_2))
        if dcid and p.score >= LABELLED_MIN and dcid not in want:
            want.append(dcid)
    return list(out.items())


def _search(spec: tuple[Path, str], rows, queries: list[str]) -> list[list[tuple[str, float]]]:
    from svtune.eval.evaluate import Index
    folder, stage = spec
    model = load_model(runs.params(folder)["base_model"] if stage == "before" else str(folder / "model"))
    return Index(model, rows).search(queries, K)


def labelled_first(context: dict, labelled: set[str]) -> dict:
    """The page's sections with the labelled queries' blocks moved to a first section."""
    first, rest = [], []
    for s in context["sections"]:
        mine = [q for q in s["blocks"] if q["query"] in labelled]
        first += mine
        rest.append({**s, "blocks": [q for q in s["blocks"] if q["query"] not in labelled]})
    if not first:
        return context
    return {**context, "sections": [{"status": "labelled", "title": "Labelled queries", "blocks": first}, *rest]}


def _rank(top: list[tuple[str, float]], expected: list[str]) -> str:
    ids = [d for d, _ in top]
    return next((f"#{i + 1}" for i, d in enumerate(ids) if d in expected), "-")


def run_diff(a: str | Path, b: str | Path) -> dict:
    """The rank diff of run `a` (before) vs run `b` (after); see the module docstring."""
    sa, sb = _spec(a), _spec(b)
    evals = [runs.read_eval(f, stage) for f, stage in (sa, sb)]
    qa, qb = (e.get("details", {}).get("queries", []) for e in evals)
    if [q["query"] for q in qa] != [q["query"] for q in qb]:
        qa = qb = []     # different held-out sets: only the labelled queries are comparable
    params = runs.params(sb[0])
    data_dir = paths.data_dir(params.get("data_dir"))
    catalog = load_catalog(data_dir, params["size"], warn=False, heldout_seed=seed_for(params),
                           eval_dir=params.get("eval_dir", ""))   # run B's own held-out texts
    names = {**evals[0].get("names", {}), **evals[1].get("names", {}), **names_from_catalog(catalog)}
    held = {q["query"] for q in qb}
    labelled = [(q, e) for q, e in labelled_queries(data_dir, names) if q not in held]
    queries = [q for q, _ in labelled] + [q["query"] for q in qb]
    expected = [e for _, e in labelled] + [q.get("expected") or [] for q in qb]
    before = after = []
    if labelled:
        rows = index_from_catalog(catalog)
        before, after = (_search(s, rows, [q for q, _ in labelled]) for s in (sa, sb))
    before = list(before) + [q["top"] for q in qa]
    after = list(after) + [q["top"] for q in qb]
    labels = (f"A: {sa[0].name}" + (":before" if sa[1] == "before" else ""),
              f"B: {sb[0].name}" + (":before" if sb[1] == "before" else ""))
    context = rank_diff_context(queries, before, after, names, f"{labels[0]} vs {labels[1]}", labels, expected)
    page = render("rank_diff.html.j2", labelled_first(context, {q for q, _ in labelled}))
    ranks = [(q, _rank(before[i], e), _rank(after[i], e)) for i, (q, e) in enumerate(labelled)]
    return {"html": page, "labelled": ranks, "queries": len(queries), "heldout": len(qb)}


def write(a: str | Path, b: str | Path, out: Path | None = None) -> tuple[Path, dict]:
    """run_diff written to `out` (default outputs/compare/<A>_vs_<B>.html); (path, run_diff's dict)."""
    result = run_diff(a, b)
    name = f"{Path(str(a)).name}_vs_{Path(str(b)).name}.html".replace(":", "-")
    out = Path(out) if out else paths.OUTPUTS_DIR / "compare" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result["html"], encoding="utf-8")
    return out, result
