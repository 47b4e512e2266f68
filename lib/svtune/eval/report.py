"""Rank-diff report, like Data Commons' index differ: top-10 StatVars per query, base vs tuned.

With expected dcids per query, each query is scored by the reciprocal rank of its first
expected StatVar within the top 10, before and after (`plots.query_changes`, the same count
as the compare notebook), and the page lists regressed queries first (worst first), then
improved, then unchanged; expected StatVars carry a ✓ badge and a blue frame in both columns.
Without expected dcids (a plain query list) queries are ordered by how many top-10 positions
changed. In the tuned column, dcids new to the top-10 are green; in the base column, dcids
that left it are red. One self-contained HTML file that fits the window (no side scrolling):
templates/rank_diff.html.j2 (jinja2, autoescaped), filled by `rank_diff_context`.

    svtune report --before all-MiniLM-L6-v2 --after outputs/runs/<run>/model \
        --catalog data --queries ../shared/datacommons/queries/queryset_vars.csv --out diff.html
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from svtune import runs
from svtune.data.formats import read_index, read_queries
from svtune.model import load

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}
h1{font-size:22px;margin:0 0 .3em}h2{font-size:18px;margin:1.6em 0 .3em;padding-top:.4em;
border-top:2px solid #ccc}h3{font-size:15px;margin:1.2em 0 .2em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 6px;font-size:13px;
vertical-align:top;text-align:left;overflow-wrap:anywhere}th{background:#f4f4f4}
table.diff{table-layout:fixed;width:100%;margin:.3em 0 1.2em}
col.pos{width:4%}col.name{width:40%}col.score{width:8%}
.summary{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start;margin:.6em 0}
.summary td:not(:first-child),.summary th:not(:first-child){text-align:right;
font-variant-numeric:tabular-nums}
.gone{background:#fdd}.new{background:#dfd}.score{color:#555;font-variant-numeric:tabular-nums}
.dcid{display:block;color:#777;font-size:11px;font-family:ui-monospace,monospace}
td.exp{outline:3px solid #1f5fd6;outline-offset:-3px}
.badge{display:inline-block;background:#1f5fd6;color:#fff;border-radius:3px;font-size:11px;
font-weight:600;padding:0 4px;margin-right:4px;white-space:nowrap}
.chip{display:inline-block;border-radius:3px;padding:0 5px;font-size:12px;font-weight:600}
.chip.regressed{background:#e45756;color:#fff}.chip.improved{background:#54a24b;color:#fff}
.chip.unchanged,.chip.changed,.chip.noexp{background:#ddd}
.meta{font-size:13px;color:#444;overflow-wrap:anywhere}.toc{font-size:15px;margin:.8em 0}.legend{font-size:13px}
.same{color:#888}.top{font-size:12px;font-weight:normal;margin-left:.6em}"""

SECTIONS = {"regressed": "Regressed", "improved": "Improved", "unchanged": "Unchanged",
            "changed": "Changed", "noexp": "No expected StatVar"}

# Autoescape: queries, names and dcids come from data files; trimmed blocks keep each table row on one line.
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def display_title(names: dict[str, str], dcid: str) -> str:
    """The title shown for a StatVar: its catalog name (which `names_from_catalog` already falls
    back to a description for), else the dcid itself."""
    return names.get(dcid) or dcid


def changes(before: list[tuple[str, float]], after: list[tuple[str, float]]) -> int:
    """How many top-k positions differ (0 = identical ranking)."""
    b, a = [d for d, _ in before], [d for d, _ in after]
    return sum(1 for i in range(max(len(a), len(b)))
               if (a[i] if i < len(a) else None) != (b[i] if i < len(b) else None))


def _rank(rr: float, k: int) -> str:
    """Rank of the first expected StatVar, from its reciprocal rank (0 = not in the top k)."""
    return f"#{round(1 / rr)}" if rr > 0 else f"not in top {k}"


def _cell(dcid: str, score: float, names: dict[str, str], cls: str, expected: bool) -> dict:
    """One StatVar of a top list, for the template's `cell` macro (cls: "gone", "new" or "")."""
    return {"dcid": dcid, "title": display_title(names, dcid), "score": score, "cls": cls, "expected": expected,
            "name_cls": " ".join(c for c in (cls, "exp" if expected else "") if c)}


