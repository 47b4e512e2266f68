"""What to label first: a ranked list of queries worth a curator's minute, each with its reason.

    from svtune.eval.suggest import suggest, table
    rows = suggest("outputs/runs/<run>", report_queries="../shared/datacommons/queries/queryset_vars.csv")
    table(rows, 20)      # a DataFrame: rank, kind, query, reason

Kinds, in this order (within a kind, the worst first):
  * regressed  - held-out queries the tuned model ranks worse than the base (the run's rank diff:
                 reciprocal rank of the first expected StatVar, eval_before.json vs eval_after.json);
  * close      - queries whose tuned top two results are closer than `margin` (held-out and logged
                 queries): one pair would settle which is meant;
  * topic      - the run's worst-ranked topic queries (topic_queries.csv, reciprocal rank below 1);
  * unreached  - catalog StatVars that no query (held-out or logged) finds in the top 10: the query is
                 the StatVar's name, to search and label from.
A query log (`report_queries`: the argument, else the run's `-p report_queries`; a plain list, one query
a line, or query CSV, as data/formats.read_queries reads) is searched with the tuned model; without one
no model is loaded. Held-out queries are shown so a curator sees where the model fails, but labelling them
is refused by the leak rule (data/leaks.py): label the logged queries and the StatVar names.
"""

from __future__ import annotations

from pathlib import Path

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.formats import index_from_catalog, read_queries
from svtune.data.heldout import seed_for
from svtune.eval.evaluate import Index
from svtune.eval.metrics import reciprocal_rank
from svtune.model.load import load_model

MARGIN = 0.02
KINDS = ("regressed", "close", "topic", "unreached")
K = 10


def _saved(folder: Path, stage: str) -> dict:
    """The run's eval_<stage>.json ({} when it has none)."""
    return runs.read_eval(folder, stage) if (folder / runs.eval_file(stage)).is_file() else {}


def _close(query: str, top: list, names: dict[str, str], margin: float, source: str) -> dict | None:
    if len(top) < 2 or top[0][1] - top[1][1] >= margin:
        return None
    gap = top[0][1] - top[1][1]
    a, b = (names.get(d) or d for d, _ in top[:2])
    return {"kind": "close", "query": query, "severity": gap,
            "reason": f"{source}: top two {a!r} and {b!r} only {gap:.3f} apart"}


def _regressed(before: list[dict], after: list[dict]) -> list[dict]:
    out = []
    for b, a in zip(before, after):
        if b["query"] != a["query"] or not a.get("expected"):
            continue
        rb, ra = (reciprocal_rank([d for d, _ in x["top"]], x["expected"], K) for x in (b, a))
        if ra < rb:
            out.append({"kind": "regressed", "query": a["query"], "severity": ra - rb,
                        "reason": f"held-out: the tuned model ranks its StatVar {_rank(ra)}, the base {_rank(rb)}"})
    return out


def _rank(rr: float) -> str:
    return f"#{round(1 / rr)}" if rr > 0 else f"not in the top {K}"


def _logged(folder: Path, params: dict, report_queries: str | None):
    """(query, tuned top-k) of the query log, and the catalog; ([], catalog) without a log."""
    catalog = load_catalog(paths.data_dir(params.get("data_dir")), params["size"], warn=False,
                           heldout_seed=seed_for(params), eval_dir=params.get("eval_dir", ""))   # the run's own
    source = report_queries or params.get("report_queries")
    if not source:
        return [], catalog
    queries = list(dict.fromkeys(q for q, _ in read_queries(paths.resolve(source))))
    tops = Index(load_model(str(folder / "model")), index_from_catalog(catalog)).search(queries, K)
    return list(zip(queries, tops)), catalog


def suggest(run: str | Path = "", report_queries: str | None = None, margin: float = MARGIN) -> list[dict]:
    """Every suggestion for a finished run, ranked; see the module docstring. Rows: kind, query, reason."""
    folder = runs.finished_run(run)
    params = runs.params(folder)
    before, after = (_saved(folder, s).get("details", {}) for s in ("before", "after"))
    names = _saved(folder, "after").get("names", {})
    rows = _regressed(before.get("queries", []), after.get("queries", []))
    logged, catalog = _logged(folder, params, report_queries)
    names = {**names, **{d: sv.name for d, sv in catalog.statvars.items() if sv.name}}
    for q in after.get("queries", []):
        rows.append(_close(q["query"], q["top"], names, margin, "held-out"))
    for q, top in logged:
        rows.append(_close(q, top, names, margin, "query log"))
    for q in after.get("topic_queries", []):
        rr = reciprocal_rank([d for d, _ in q["top"]], q.get("expected") or [], K)
        if rr < 1:
            rows.append({"kind": "topic", "query": q["query"], "severity": rr,
                         "reason": f"topic query: its topic ranks {_rank(rr)}"})
    reached = {d for q in after.get("queries", []) for d, _ in q["top"][:K]} | {d for _, t in logged for d, _ in t}
    for d, sv in catalog.statvars.items():
        if not sv.topic and d not in reached:
            rows.append({"kind": "unreached", "query": sv.name or d, "severity": 0.0,
                         "reason": f"no query reaches {d} in the top {K}"})
    rows = [r for r in rows if r]
    rows.sort(key=lambda r: (KINDS.index(r["kind"]), r["severity"], r["query"]))
    return [{"rank": i + 1, "kind": r["kind"], "query": r["query"], "reason": r["reason"]} for i, r in enumerate(rows)]


def table(rows: list[dict], limit: int | None = 20, per_kind: int | None = None):
    """The suggestions as a DataFrame for a notebook: the first `limit`, at most `per_kind` of each kind."""
    import pandas as pd
    if per_kind:
        kept, seen = [], {}
        for r in rows:
            seen[r["kind"]] = seen.get(r["kind"], 0) + 1
            if seen[r["kind"]] <= per_kind:
                kept.append(r)
        rows = kept
    return pd.DataFrame(rows[:limit] if limit else rows, columns=["rank", "kind", "query", "reason"])
