"""Topic hierarchies in both formats: validated like every input, pruned to the catalog, searchable."""

from __future__ import annotations

import json

import pytest

from helpers import write
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.topics import read_topics

CSV = """
    topic_dcid,topic_name,member_dcid,type,alternatives
    dc/topic/Poverty,Poverty,Count_Person_BelowPovertyLevelInThePast12Months,,people in hardship;poverty data
    dc/topic/Poverty,Poverty,dc/svpg/Sexes,,
    dc/topic/Poverty,Poverty,dc/topic/Work,,
    dc/svpg/Sexes,Population by sex,Count_Person_Female,StatVarPeerGroup,
    dc/svpg/Sexes,Population by sex,Count_Person_Male_Not_In_Catalog,StatVarPeerGroup,
    dc/topic/Work,Work,UnemploymentRate_Person,Topic,jobs and work
    dc/topic/Farms,Farms,Count_Farm_Cattle_Not_In_Catalog,,
    """
JSON = {"nodes": [
    {"dcid": ["dc/topic/Income"], "name": ["Income"], "typeOf": ["Topic"],
     "relevantVariableList": ["Median_Income_Household", "dc/topic/Income"]},
    {"dcid": ["dc/svpg/Jobs"], "name": ["Jobs"], "typeOf": ["StatVarPeerGroup"],
     "memberList": ["UnemploymentRate_Person", "Count_Person_Female"]}]}


def test_csv_topics_become_searchable_catalog_items(tiny_data):
    write(tiny_data / "topics" / "topics.csv", CSV)
    cat = load_catalog(tiny_data)
    h = cat.hierarchy
    assert set(h.topics) == {"dc/topic/Poverty", "dc/svpg/Sexes", "dc/topic/Work"}   # Farms reaches no StatVar
    assert h.dropped_topics == 1 and h.unknown_members == 2
    assert h.topics["dc/svpg/Sexes"].members == ["Count_Person_Female"]
    poverty = cat.statvars["dc/topic/Poverty"]
    assert poverty.topic and poverty.sentences() == ["Poverty", "people in hardship", "poverty data"]
    assert "dc/svpg/Sexes" not in cat.statvars                     # peer groups relate StatVars, nobody searches them
    assert (cat.num_statvars, cat.num_topics) == (5, 2)
    from svtune.data.formats import index_from_catalog
    assert ("poverty data", "dc/topic/Poverty") in index_from_catalog(cat)


def test_data_commons_json_and_a_self_reference(tiny_data):
    (tiny_data / "topics").mkdir()
    (tiny_data / "topics" / "topic_cache.json").write_text(json.dumps(JSON, indent=1))
    cat = load_catalog(tiny_data, warn=False)
    assert set(cat.hierarchy.topics) == {"dc/topic/Income", "dc/svpg/Jobs"}
    assert cat.hierarchy.topics["dc/topic/Income"].members == ["Median_Income_Household"]
    assert any("lists itself as a member; ignored" in w for w in cat.warnings)
    assert cat.statvars["dc/topic/Income"].name == "Income"


@pytest.mark.parametrize("text, message, line", [
    ("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,X\ndc/topic/A,Other name,Y\n", "named 'Other name' here but 'A'", 3),
    ("topic_dcid,topic_name,member_dcid,type\ndc/topic/A,A,X,Subject\n", "type 'Subject'", 2),
    ("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,\n", "empty cell", 2),
    ("topic_dcid,topic_name\ndc/topic/A,A\n", "missing required column(s) member_dcid", 1),
    ("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,dc/topic/A\n", "lists itself", 2),
])
def test_bad_csv_is_refused_with_file_and_line(tmp_path, text, message, line):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        read_topics(tmp_path)
    assert e.value.line == line and str(e.value.file).endswith("t.csv")


def test_cycles_and_bad_json_are_refused(tmp_path):
    (tmp_path / "t.csv").write_text("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,dc/topic/B\n"
                                    "dc/topic/B,B,dc/topic/C\ndc/topic/C,C,dc/topic/A\n")
    with pytest.raises(DataError, match="cycle: dc/topic/A -> dc/topic/B -> dc/topic/C -> dc/topic/A"):
        read_topics(tmp_path)
    bad = tmp_path / "json"
    bad.mkdir()
    (bad / "topic_cache.json").write_text('{"nodes": [\n  {"dcid": ["x"],\n}')
    with pytest.raises(DataError, match="invalid JSON") as e:
        read_topics(bad)
    assert e.value.line == 3
    (bad / "topic_cache.json").write_text(json.dumps({"nodes": [{"dcid": ["dc/topic/N"], "typeOf": ["Topic"]}]}))
    with pytest.raises(DataError, match="topic dc/topic/N has no name"):
        read_topics(bad)


def test_a_topic_in_two_files_is_refused(tmp_path):
    (tmp_path / "a.csv").write_text("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,X\n")
    (tmp_path / "b.csv").write_text("topic_dcid,topic_name,member_dcid\ndc/topic/A,A,Y\n")
    with pytest.raises(DataError, match="also defined in"):
        read_topics(tmp_path)
