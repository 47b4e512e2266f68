"""Issue 24, data side: contradictory labels, held-out files in the wrong shape, and files or folders
that cannot be read are each one DataError naming the path, never a traceback or a silent skip."""

from __future__ import annotations

import errno
import json
import os
import pathlib

import pytest

from helpers import write
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.formats import read_pairs, read_queries
from svtune.data.mining import mine_pairs
from svtune.data.records import Catalog, CuratedPair, StatVar
from svtune.data.topics import read_topics

AS_ROOT = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                             reason="root reads files and folders whatever their mode; "
                                    "the monkeypatched tests cover the same code")
PAIRS_HEADER = "sentence_1,sentence_2,score\n"


def refused(call, *args) -> DataError:
    with pytest.raises(DataError) as e:
        call(*args)
    assert len(str(e.value).splitlines()) == 1
    return e.value


# 1. Contradictory curated labels

def test_one_pair_labelled_twice_names_both_lines(tiny_data):
    f = write(tiny_data / "finetuning" / "sentence_pairs.csv", PAIRS_HEADER + "a,b,0.5\nc,d,0.2\n"
              "poverty,prison,1.0\ne,f,0.3\ng,h,0.3\ni,j,0.3\nk,l,0.3\n Prison ,POVERTY,0\n")
    e = refused(load_catalog, tiny_data)
    assert str(e) == f"{f}, lines 4 and 9: the pair 'poverty' ~ 'prison' is labelled 1.0 and 0.0; keep one"
    assert (e.file, e.earlier_line, e.line) == (f, 4, 9)


def test_tolerance_is_one_in_a_billion(tiny_data):
    f = write(tiny_data / "finetuning" / "sentence_pairs.csv", PAIRS_HEADER + "a,b,0.5\nb,a,0.5000000001\n")
    pairs, report = mine_pairs(load_catalog(tiny_data))          # same label within 1e-9: a duplicate
    assert report.duplicates >= 1 and (pairs.source == "curated_pair").sum() == 1 and report.conflicts == []
    write(f, PAIRS_HEADER + "a,b,0.5\nb,a,0.500000002\n")
    assert "lines 2 and 3: the pair 'a' ~ 'b' is labelled 0.5 and 0.500000002" in str(refused(load_catalog, tiny_data))


def test_exact_duplicates_stay_allowed_and_are_counted(tiny_data):
    write(tiny_data / "finetuning" / "sentence_pairs.csv", PAIRS_HEADER + "poverty,prison,0.01\nprison,poverty,0.01\n")
    cat = load_catalog(tiny_data)
    assert len(cat.pairs) == 2
    pairs, report = mine_pairs(cat)
    assert (pairs.source == "curated_pair").sum() == 1 and report.duplicates >= 1


def test_a_curated_pair_against_a_mined_one_is_no_error(tiny_data):
    # Unemployment Rate ~ jobless rate is mined at 0.95 (description~curated); the curated label wins.
    write(tiny_data / "finetuning" / "sentence_pairs.csv",
          PAIRS_HEADER + "share of people without a job,jobless rate,0.6\n")
    pairs, report = mine_pairs(load_catalog(tiny_data))
    assert [c["curated_score"] for c in report.conflicts] == [0.6]
    assert "1 label conflicts (curated pair wins)" in report.summary()


def test_mining_refuses_contradictions_in_a_catalog_built_in_code():
    sv = StatVar("A", "alpha", ["beta"], [], [], [])
    cat = Catalog({"A": sv}, [CuratedPair("x", "y", 0.9, "p.csv", 2), CuratedPair("Y", "X", 0.1, "p.csv", 5)], [])
    assert str(refused(mine_pairs, cat)) == "p.csv, lines 2 and 5: the pair 'x' ~ 'y' is labelled 0.9 and 0.1; keep one"


def test_held_out_pairs_are_checked_too(tmp_path):
    f = write(tmp_path / "pairs.csv", PAIRS_HEADER + "poor,poverty,0.95\npoverty,poor,0.2\n")
    assert str(refused(read_pairs, f)) == (
        f"{f}, lines 2 and 3: the pair 'poor' ~ 'poverty' is labelled 0.95 and 0.2; keep one")


# 2. Held-out files in the wrong shape

@pytest.mark.parametrize("text, column, says", [
    ("query;expected\nhow many poor people;Count_Person_Female\n", "query", "separated by ';' or tabs"),
    ("query\texpected\nhow many poor people\tCount_Person_Female\n", "query", "separated by ';' or tabs"),
    ("question,answer\nhow many poor people,Count_Person_Female\n", "query",
     "missing required column(s) query, expected"),
    ("query,dcids\nhow many poor people,Count_Person_Female\n", "expected", "missing required column(s) expected"),
    ("how many poor people,Count_Person_Female\n", "query", "read as query,expected CSV"),
])
def test_queries_with_a_wrong_header_are_refused(tmp_path, text, column, says):
    for name in ("queries.csv", "topic_queries.csv", "queries.txt"):
        f = write(tmp_path / name, text)
        e = refused(read_queries, f)
        assert (e.file, e.line, e.column) == (f, 1, column) and says in str(e)
        assert str(e).startswith(f"{f}, line 1, column {column!r}: ")


