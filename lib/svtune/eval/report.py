"""Rank-diff report, like Data Commons' index differ: top-10 StatVars per query, base vs tuned.

With expected dcids per query, each query is scored by the reciprocal rank of its first
expected StatVar within the top 10, before and after (`plots.query_changes`, the same count
as the compare notebook), and the page lists regressed queries first (worst first), then
improved, then unchanged; expected StatVars carry a ✓ badge and a blue frame in both columns.
Without expected dcids (a plain query list) queries are ordered by how many top-10 positions
changed. In the tuned column, dcids new to the top-10 are green; in the base column, dcids
that left it are red. One self-contained HTML file that fits the window (no side scrolling).

    python -m svtune.eval.report --before all-MiniLM-L6-v2 --after outputs/runs/<run>/model \
        --catalog data --queries ../shared/datacommons/queries/queryset_vars.csv --out diff.html
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

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


def changes(before: list[tuple[str, float]], after: list[tuple[str, float]]) -> int:
    """How many top-k positions differ (0 = identical ranking)."""
    b, a = [d for d, _ in before], [d for d, _ in after]
    return sum(1 for i in range(max(len(a), len(b))) if (a[i] if i < len(a) else None) != (b[i] if i < len(b) else None))


def _cell(dcid: str, score: float, names: dict[str, str], cls: str, expected: bool) -> str:
    name = html.escape(names.get(dcid, dcid))
    badge = '<span class="badge" title="an expected StatVar of this query">✓ expected</span>' if expected else ""
    name_cls = " ".join(c for c in (cls, "exp" if expected else "") if c)
    return (f'<td class="{name_cls}">{badge}{name}<span class="dcid">{html.escape(dcid)}</span></td>'
            f'<td class="score {cls}">{score:.3f}</td>')


def _rank(rr: float, k: int) -> str:
    """Rank of the first expected StatVar, from its reciprocal rank (0 = not in the top k)."""
    return f"#{round(1 / rr)}" if rr > 0 else f"not in top {k}"


def _query_block(i: int, query: str, b: list, a: list, names: dict[str, str], labels: tuple[str, str],
                 wanted: list[str], status: str, row=None, k: int = 10) -> str:
    """One query: heading, expected StatVars and rank before -> after, the side-by-side table."""
    b_ids, a_ids, want = {d for d, _ in b}, {d for d, _ in a}, set(wanted)
    n_changed = changes(b, a)
    moved = f"{n_changed} of {max(len(a), len(b))} positions changed" if n_changed else \
        "<span class='same'>same top list</span>"
    if row is not None:
        rank = f"{_rank(row['rr_before'], k)} → {_rank(row['rr_after'], k)}"
        chip = f"<span class='chip {status}'>{SECTIONS[status].lower()} {row['change']:+.3f}</span>"
        exp = ", ".join(f"{html.escape(names.get(d, d))} <code>{html.escape(d)}</code>" for d in wanted)
        meta = (f"{chip} first expected StatVar: <b>{rank}</b> (reciprocal rank {row['rr_before']:.3f} → "
                f"{row['rr_after']:.3f}) · {moved}<br>expected: {exp}")
    else:
        meta = f"<span class='chip {status}'>{SECTIONS[status].lower()}</span> {moved}"
    parts = [f"<h3 id='q{i + 1}'>{html.escape(query)}</h3><div class='meta'>{meta}</div>",
             "<table class='diff'><colgroup><col class='pos'><col class='name'><col class='score'>"
             "<col class='name'><col class='score'></colgroup>"
             f"<tr><th>#</th><th>{html.escape(labels[0])}</th><th>score</th>"
             f"<th>{html.escape(labels[1])}</th><th>score</th></tr>"]
    for r in range(max(len(a), len(b))):
        row_html = f"<tr><td>{r + 1}</td>"
        row_html += (_cell(*b[r], names, "gone" if b[r][0] not in a_ids else "", b[r][0] in want)
                     if r < len(b) else "<td></td><td></td>")
        row_html += (_cell(*a[r], names, "new" if a[r][0] not in b_ids else "", a[r][0] in want)
                     if r < len(a) else "<td></td><td></td>")
        parts.append(row_html + "</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _count_table(rows: list[tuple[str, int]]) -> str:
    """queries | count, each label an in-page link to its section."""
    return ("<table><tr><th>queries</th><th>count</th></tr>"
            + "".join(f"<tr><td><a href='#{s}'>{label}</a></td><td>{c}</td></tr>" for s, label, c in rows)
            + f"<tr><th>all</th><th>{sum(c for _, _, c in rows)}</th></tr></table>")


def _rr_table(rr_b: list[float], rr_a: list[float], labels: tuple[str, str], k: int) -> str:
    """MRR@k, hits at #1 and in the top k of the first expected StatVar, base vs tuned."""
    lines = [(f"mean reciprocal rank (MRR@{k})", f"{sum(rr_b) / len(rr_b):.3f}", f"{sum(rr_a) / len(rr_a):.3f}"),
             ("at #1", sum(r == 1 for r in rr_b), sum(r == 1 for r in rr_a)),
             (f"in the top {k}", sum(r > 0 for r in rr_b), sum(r > 0 for r in rr_a))]
    return (f"<table><tr><th>first expected StatVar</th><th>{html.escape(labels[0])}</th>"
            f"<th>{html.escape(labels[1])}</th></tr>"
            + "".join(f"<tr><td>{w}</td><td>{x}</td><td>{y}</td></tr>" for w, x, y in lines) + "</table>")


