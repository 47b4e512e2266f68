"""Fuzzing the data readers: a mutated tiny file gives a parsed result or a DataError, never a traceback.

A seeded generator (deterministic, no extra dependency) mutates valid tiny files the way hand edits,
spreadsheets and broken exports do: random bytes, truncation, extra and missing columns, stray quotes,
BOMs, NUL bytes, huge numbers and NaN, empty files, other encodings, `;` and tab separators, duplicated
headers, CR line endings, quoted line breaks, oversized fields, and JSON with wrong types or deep nesting. Catalog files
are read through load_catalog and then mined, so a value that parses but breaks a later stage counts too.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from helpers import write
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.formats import read_index, read_pairs, read_queries
from svtune.data.mining import mine_pairs

CASES = 100         # per target: 10 targets, 1,000 cases
SEED = 20261205

TOPICS_CSV = """\
topic_dcid,topic_name,member_dcid,type,alternatives
dc/topic/Poverty,Poverty,Count_Person_BelowPovertyLevelInThePast12Months,,people in hardship;poverty data
dc/topic/Poverty,Poverty,dc/svpg/Sexes,,
dc/svpg/Sexes,Population by sex,Count_Person_Female,StatVarPeerGroup,
dc/svpg/Sexes,Population by sex,Median_Income_Household,StatVarPeerGroup,
"""
TOPICS_JSON = {"nodes": [
    {"dcid": ["dc/topic/Income"], "name": ["Income"], "typeOf": ["Topic"],
     "relevantVariableList": ["Median_Income_Household", "dc/svpg/Jobs"]},
    {"dcid": ["dc/svpg/Jobs"], "name": ["Jobs"], "typeOf": ["StatVarPeerGroup"],
     "memberList": ["UnemploymentRate_Person", "Count_Person_Female"]}]}
QUERIES_JSON = {"women count": ["Count_Person_Female"], "jobless": ["UnemploymentRate_Person", "Count_Farm_Wheat"]}
INDEX_CSV = ("dcid,sentence\nCount_Person_Female,female population;how many women\n"
             "UnemploymentRate_Person,jobless rate\n")


def _catalog(d: Path):
    return mine_pairs(load_catalog(d, warn=False))


# name -> (file under the tiny data folder, reader of the folder, valid text or None to keep the fixture's)
TARGETS = {
    "curated_input": ("curated_input/c.csv", _catalog, None),
    "alternatives": ("alternatives/a.csv", _catalog, None),
    "sentence_pairs": ("finetuning/sentence_pairs.csv", _catalog, None),
    "topics_csv": ("topics/topics.csv", _catalog, TOPICS_CSV),
    "topic_cache_json": ("topics/topic_cache.json", _catalog, json.dumps(TOPICS_JSON, indent=1)),
    "eval_queries_csv": ("eval/queries.csv", lambda d: read_queries(d / "eval/queries.csv"), None),
    "eval_queries_json": ("eval/q.json", lambda d: read_queries(d / "eval/q.json"), json.dumps(QUERIES_JSON)),
    "eval_queries_plain": ("eval/q.txt", lambda d: read_queries(d / "eval/q.txt"), "# demo\nwomen count\njobless\n"),
    "eval_pairs": ("eval/pairs.csv", lambda d: read_pairs(d / "eval/pairs.csv"), None),
    "index_csv": ("idx.csv", lambda d: read_index(d / "idx.csv"), INDEX_CSV),
}

ODD_NUMBERS = ["1e999", "9" * 5000, "nan", "-inf", "-0", "1_0", "0x1", "1e-400", " 0.5 ", "", "½", "٠.٥"]
ODD_TEXT = ['"', '""', ",", ";", "\t", "\r", "\x00", "\ufeff", "\u2028", "\x85", "é", "\\", "#", "\n"]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick_line(rng, data: bytes, edit) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    lines[i:i + 1] = edit(lines[i])
    return b"\n".join(lines)


def _insert(rng, data: bytes, piece: bytes) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + piece + data[i:]


def _reencode(rng, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace") + "café — ½"
    codec = rng.choice(["utf-16", "utf-16-le", "latin-1", "cp1252", "utf-32"])
    return text.encode(codec, "replace")


def _duplicate_header_column(rng, data: bytes) -> bytes:
    header, newline, rest = data.partition(b"\n")
    return header + b"," + rng.choice(header.split(b",")) + newline + rest


def _quoted_line_break(rng, data: bytes) -> bytes:
    """A first cell quoted around a line break: legal CSV, and text that a message may quote."""
    brk = rng.choice([b"\n", b"\r\n", "\u2028".encode()])
    return re.sub(rb"^([^,\n]+)", lambda m: b'"' + m.group(1) + brk + m.group(1) + b'"', data,
                  count=rng.randint(1, 4), flags=re.M)


MUTATIONS = {
    "flip_bytes": lambda r, d: bytes(r.randrange(256) if r.random() < 0.05 else b for b in d),
    "insert_bytes": lambda r, d: _insert(r, d, r.randbytes(r.randint(1, 8))),
    "delete_span": lambda r, d: (lambda i: d[:i] + d[i + r.randint(1, 20):])(r.randint(0, len(d))),
    "truncate": lambda r, d: d[:r.randint(0, len(d))],
    "drop_line": lambda r, d: _pick_line(r, d, lambda ln: []),
    "duplicate_line": lambda r, d: _pick_line(r, d, lambda ln: [ln, ln]),
    "swap_header": lambda r, d: b"\n".join(_lines(d)[1:2] + _lines(d)[:1] + _lines(d)[2:]),
    "extra_column": lambda r, d: _pick_line(r, d, lambda ln: [ln + r.choice([b",extra", b',"x,y"', b",", b",,,"])]),
    "missing_column": lambda r, d: _pick_line(r, d, lambda ln: [ln.rsplit(b",", 1)[0]]),
    "odd_text": lambda r, d: _insert(r, d, r.choice(ODD_TEXT).encode("utf-8")),
    "bom": lambda r, d: b"\xef\xbb\xbf" + d,
    "nul_bytes": lambda r, d: d.replace(b",", b",\x00", r.randint(1, 3)),
    "odd_number": lambda r, d: re.sub(rb"\d+(\.\d+)?", lambda m: r.choice(ODD_NUMBERS).encode(), d,
                                      count=r.randint(1, 3)),
    "empty": lambda r, d: r.choice([b"", b"\n", b"   \n\n", b"\xef\xbb\xbf"]),
    "header_only": lambda r, d: _lines(d)[0] + b"\n",
    "reencode": _reencode,
    "invalid_utf8": lambda r, d: _insert(r, d, r.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"])),
    "semicolons": lambda r, d: d.replace(b",", b";") if r.random() < 0.5 else d.replace(b",", b";", 2),
    "tabs": lambda r, d: d.replace(b",", b"\t"),
    "duplicate_header_column": _duplicate_header_column,
    "cr_endings": lambda r, d: d.replace(b"\n", r.choice([b"\r", b"\r\n", b"\n\r"])),
    "huge_field": lambda r, d: _insert(r, d, b"x" * 140_000),          # over csv's 131,072 field limit
    "quoted_line_break": _quoted_line_break,
    "blank_cells": lambda r, d: re.sub(rb"[^,\n]+", lambda m: b"  " if r.random() < 0.3 else m.group(), d),
}

WRONG_JSON = [None, 0, -1, 1.5, True, "", "text", [], {}, [1, 2], [None], {"a": 1}, [[["deep"]]],
              float("nan"), 10 ** 30, ["Count_Person_Female"], {"dcid": ["x"]}]


def _json_paths(doc, path=()):
    """Every place in a JSON document, as a key path (the document itself included)."""
    yield path
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield from _json_paths(v, (*path, k))


def _json_mutation(rng, data: bytes) -> bytes:
    """Replace one value (or key) with a value of a wrong type, or nest the document very deeply."""
    doc = json.loads(data)
    if rng.random() < 0.05:
        return b"[" * 100_000 + b"]" * 100_000
    if rng.random() < 0.05:
        return b'{"nodes": [' + b"9" * 5000 + b"]}"
    path = rng.choice(list(_json_paths(doc)))
    if not path:
        return json.dumps(rng.choice(WRONG_JSON)).encode()
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.random() < 0.3:
        parent[rng.choice(["", " ", "\n", "dcid", "nodes"])] = parent.pop(path[-1])
    else:
        parent[path[-1]] = rng.choice(WRONG_JSON)
    return json.dumps(doc).encode()


def _mutate(rng, data: bytes, is_json: bool) -> tuple[bytes, list[str]]:
    names = []
    for _ in range(rng.randint(1, 3)):
        if is_json and rng.random() < 0.5:
            try:
                data, name = _json_mutation(rng, data), "json_wrong_type"
            except (ValueError, RecursionError):     # an earlier mutation broke the JSON: mutate bytes
                name = rng.choice(list(MUTATIONS))
                data = MUTATIONS[name](rng, data)
        else:
            name = rng.choice(list(MUTATIONS))
            data = MUTATIONS[name](rng, data)
        names.append(name)
    return data, names


def _outcome(read, folder: Path) -> str | None:
    """None when `read` parsed or raised a one-line DataError; else what went wrong."""
    try:
        read(folder)
    except DataError as e:
        return None if len(str(e).splitlines()) == 1 else f"DataError spanning lines: {str(e)!r:.300}"
    except Exception as e:      # noqa: BLE001 - any other exception is the bug this test looks for
        return f"{type(e).__name__}: {e!s:.300}"
    return None


@pytest.mark.parametrize("target", TARGETS)
def test_readers_survive_mutated_files(tiny_data, target):
    rel, read, valid = TARGETS[target]
    path = tiny_data / rel
    if valid is not None:
        write(path, valid)
    original = path.read_bytes()
    assert _outcome(read, tiny_data) is None
    read(tiny_data)                                          # the valid file parses: no DataError either
    rng = random.Random(f"{SEED}-{target}")
    failures = []
    for case in range(CASES):
        data, names = _mutate(rng, original, rel.endswith(".json"))
        path.write_bytes(data)
        problem = _outcome(read, tiny_data)
        if problem:
            failures.append(f"case {case} {'+'.join(names)}: {problem}; input {data[:200]!r}")
    assert not failures, f"{len(failures)} of {CASES} cases crashed:\n" + "\n".join(failures[:15])
