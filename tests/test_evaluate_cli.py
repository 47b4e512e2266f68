"""The evaluation CLI and the rank-diff report on a tiny model and tiny files in every format."""

from __future__ import annotations

import json

import pytest

from conftest import write
from svtune import cli
from svtune.data.csvio import DataError
from svtune.data.formats import read_index, read_queries
from svtune.eval import report


@pytest.fixture
def files(tmp_path):
    return {
        "dcid_sentence": write(tmp_path / "idx1.csv", """
            dcid,sentence
            Count_Person_Female,female population;how many women
            UnemploymentRate_Person,unemployment rate;jobless rate
            """),
        "sentence_dcid": write(tmp_path / "idx2.csv", """
            sentence,dcid
            female population,Count_Person_Female
            how many women,Count_Person_Female
            unemployment rate,UnemploymentRate_Person
            """),
        "json": write(tmp_path / "q.json", '{"women count": ["Count_Person_Female"], '
                      '"jobless": ["UnemploymentRate_Person"], "gdp": ["Not_In_Index"]}'),
        "csv": write(tmp_path / "q.csv", "query,expected\nwomen count,Count_Person_Female\n"),
        "plain": write(tmp_path / "q.txt", "# demo queries\nwomen count\n\njobless\n"),
    }


def test_formats(files, tiny_data):
    rows, names = read_index(files["dcid_sentence"])
    assert ("jobless rate", "UnemploymentRate_Person") in rows and names["Count_Person_Female"] == "female population"
    assert len(read_index(files["sentence_dcid"])[0]) == 3
    rows, names = read_index(tiny_data)
    assert ("jobless rate", "UnemploymentRate_Person") in rows and names["UnemploymentRate_Person"] == "Unemployment Rate"
    assert read_queries(files["json"])[0] == ("women count", ["Count_Person_Female"])
    assert read_queries(files["csv"]) == [("women count", ["Count_Person_Female"])]
    assert read_queries(files["plain"]) == [("women count", []), ("jobless", [])]


@pytest.mark.slow
@pytest.mark.parametrize("index", ["dcid_sentence", "sentence_dcid", "folder"])
def test_cli_prints_json_last(tiny_model_dir, files, tiny_data, capsys, tmp_path, index):
    catalog = str(tiny_data) if index == "folder" else str(files[index])
    out = tmp_path / "m.json"
    cli.main(["evaluate", "--model", str(tiny_model_dir), "--catalog", catalog, "--queries", str(files["json"]),
                   "--pairs", str(tiny_data / "eval" / "pairs.csv"), "--json", str(out)])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = last["retrieval"]
    assert r["queries"] == 2 and r["skipped_not_in_catalog"] == 1   # gdp's dcid is in no index
    assert 0 <= r["mrr@10"] <= 1 and last["pairs_heldout"]["pairs"] == 3
    assert "nonsense_max" in last["collapse"]
    assert json.loads(out.read_text())["details"]["queries"][0]["top"]


@pytest.mark.slow
def test_cli_side_by_side(tiny_model_dir, files, capsys):
    cli.main(["evaluate", "--model", str(tiny_model_dir), "--model", str(tiny_model_dir),
                   "--catalog", str(files["dcid_sentence"]), "--queries", str(files["csv"])])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("metric") and any(ln.startswith("retrieval.mrr@10") for ln in lines)
    assert len(json.loads(lines[-1])) == 2       # the same model twice is still two columns


def test_bad_files_name_file_and_line(tmp_path, files):
    bad = write(tmp_path / "bad.json", '{"a": ["x"],\n "b": 3}')
    with pytest.raises(DataError, match="bad.json.*must be a list"):
        read_queries(bad)
    bad = write(tmp_path / "bad2.json", '{"a": ["x"],\n "b" ["y"]}')
    with pytest.raises(DataError) as e:
        read_queries(bad)
    assert e.value.line == 2
    bad = write(tmp_path / "idx.csv", "id,text\nx,y\n")
    with pytest.raises(DataError, match="unknown index format"):
        read_index(bad)
    bad = write(tmp_path / "q.csv", "query,expected\nfoo,\n")
    with pytest.raises(DataError) as e:
        read_queries(bad)
    assert e.value.line == 2 and e.value.column == "expected"
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--model", "x", "--catalog", str(tmp_path / "missing.csv"), "--queries", str(files["csv"])])


def test_rank_diff_html_marks_changes():
    names = {"A": "Alpha var", "B": "Beta var", "C": "Gamma var"}
    html = report.rank_diff_html(["same query", "moved query"],
                                 [[("A", 0.9), ("B", 0.5)], [("A", 0.9), ("B", 0.5)]],
                                 [[("A", 0.9), ("B", 0.5)], [("C", 0.8), ("A", 0.7)]], names)
    assert html.index("moved query") < html.index("same query")       # changed queries first
    assert 'class="new">Gamma var' in html and 'class="gone">Beta var' in html
    assert "1 with a changed top" in html