def test_a_csv_with_a_plain_first_line_but_csv_rows_is_refused(tmp_path):
    f = write(tmp_path / "queries.csv", "query\nhow many poor people,Count_Person_Female\n")
    assert "column 'expected': missing required column(s) expected; found ['query']" in str(refused(read_queries, f))


def test_documented_query_formats_still_read(tmp_path):
    plain_csv = write(tmp_path / "queryset_vars.csv",
                      "#\n# from prod demos\n#\nfamily earnings\nprojected temperature\n")
    assert read_queries(plain_csv) == [("family earnings", []), ("projected temperature", [])]   # Data Commons' file
    plain = write(tmp_path / "q.txt", "# demo, queries\nwomen count\n\njobless rate, by county\n")
    assert read_queries(plain) == [("women count", []), ("jobless rate, by county", [])]
    bom_csv = tmp_path / "q.csv"
    bom_csv.write_bytes(b"\xef\xbb\xbfquery,expected\nwomen count,A;B\n")
    assert read_queries(bom_csv) == [("women count", ["A", "B"])]
    js = tmp_path / "q.json"
    js.write_bytes(b'\xef\xbb\xbf{"women count": "A", "jobless": ["B", "C"]}')
    assert read_queries(js) == [("women count", ["A"]), ("jobless", ["B", "C"])]


@pytest.mark.parametrize("name, content", [("q.txt", "# only a comment\n\n"), ("q.json", "{}"), ("q.csv", "\ufeff")])
def test_a_query_file_with_no_query_is_refused(tmp_path, name, content):
    f = write(tmp_path / name, content)
    assert str(refused(read_queries, f)) == f"{f}: no queries (the file holds none)"


@pytest.mark.parametrize("text, says", [
    ("s1,s2,score\na,b,0.5\n", "missing required column(s) sentence_1, sentence_2"),
    ("sentence_1;sentence_2;score\na;b;0.5\n", "separated by ';' or tabs"),
    ("sentence_1,sentence_2,score,score\na,b,0.5,0.7\n", "names this column twice"),
])
def test_held_out_pairs_with_a_wrong_header_are_refused(tmp_path, text, says):
    f = write(tmp_path / "pairs.csv", text)
    e = refused(read_pairs, f)
    assert (e.file, e.line) == (f, 1) and says in str(e)


# 3. Files and folders that cannot be read

def _deny(monkeypatch, denied: pathlib.Path):
    """Reading `denied` raises PermissionError, as under chmod 000 for a user who is not root."""
    real_open = pathlib.Path.open

    def fake_open(self, *args, **kwargs):
        if self == denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)
    monkeypatch.setattr(pathlib.Path, "open", fake_open)


@pytest.mark.parametrize("rel", ["curated_input/c.csv", "alternatives/a.csv", "finetuning/sentence_pairs.csv"])
def test_a_file_without_read_permission(tiny_data, monkeypatch, rel):
    _deny(monkeypatch, tiny_data / rel)
    assert str(refused(load_catalog, tiny_data)) == f"{tiny_data / rel}: cannot read this file (permission denied)"


def test_held_out_and_topic_files_without_read_permission(tiny_data, monkeypatch):
    topics = write(tiny_data / "topics" / "topic_cache.json", '{"nodes": []}')
    for path, read in ((tiny_data / "eval" / "queries.csv", read_queries),
                       (tiny_data / "eval" / "pairs.csv", read_pairs),
                       (topics, lambda p: read_topics(p.parent))):
        _deny(monkeypatch, path)
        assert str(refused(read, path)) == f"{path}: cannot read this file (permission denied)"