def _query_block(i: int, query: str, b: list, a: list, names: dict[str, str], wanted: list[str], status: str,
                 row=None, k: int = 10) -> dict:
    """One query for the template's `query_block`: heading, meta line and side-by-side rows.
    `row`: its `plots.query_changes` row (None when it has no expected StatVar)."""
    b_ids, a_ids, want = {d for d, _ in b}, {d for d, _ in a}, set(wanted)
    base = [_cell(d, s, names, "gone" if d not in a_ids else "", d in want) for d, s in b]
    tuned = [_cell(d, s, names, "new" if d not in b_ids else "", d in want) for d, s in a]
    n = max(len(a), len(b))
    scores = None if row is None else {
        "rank_before": _rank(row["rr_before"], k), "rank_after": _rank(row["rr_after"], k),
        "rr_before": row["rr_before"], "rr_after": row["rr_after"], "change": row["change"]}
    return {"index": i, "query": query, "status": status, "label": SECTIONS[status].lower(),
            "changed": changes(b, a), "positions": n, "scores": scores,
            "expected": [(display_title(names, d), d) for d in wanted],
            "rows": [(base[r] if r < len(b) else None, tuned[r] if r < len(a) else None) for r in range(n)]}


def _sections(queries: list[str], before: list, after: list, expected: list[list[str]], k: int):
    """(status -> query indices in page order, query index -> its `plots.query_changes` row, counts).

    Scored queries: regressed (worst first), improved (best first), unchanged (most reshuffled
    first), then those without expected StatVars by changed positions; with none scored at all,
    changed vs unchanged top lists."""
    from svtune.eval.plots import change_counts, query_changes
    n = len(queries)
    moved = [changes(before[i], after[i]) for i in range(n)]
    with_exp = [i for i in range(n) if expected[i]]
    no_exp = sorted((i for i in range(n) if not expected[i]), key=lambda i: (-moved[i], i))
    if not with_exp:
        return {"changed": [i for i in no_exp if moved[i]], "unchanged": [i for i in no_exp if not moved[i]]}, {}, {}
    df = query_changes([{"query": queries[i], "expected": expected[i], "top": before[i]} for i in with_exp],
                       [{"query": queries[i], "expected": expected[i], "top": after[i]} for i in with_exp], n=k)
    df.index = [with_exp[j] for j in df.index]   # query_changes' index: position in its input lists
    rows = {i: r for i, r in df.iterrows()}
    sections = {}
    for status, key in (("regressed", lambda i: (rows[i]["change"], -moved[i], i)),
                        ("improved", lambda i: (-rows[i]["change"], -moved[i], i)),
                        ("unchanged", lambda i: (-moved[i], i))):
        sections[status] = sorted((i for i in with_exp if rows[i]["status"] == status), key=key)
    if no_exp:
        sections["noexp"] = no_exp
    return sections, rows, change_counts(df)


def _rr_lines(rr_b: list[float], rr_a: list[float], k: int) -> list[tuple]:
    """MRR@k, hits at #1 and in the top k of the first expected StatVar, base vs tuned."""
    return [(f"mean reciprocal rank (MRR@{k})", f"{sum(rr_b) / len(rr_b):.3f}", f"{sum(rr_a) / len(rr_a):.3f}"),
            ("at #1", sum(r == 1 for r in rr_b), sum(r == 1 for r in rr_a)),
            (f"in the top {k}", sum(r > 0 for r in rr_b), sum(r > 0 for r in rr_a))]


def rank_diff_context(queries: list[str], before: list[list[tuple[str, float]]],
                      after: list[list[tuple[str, float]]], names: dict[str, str],
                      title: str = "Rank diff", labels: tuple[str, str] = ("base", "tuned"),
                      expected: list[list[str]] | None = None) -> dict:
    """What rank_diff.html.j2 shows, as plain data (see `rank_diff_html`). `marks` is empty here: the playground
    fills it with (query index, "base" | "tuned", row) -> {cls, text, title}, a badge drawn before the dcid."""
    n = len(queries)
    if not (len(before) == len(after) == n) or (expected is not None and len(expected) != n):
        raise ValueError(f"rank_diff_html: {n} queries, {len(before)} base and {len(after)} tuned top lists"
                         + (f", {len(expected)} expected lists" if expected is not None else ""))
    expected = [list(e or []) for e in expected] if expected is not None else [[] for _ in queries]
    k = max((len(t) for t in before + after), default=10) or 10
    sections, rows, counts = _sections(queries, before, after, expected, k)
    scored = [i for i in range(n) if i in rows]
    if scored:
        counted = [(s, SECTIONS[s], counts.get(s, len(ids))) for s, ids in sections.items()]
        rr_lines = _rr_lines([rows[i]["rr_before"] for i in scored], [rows[i]["rr_after"] for i in scored], k)
    else:
        counted, rr_lines = [(s, f"{SECTIONS[s]} top-{k}", len(ids)) for s, ids in sections.items()], []
    blocks = [{"status": s, "title": SECTIONS[s],
               "blocks": [_query_block(i, queries[i], before[i], after[i], names, expected[i], s, rows.get(i), k)
                          for i in ids]} for s, ids in sections.items()]
    return {"title": title, "labels": labels, "k": k, "n": n, "n_expected": len(scored),
            "n_noexp": len(sections.get("noexp", [])), "n_changed": len(sections.get("changed", [])),
            "counts": counted, "rr_lines": rr_lines, "sections": blocks, "style": STYLE, "marks": {}}