def _queries(n: int) -> str:
    return f"{n} quer{'y' if n == 1 else 'ies'}"


def rank_diff_html(queries: list[str], before: list[list[tuple[str, float]]],
                   after: list[list[tuple[str, float]]], names: dict[str, str],
                   title: str = "Rank diff", labels: tuple[str, str] = ("base", "tuned"),
                   expected: list[list[str]] | None = None) -> str:
    """The report page. `expected[i]`: the expected dcids of `queries[i]` (best first; [] = none).

    Queries with expected dcids are classified by `plots.query_changes` (reciprocal rank of the
    first expected dcid within the top k): regressed (worst first), improved (best first),
    unchanged (most reshuffled first). Queries without any come last, by changed positions;
    with none at all, the page falls back to changed vs unchanged top lists."""
    from svtune.eval.plots import change_counts, query_changes
    n = len(queries)
    if not (len(before) == len(after) == n) or (expected is not None and len(expected) != n):
        raise ValueError(f"rank_diff_html: {n} queries, {len(before)} base and {len(after)} tuned top lists"
                         + (f", {len(expected)} expected lists" if expected is not None else ""))
    expected = [list(e or []) for e in expected] if expected is not None else [[] for _ in queries]
    k = max((len(t) for t in before + after), default=10) or 10
    moved = [changes(before[i], after[i]) for i in range(n)]
    with_exp = [i for i in range(n) if expected[i]]
    no_exp = sorted((i for i in range(n) if not expected[i]), key=lambda i: (-moved[i], i))
    rows, sections = {}, {}
    if with_exp:
        df = query_changes([{"query": queries[i], "expected": expected[i], "top": before[i]} for i in with_exp],
                           [{"query": queries[i], "expected": expected[i], "top": after[i]} for i in with_exp], n=k)
        df.index = [with_exp[j] for j in df.index]   # query_changes' index: position in its input lists
        rows = {i: r for i, r in df.iterrows()}
        counts = change_counts(df)
        for status, key in (("regressed", lambda i: (rows[i]["change"], -moved[i], i)),
                            ("improved", lambda i: (-rows[i]["change"], -moved[i], i)),
                            ("unchanged", lambda i: (-moved[i], i))):
            sections[status] = sorted((i for i in with_exp if rows[i]["status"] == status), key=key)
        if no_exp:
            sections["noexp"] = no_exp
        lead = (f"{_queries(n)}" + (f", {len(with_exp)} of them with expected StatVars" if no_exp else
                                    " with expected StatVars")
                + f". Each is counted by the reciprocal rank of its first expected StatVar within the top {k} "
                "(<code>plots.query_changes</code>, as in the compare notebook): improved = it rose, "
                "regressed = it fell (or left the top list), unchanged = same rank."
                + (f" {_queries(len(no_exp))} without an expected StatVar come last." if no_exp else ""))
        summary = (_count_table([(s, SECTIONS[s], counts.get(s, len(sections[s]))) for s in sections])
                   + _rr_table([rows[i]["rr_before"] for i in with_exp], [rows[i]["rr_after"] for i in with_exp],
                               labels, k))
    else:
        sections["changed"] = [i for i in no_exp if moved[i]]
        sections["unchanged"] = [i for i in no_exp if not moved[i]]
        lead = (f"{_queries(n)}, {len(sections['changed'])} with a changed top-{k}. No expected StatVars were "
                "given (a plain query list), so queries cannot be counted as improved or regressed: they are "
                f"ordered by the number of top-{k} positions that changed, most first.")
        summary = _count_table([(s, f"{SECTIONS[s]} top-{k}", len(sections[s])) for s in sections])
    toc = " · ".join(f"<a href='#{s}'>{SECTIONS[s]} ({len(ids)})</a>" for s, ids in sections.items())
    legend = (("<span class='badge'>✓ expected</span> with a blue frame: an expected StatVar of the query (in "
               "both columns) · " if with_exp else "")
              + f"<span class='gone'>red</span>: left the top-{k} · <span class='new'>green</span>: "
              f"new in the top-{k} · score: cosine of the StatVar's best sentence")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style></head><body>"
             f"<h1 id='top'>{html.escape(title)}</h1>",
             f"<p>{lead}</p><div class='summary'>{summary}</div>", f"<p class='toc'>{toc}</p>",
             f"<p class='legend'>{legend}</p>"]
    for status, ids in sections.items():
        parts.append(f"<h2 id='{status}'>{SECTIONS[status]} ({len(ids)})<a class='top' href='#top'>↑ top</a></h2>")
        if not ids:
            parts.append("<p class='same'>none</p>")
        for i in ids:
            parts.append(_query_block(i, queries[i], before[i], after[i], names, labels, expected[i], status,
                                      rows.get(i), k))
    parts.append("</body></html>")
    return "\n".join(parts)


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
    import json

    from svtune import paths
    folder = paths.resolve(run) if run else paths.newest_run()
    if folder is None or not (folder / "metrics.json").is_file():
        raise FileNotFoundError(f"no finished run found ({folder or paths.RUNS_DIR}); "
                                "train one first: make train")
    out = {"dir": folder, "metrics": json.loads((folder / "metrics.json").read_text()),
           "config": json.loads((folder / "config.json").read_text())}
    for stage in ("before", "after"):
        out[stage] = json.loads((folder / f"eval_{stage}.json").read_text())
    return out


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(prog="python -m svtune.eval.report", description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="base model (folder, all-MiniLM-L6-v2 or HF id)")
    ap.add_argument("--after", required=True, help="tuned model")
    ap.add_argument("--catalog", required=True, help="catalog folder or index file")
    ap.add_argument("--queries", required=True, help="query list (one a line, # comments), CSV or JSON")
    ap.add_argument("--size", default="small")
    ap.add_argument("--out", default="rank_diff.html")
    args = ap.parse_args(argv)
    from svtune.data.formats import read_index, read_queries
    from svtune.model.load import load_model
    rows, names = read_index(args.catalog, args.size)
    read = read_queries(args.queries)
    queries, expected = [q for q, _ in read], [e for _, e in read]
    out = rank_diff(load_model(args.before), load_model(args.after), rows, queries, names, Path(args.out),
                    f"{Path(args.before).name} vs {Path(args.after).name}",
                    expected=expected if any(expected) else None)
    print(f"wrote {out} ({len(queries)} queries)")
    return out


if __name__ == "__main__":
    main()