def test_an_unreadable_folder_says_so(tiny_data, monkeypatch):
    folder = tiny_data / "alternatives"
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p=".": (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied", str(p))) if pathlib.Path(p) == folder else real(p))
    assert str(refused(load_catalog, tiny_data)) == f"{folder}: cannot read this folder (permission denied)"


@AS_ROOT
def test_chmod_000_file_and_folder(tiny_data):
    f = tiny_data / "curated_input" / "c.csv"
    f.chmod(0)
    try:
        assert "cannot read this file (permission denied)" in str(refused(load_catalog, tiny_data))
    finally:
        f.chmod(0o644)
    (tiny_data / "alternatives").chmod(0)
    try:
        assert "cannot read this folder (permission denied)" in str(refused(load_catalog, tiny_data))
    finally:
        (tiny_data / "alternatives").chmod(0o755)


def test_symlink_loops_and_broken_links_are_named(tiny_data):
    loop = tiny_data / "curated_input" / "loop.csv"
    loop.symlink_to("loop.csv")
    assert str(refused(load_catalog, tiny_data)) == (
        f"{loop}: symbolic link loop (the link leads back to itself); fix or remove the link")
    loop.unlink()
    broken = tiny_data / "alternatives" / "gone.csv"
    broken.symlink_to(tiny_data / "nowhere.csv")
    assert str(refused(load_catalog, tiny_data)) == f"{broken}: broken symbolic link to {tiny_data / 'nowhere.csv'}"
    broken.unlink()
    pairs = tiny_data / "finetuning" / "sentence_pairs.csv"
    pairs.unlink()
    pairs.symlink_to("sentence_pairs.csv")
    assert "sentence_pairs.csv: symbolic link loop" in str(refused(load_catalog, tiny_data))


def test_a_folder_where_a_file_belongs_and_the_reverse(tiny_data):
    more = tiny_data / "curated_input" / "more.csv"
    more.mkdir()
    assert str(refused(load_catalog, tiny_data)) == f"{more}: is a folder, expected a file"
    more.rmdir()
    queries = tiny_data / "eval" / "queries.csv"
    queries.unlink()
    queries.mkdir()
    assert str(refused(read_queries, queries)) == f"{queries}: is a folder, expected a file"
    alternatives = tiny_data / "alternatives"
    for f in alternatives.iterdir():
        f.unlink()
    alternatives.rmdir()
    alternatives.write_text("not a folder")
    assert str(refused(load_catalog, tiny_data)) == f"{alternatives}: is a file, expected a folder"
    assert str(refused(load_catalog, alternatives)) == f"{alternatives}: is a file, expected the data folder"


@pytest.mark.parametrize("name", ["q.txt", "q.csv", "q.json"])
def test_invalid_utf8_query_files(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b'{"women count": ["A"],\n "caf\xe9": ["B"]}' if name.endswith(".json")
                  else b"women count\ncaf\xe9\n")
    e = refused(read_queries, f)
    assert e.line == 2 and "not valid UTF-8 (byte 0xe9" in str(e) and str(e).startswith(f"{f}, line 2: ")


def test_invalid_utf8_topic_cache(tmp_path):
    (tmp_path / "topic_cache.json").write_bytes(b'{"nodes": [\n{"dcid": ["caf\xe9"]}]}')
    assert "topic_cache.json, line 2: not valid UTF-8" in str(refused(read_topics, tmp_path))


# Found by the fuzzer (tests/test_fuzz.py) or on the way

@pytest.mark.parametrize("node, says", [
    ({"dcid": 5}, '"dcid" of node #1 must be a list of strings, not 5'),
    ({"dcid": {"a": 1}}, '"dcid" of node #1 must be a list of strings'),
    ({"dcid": ["dc/topic/A"], "name": [7]}, '"name" of topic dc/topic/A must be a list of strings'),
    ({"dcid": ["dc/topic/A"], "name": ["A"], "memberList": "X"}, None),
    ({"dcid": ["dc/topic/A"], "name": ["A"], "memberList": [1, 2]}, '"memberList" of topic dc/topic/A must be'),
    ({"dcid": ["dc/topic/A"], "name": ["A"], "typeOf": [None]}, '"typeOf" of topic dc/topic/A must be'),
])
def test_topic_cache_with_wrong_types(tmp_path, node, says):
    (tmp_path / "topic_cache.json").write_text(json.dumps({"nodes": [node]}))
    if says is None:                                    # one string reads as a one-item list
        assert read_topics(tmp_path)["dc/topic/A"].members == ["X"]
    else:
        assert says in str(refused(read_topics, tmp_path))


@pytest.mark.parametrize("text, says", [("[" * 100_000 + "]" * 100_000, "invalid JSON (maximum recursion depth"),
                                        ('{"q": [' + "9" * 5000 + "]}", "invalid JSON (Exceeds the limit")])
def test_json_too_deep_or_too_long_a_number(tmp_path, text, says):
    for path, read in ((tmp_path / "q.json", read_queries), (tmp_path / "t" / "topic_cache.json",
                                                               lambda p: read_topics(p.parent))):
        write(path, text)
        assert says in str(refused(read, path))


def test_a_deep_topic_chain_is_no_recursion_error(tmp_path):
    rows = [f"dc/topic/T{i},T{i},dc/topic/T{i + 1}" for i in range(3000)] + ["dc/topic/T3000,T3000,Leaf"]
    header = "topic_dcid,topic_name,member_dcid\n"
    write(tmp_path / "t.csv", header + "\n".join(rows) + "\n")
    assert len(read_topics(tmp_path)) == 3001
    write(tmp_path / "t.csv", header + "\n".join(rows) + "\ndc/topic/T3000,T3000,dc/topic/T0\n")
    assert "the topic hierarchy has a cycle: dc/topic/T0 -> dc/topic/T1" in str(refused(read_topics, tmp_path))


def test_messages_quoting_a_line_break_stay_one_line(tiny_data):
    f = write(tiny_data / "curated_input" / "c.csv", 'dcid,Name,Description\n"A\nB",x,y\n"A\nB",z,y\n')
    assert str(refused(load_catalog, tiny_data)).startswith(f"{f}, line 4, column 'Name': dcid A\\nB is defined again")


def test_a_column_named_twice_is_refused(tiny_data):
    f = write(tiny_data / "curated_input" / "c.csv", "dcid,Name,Description,Name\nA,x,y,z\n")
    assert str(refused(load_catalog, tiny_data)) == (
        f"{f}, line 1, column 'Name': the header names this column twice; keep one")
