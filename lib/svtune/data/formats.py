"""Read the evaluation formats users already have: search indexes, query sets, scored pairs.

Index (catalog) formats, each read into (sentence, dcid) rows:
  * a catalog folder in this repo's layout (curated_input/, alternatives/, ...)
  * Data Commons' `dcid,sentence` files with `;`-joined sentences (preindex/*/sv_descriptions.csv)
  * `sentence,dcid` files, one sentence a row
  * the NL server's `embeddings.csv` (columns 0..d-1, dcid (`;`-joined), sentence): only dcid and sentence read
Query formats, each read into (query, [expected dcids, best first]):
  * JSON `{"query": ["dcid1", "dcid2"]}` (a file ending in .json)
  * CSV `query,expected` with `;`-separated dcids
  * a plain list, one query a line, `#` comments (no expected dcids: for rank-diff reports), like
    Data Commons' queries/queryset_vars.csv
A file that looks like CSV must be `query,expected` CSV (a wrong header or `;` separators are a
DataError, not a list of odd queries): its first line (after `#` comments) holds a `,`, `;` or tab,
or it ends in .csv and any line does.
"""

from __future__ import annotations

import json
from pathlib import Path

from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError, parse_json, read_rows, read_text, split_list
from svtune.data.records import Catalog, read_sentence_pairs

QUERY_COLUMNS = ["query", "expected"]
DELIMITERS = ",;\t"


def index_from_catalog(catalog: Catalog) -> list[tuple[str, str]]:
    """Every text of every StatVar (name, descriptions, alternatives) mapped to its dcid."""
    return [(s, sv.dcid) for sv in catalog.statvars.values() for s in sv.sentences()]


def names_from_catalog(catalog: Catalog) -> dict[str, str]:
    return {d: (sv.name or (sv.descriptions[0] if sv.descriptions else d))
            for d, sv in catalog.statvars.items()}


def read_index(path: Path | str, size: str = "small") -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(sentence, dcid) rows and a dcid -> display name map, from any index format."""
    path = Path(path)
    if path.is_dir():
        cat = load_catalog(path, size, warn=False)
        return index_from_catalog(cat), names_from_catalog(cat)
    if not path.exists() and not path.is_symlink():
        raise DataError("catalog file or folder not found", path)
    header = read_text(path).splitlines()[:1]
    cols = [c.strip() for c in header[0].split(",")] if header else []
    rows, names = [], {}
    if cols[:2] == ["dcid", "sentence"]:
        for r in read_rows(path, ["dcid", "sentence"]):
            dcid = r.cells["dcid"].strip()
            if not dcid:
                raise DataError("empty dcid", path, r.line, "dcid")
            sentences = split_list(r.cells["sentence"])
            rows.extend((s, dcid) for s in sentences)
            if sentences:
                names.setdefault(dcid, sentences[0])
    elif cols[-2:] == ["dcid", "sentence"] and cols[0] == "0":   # the server's embeddings.csv
        import pandas as pd  # the vectors are skipped unparsed: 31k rows x 384 columns for two of them
        table = pd.read_csv(path, usecols=["dcid", "sentence"], dtype=str, keep_default_na=False)
        for s, ds in zip(table["sentence"], table["dcid"]):
            rows.extend((s.strip(), d.strip()) for d in ds.split(";") if d.strip() and s.strip())
            names.setdefault(ds.split(";")[0].strip(), s.strip())
    elif cols[:2] == ["sentence", "dcid"]:
        for r in read_rows(path, ["sentence", "dcid"]):
            s, dcid = r.cells["sentence"].strip(), r.cells["dcid"].strip()
            if not dcid:
                raise DataError("empty dcid", path, r.line, "dcid")
            if s:
                rows.append((s, dcid))
                names.setdefault(dcid, s)
    else:
        raise DataError(f"unknown index format: header {cols}; expected 'dcid,sentence' "
                        "or 'sentence,dcid', or a catalog folder", path, 1)
    if not rows:
        raise DataError("the index holds no sentences", path)
    return rows, names


def _looks_like_csv(path: Path, lines: list[str]) -> bool:
    """Delimiters on the first line, or anywhere in a .csv: a plain list never has them there."""
    content = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if content and any(d in content[0] for d in DELIMITERS):
        return True
    return path.suffix.lower() == ".csv" and any(d in ln for ln in content for d in DELIMITERS)


def _json_line(text: str, key: str) -> int | None:
    return next((i + 1 for i, ln in enumerate(text.splitlines()) if json.dumps(key, ensure_ascii=False) in ln), None)


def _queries_json(path: Path, text: str) -> list[tuple[str, list[str]]]:
    doc = parse_json(text, path)
    if not isinstance(doc, dict):
        raise DataError('expected a JSON object {"query": ["dcid", ...]}', path, 1)
    out = []
    for q, exp in doc.items():
        if isinstance(exp, str):
            exp = [exp]
        if not isinstance(exp, list) or not all(isinstance(d, str) for d in exp):
            raise DataError(f"expected dcids of {q!r} must be a list of strings", path, _json_line(text, q))
        if not q.strip():
            raise DataError("empty query", path, _json_line(text, q))
        out.append((q.strip(), [d.strip() for d in exp if d.strip()]))
    return out


def _queries_csv(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for r in read_rows(path, QUERY_COLUMNS):
        q = r.cells["query"].strip()
        if not q:
            raise DataError("empty query", path, r.line, "query")
        exp = split_list(r.cells["expected"])
        if not exp:
            raise DataError("no expected dcid", path, r.line, "expected")
        out.append((q, exp))
    return out


def _queries_text(path: Path, text: str) -> list[tuple[str, list[str]]]:
    lines = text.splitlines()
    if _looks_like_csv(path, lines):
        try:
            return _queries_csv(path)
        except DataError as e:
            if e.line != 1:
                raise
            # Someone who meant a plain list needs to hear why it was read as CSV.
            raise DataError(f"{e.reason} (a query file holding ',', ';' or tabs is read as query,expected CSV)",
                            e.file, e.line, e.column) from None
    return [(ln.strip(), []) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def read_queries(path: Path | str) -> list[tuple[str, list[str]]]:
    """Queries with expected dcids (best first); plain lists give empty expectations. A file with
    no query at all is a DataError (an evaluation over nothing would pass unnoticed)."""
    path = Path(path)
    text = read_text(path)
    out = _queries_json(path, text) if path.suffix.lower() == ".json" else _queries_text(path, text)
    if not out:
        raise DataError("no queries (the file holds none)", path)
    return out


def read_pairs(path: Path | str) -> list[tuple[str, str, float]]:
    return [(p.sentence_1, p.sentence_2, p.score) for p in read_sentence_pairs(path)]
