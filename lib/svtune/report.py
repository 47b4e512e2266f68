"""Rank-diff report, like Data Commons' index differ: top-10 StatVars per query, base vs tuned.

Queries whose ranking changed come first (most changed first). In the tuned
column, dcids that are new to the top-10 are green; in the base column, dcids
that left the top-10 are red. One self-contained HTML file.

    python -m svtune.report --before all-MiniLM-L6-v2 --after outputs/runs/<run>/model \
        --catalog data --queries ../shared/datacommons/queries/queryset_vars.csv --out diff.html
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.4em 0 1.6em;width:100%}td,th{border:1px solid #ddd;
padding:3px 6px;font-size:13px;vertical-align:top}th{background:#f4f4f4}.gone{background:#fdd}
.new{background:#dfd}.score{color:#666;font-variant-numeric:tabular-nums}.dcid{color:#888;
font-size:11px}h2{font-size:16px;margin-bottom:0}.same{color:#888}"""


def changes(before: list[tuple[str, float]], after: list[tuple[str, float]]) -> int:
    """How many top-k positions differ (0 = identical ranking)."""
    b, a = [d for d, _ in before], [d for d, _ in after]
    return sum(1 for i in range(max(len(a), len(b))) if (a[i] if i < len(a) else None) != (b[i] if i < len(b) else None))


def _cell(dcid: str, score: float, names: dict[str, str], cls: str) -> str:
    name = html.escape(names.get(dcid, dcid))
    return (f'<td class="{cls}">{name}<br><span class="dcid">{html.escape(dcid)}</span></td>'
            f'<td class="score {cls}">{score:.3f}</td>')


def rank_diff_html(queries: list[str], before: list[list[tuple[str, float]]],
                   after: list[list[tuple[str, float]]], names: dict[str, str],
                   title: str = "Rank diff", labels: tuple[str, str] = ("base", "tuned")) -> str:
    order = sorted(range(len(queries)), key=lambda i: -changes(before[i], after[i]))
    n_changed = sum(1 for i in order if changes(before[i], after[i]))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{len(queries)} queries, {n_changed} with a changed top-{len(before[0]) if before else 10}. "
             f"<span class='gone'>Red</span>: left the top list; <span class='new'>green</span>: new in it.</p>"]
    for i in order:
        b, a = before[i], after[i]
        b_ids, a_ids = {d for d, _ in b}, {d for d, _ in a}
        tag = f"{changes(b, a)} positions changed" if changes(b, a) else "<span class='same'>unchanged</span>"
        parts.append(f"<h2>{html.escape(queries[i])}</h2><div>{tag}</div><table><tr><th>#</th>"
                     f"<th>{labels[0]}</th><th>score</th><th>{labels[1]}</th><th>score</th></tr>")
        for r in range(max(len(a), len(b))):
            row = f"<tr><td>{r + 1}</td>"
            row += _cell(*b[r], names, "gone" if b[r][0] not in a_ids else "") if r < len(b) else "<td></td><td></td>"
            row += _cell(*a[r], names, "new" if a[r][0] not in b_ids else "") if r < len(a) else "<td></td><td></td>"
            parts.append(row + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def rank_diff(model_a, model_b, index_rows, queries: list[str], names: dict[str, str],
              out: Path, title: str = "Rank diff") -> Path:
    """Search `queries` with both models over the same index and write the HTML report."""
    from .evaluate import Index
    before = Index(model_a, index_rows).search(queries)
    after = Index(model_b, index_rows).search(queries)
    Path(out).write_text(rank_diff_html(queries, before, after, names, title), encoding="utf-8")
    return Path(out)


def load_run(run: str | Path = "") -> dict:
    """A finished run folder's metrics, config and per-query/per-pair evaluations ("" = newest)."""
    import json

    from . import paths
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
    ap = argparse.ArgumentParser(prog="python -m svtune.report", description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="base model (folder, all-MiniLM-L6-v2 or HF id)")
    ap.add_argument("--after", required=True, help="tuned model")
    ap.add_argument("--catalog", required=True, help="catalog folder or index file")
    ap.add_argument("--queries", required=True, help="query list (one a line, # comments), CSV or JSON")
    ap.add_argument("--size", default="small")
    ap.add_argument("--out", default="rank_diff.html")
    args = ap.parse_args(argv)
    from .formats import read_index, read_queries
    from .models import load_model
    rows, names = read_index(args.catalog, args.size)
    queries = [q for q, _ in read_queries(args.queries)]
    out = rank_diff(load_model(args.before), load_model(args.after), rows, queries, names, Path(args.out),
                    f"{Path(args.before).name} vs {Path(args.after).name}")
    print(f"wrote {out} ({len(queries)} queries)")
    return out


if __name__ == "__main__":
    main()
