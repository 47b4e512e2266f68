"""Loading and validating catalog folders: every bad input stops with file, line and column."""

from __future__ import annotations

import hashlib

import pytest

from helpers import write
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.records import read_sentence_pairs
from svtune.model.load import resolve_base_model


def test_tiny_catalog_loads(tiny_data):
    cat = load_catalog(tiny_data, "small")
    assert len(cat.statvars) == 5
    sv = cat.statvars["Count_Person_BelowPovertyLevelInThePast12Months"]
    assert sv.descriptions == ["number of poor people", "poverty count"]
    assert sv.curated_alternatives == ["people in poverty", "how many people are poor"]
    assert cat.statvars["Median_Income_Household"].other_alternatives == [
        "income of a typical household", "household earnings"]
    assert [p.score for p in cat.pairs] == [0.01, 1.0, 0.2, 0.5]
    assert cat.warnings == []


def test_missing_column_names_file_line_column(tiny_data):
    f = write(tiny_data / "curated_input" / "c.csv", "dcid,Description\nx,y\n")
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.file == f and e.value.line == 1 and e.value.column == "Name"
    assert "c.csv" in str(e.value) and "line 1" in str(e.value) and "'Name'" in str(e.value)


def test_empty_glob_and_empty_file(tiny_data):
    for f in (tiny_data / "alternatives").glob("*.csv"):
        f.unlink()
    with pytest.raises(DataError, match="no CSV files for the alternatives"):
        load_catalog(tiny_data)
    write(tiny_data / "alternatives" / "a.csv", "dcid,Alternatives\n")
    with pytest.raises(DataError, match="a.csv: no data rows"):
        load_catalog(tiny_data)


@pytest.mark.parametrize("score,reason", [("high", "'high' is not a number"), ("1.5", "outside"),
                                          ("-0.1", "outside"), ("nan", "outside")])
def test_bad_scores(tiny_data, score, reason):
    f = write(tiny_data / "finetuning" / "sentence_pairs.csv",
              f"sentence_1,sentence_2,score\na,b,0.5\nc,d,{score}\n")
    with pytest.raises(DataError) as e:
        read_sentence_pairs(f)
    assert e.value.line == 3 and e.value.column == "score" and reason in str(e.value)


def test_unknown_alternative_dcid_warns_and_counts(tiny_data):
    write(tiny_data / "alternatives" / "b.csv", "dcid,Alternatives\nNot_A_Dcid,foo\nAlso_Not,bar\n")
    with pytest.warns(UserWarning, match="2 alternatives row"):
        cat = load_catalog(tiny_data)
    assert cat.unknown_alternative_dcids == 2


def test_unbalanced_quote(tiny_data):
    f = write(tiny_data / "curated_input" / "c.csv",
              'dcid,Name,Description\nA,"ok",fine\nB,"broken,oops\nC,x,y\n')
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.file == f and e.value.line == 3 and "unbalanced quote" in str(e.value)


def test_wrong_delimiter(tiny_data):
    write(tiny_data / "curated_input" / "c.csv", "dcid;Name;Description\nA;b;c\n")
    with pytest.raises(DataError, match="separated by ';'"):
        load_catalog(tiny_data)


def test_too_many_fields(tiny_data):
    write(tiny_data / "curated_input" / "c.csv", "dcid,Name,Description\nA,b,c\nB,x,y,z\n")
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.line == 3 and "quote fields" in str(e.value)


def test_non_utf8(tiny_data):
    f = tiny_data / "curated_input" / "c.csv"
    f.write_bytes(b"dcid,Name,Description\nA,caf\xe9,x\n")
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.line == 2 and "UTF-8" in str(e.value)


def test_empty_dcid_and_textless_row(tiny_data):
    write(tiny_data / "curated_input" / "c.csv", "dcid,Name,Description\n,b,c\n")
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.line == 2 and e.value.column == "dcid"
    write(tiny_data / "curated_input" / "c.csv", "dcid,Name,Description,Curated_Alternatives\nA,,,\n")
    with pytest.raises(DataError, match="no text at all"):
        load_catalog(tiny_data)


def test_missing_base_model(tmp_path):
    with pytest.raises(DataError, match="not found"):
        resolve_base_model(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="not a model folder"):
        resolve_base_model(str(tmp_path))


def test_packaged_minilm_is_verified():
    source, info = resolve_base_model("all-MiniLM-L6-v2")
    assert info["verified"] and info["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_tampered_minilm_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the real weights")
    monkeypatch.setattr("svtune.model.load.packaged_minilm", lambda: fake)
    with pytest.raises(DataError, match="refusing a modified model"):
        resolve_base_model("all-MiniLM-L6-v2")


def test_inputs_are_never_modified(tiny_data):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny_data.rglob("*.csv")}
    cat = load_catalog(tiny_data)
    assert set(cat.sha256().values()) <= set(before.values())
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny_data.rglob("*.csv")}


def test_relative_paths_come_from_the_repo_root(monkeypatch, tmp_path):
    from svtune import paths
    monkeypatch.chdir(tmp_path)                       # papermill and nbval use other folders
    assert paths.data_dir("") == paths.REPO_ROOT / "data"
    assert paths.data_dir("../shared/datacommons") == (paths.REPO_ROOT.parent / "shared" / "datacommons").resolve()