def render(template: str, context: dict) -> str:
    """A page from one of the templates next to this module."""
    return _ENV.get_template(template).render(context)


def rank_diff_html(queries: list[str], before: list[list[tuple[str, float]]],
                   after: list[list[tuple[str, float]]], names: dict[str, str],
                   title: str = "Rank diff", labels: tuple[str, str] = ("base", "tuned"),
                   expected: list[list[str]] | None = None) -> str:
    """The report page. `expected[i]`: the expected dcids of `queries[i]` (best first; [] = none).

    Queries with expected dcids are classified by `plots.query_changes` (reciprocal rank of the
    first expected dcid within the top k): regressed (worst first), improved (best first),
    unchanged (most reshuffled first). Queries without any come last, by changed positions;
    with none at all, the page falls back to changed vs unchanged top lists."""
    return render("rank_diff.html.j2", rank_diff_context(queries, before, after, names, title, labels, expected))


def rank_diff_from_evals(before: dict, after: dict, title: str = "Rank diff",
                         labels: tuple[str, str] = ("base", "tuned")) -> str:
    """The report from two saved evaluations (a run's eval_before.json / eval_after.json):
    their per-query top lists and expected dcids, and the StatVar names they carry."""
    qb, qa = before["details"]["queries"], after["details"]["queries"]
    if [d["query"] for d in qb] != [d["query"] for d in qa]:
        raise ValueError("the two evaluations hold different queries (or a different order)")
    names = {**before.get("names", {}), **after.get("names", {})}
    return rank_diff_html([d["query"] for d in qb], [d["top"] for d in qb], [d["top"] for d in qa], names,
                          title, labels, expected=[d.get("expected") or [] for d in qb])


def rank_diff(model_a, model_b, index_rows, queries: list[str], names: dict[str, str],
              out: Path, title: str = "Rank diff", expected: list[list[str]] | None = None) -> Path:
    """Search `queries` with both models over the same index and write the HTML report.
    Expected dcids missing from the index are dropped (no model can find them)."""
    from svtune.eval.evaluate import Index
    before = Index(model_a, index_rows).search(queries)
    after = Index(model_b, index_rows).search(queries)
    if expected is not None:
        known = {d for _, d in index_rows}
        expected = [[d for d in (e or []) if d in known] for e in expected]
    Path(out).write_text(rank_diff_html(queries, before, after, names, title, expected=expected),
                         encoding="utf-8")
    return Path(out)


def load_run(run: str | Path = "") -> dict:
    """A finished run folder's metrics, config and per-query/per-pair evaluations ("" = newest)."""
    folder = runs.finished_run(run)
    out = {"dir": folder, "metrics": runs.read_metrics(folder), "config": runs.read_config(folder)}
    for stage in runs.EVALS:
        out[stage] = runs.read_eval(folder, stage)
    return out


def command(before: str, after: str, catalog: str, queries: str, size: str = "small",
            out: str = "rank_diff.html") -> Path:
    """`svtune report`: the rank-diff HTML of two models over one index."""
    rows, names = read_index(catalog, size)
    read = read_queries(queries)
    texts, expected = [q for q, _ in read], [e for _, e in read]
    written = rank_diff(load.load_model(before), load.load_model(after), rows, texts, names, Path(out),
                        f"{Path(before).name} vs {Path(after).name}", expected=expected if any(expected) else None)
    print(f"wrote {written} ({len(texts)} queries)")
    return written
