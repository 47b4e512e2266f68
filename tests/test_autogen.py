import csv

import pytest

from svtune.data import autogen
from svtune.data.autogen import description_for_dcid, generate, name_for_dcid, write_csv


def test_name_count_person_age_sex_employment():
    assert name_for_dcid("Count_Person_25To34Years_Female_Employed") == \
        "Count of Person: 25 - 34 Years, Female, Employed"


def test_name_median_age():
    assert name_for_dcid("Median_Age_Person_Female") == "Median Age of Person: Female"
    assert name_for_dcid("Median_Age_Person_Male_HispanicOrLatino") == \
        "Median Age of Person: Male, Hispanic or Latino"


def test_name_age_bucket_forms():
    assert name_for_dcid("Count_Person_Under5Years") == "Count of Person: Under 5 Years"
    assert name_for_dcid("Count_Person_65OrMoreYears_Male") == "Count of Person: 65 Years or More, Male"


def test_name_householder_prefix_and_fraction():
    assert name_for_dcid("Count_Household_HouseholderRaceAsianAlone_FamilyHousehold") == \
        "Count of Household: Asian Alone, Family Household"
    assert name_for_dcid(
        "Count_Person_25OrMoreYears_Female_BachelorsDegreeOrHigher_AsFractionOf_Count_Person_25OrMoreYears_Female"
    ) == ("Count of Person: 25 Years or More, Female, Bachelors Degree or Higher "
          "(As Fraction of Count Person 25 or More Years Female)")
    assert name_for_dcid("Count_Person_Employed_AsAFractionOf_Count_Person") == \
        "Count of Person: Employed (Per Capita)"


def test_measure_without_constraints():
    assert name_for_dcid("Count_Person") == "Count of Person"


def test_unknown_token_raises_naming_it():
    with pytest.raises(ValueError, match="Femle"):
        name_for_dcid("Count_Person_25To34Years_Femle_Employed")
    with pytest.raises(ValueError, match="Bogus"):
        description_for_dcid("Median_Age_Person_Bogus")


def test_unknown_measure_raises():
    with pytest.raises(ValueError, match="Foo_Bar"):
        name_for_dcid("Foo_Bar")


def test_description():
    assert description_for_dcid("Count_Person_25To34Years_Female_Employed") == \
        "Number of employed women aged 25 to 34"
    assert description_for_dcid("Median_Age_Person_Female") == "Median age of women"


def test_generate_deterministic_unique_and_shaped():
    rows = generate(200)
    assert rows == generate(200)
    assert len(rows) == 200
    dcids = [r["dcid"] for r in rows]
    assert len(set(dcids)) == len(dcids)
    for r in rows:
        assert list(r) == autogen.FIELDS
        assert r["Name"] == name_for_dcid(r["dcid"])
        assert r["Override_Alternatives"] == "" and r["Curated_Alternatives"] == ""


def test_generate_full_has_no_duplicates_and_some_empty_descriptions():
    rows = generate()
    assert len(rows) >= 600
    assert len({r["dcid"] for r in rows}) == len(rows)
    empty = sum(1 for r in rows if r["Description"] == "")
    assert 0.2 <= empty / len(rows) <= 0.4
    assert "Count_Person_25To34Years_Female_Employed" in {r["dcid"] for r in rows}


def test_write_csv_round_trip(tmp_path):
    rows = generate(5)
    path = tmp_path / "out.csv"
    write_csv(path, rows)
    with open(path, newline="", encoding="utf-8") as f:
        assert f.readline().strip() == \
            "dcid,Name,Description,Override_Alternatives,Curated_Alternatives"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == autogen.FIELDS
        assert list(reader) == rows
