"""The curation loop's writes: validated, leak-free, deduplicated, contradictions asked first, atomic, undoable;
the catalog joins the curation file; the grade buttons of the playground widget."""

from __future__ import annotations

import html

import pytest

from helpers import finished_run, write
from svtune import paths
from svtune.data import curation
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.curation import Curator, Refused
from svtune.data.leaks import HeldOut, counts
from svtune.data.records import CURATION_FILE, PAIRS_FILE


def lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_label_lands_in_the_curation_file_and_the_catalog_joins_it(tiny_data):
    hand = (tiny_data / PAIRS_FILE).read_bytes()
    cur = Curator(tiny_data)
    r = cur.add("  typical household earnings per year ", "Median Household Income", 1.0)
    assert r.status == "added"
    assert lines(tiny_data / CURATION_FILE) == ["sentence_1,sentence_2,score",
                                                "typical household earnings per year,Median Household Income,1"]
    r = cur.add("wheat growers", "Female Population", 0.01)
    assert r.status == "added" and len(lines(cur.path)) == 3
    cat = load_catalog(tiny_data, warn=False)
    assert [(p.sentence_2, p.score) for p in cat.pairs[-2:]] == [("Median Household Income", 1.0),
                                                                  ("Female Population", 0.01)]
    assert len(cat.pairs) == 6 and tiny_data / CURATION_FILE in cat.files
    assert (tiny_data / PAIRS_FILE).read_bytes() == hand        # the hand-made file is never rewritten


def test_duplicates_are_not_written_again(tiny_data):
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    before = cur.path.read_bytes()
    r = cur.add("WHEAT FARMS", "wheat growers ", 1.0)            # either order, case-insensitive
    assert r.status == "duplicate" and "line 2" in r.message
    r = cur.add("african americans", "black americans", 1)       # already in sentence_pairs.csv
    assert r.status == "duplicate" and "sentence_pairs.csv" in r.message
    assert cur.path.read_bytes() == before and cur.history[-1].sentence_2 == "Wheat Farms" and len(cur.history) == 1


def test_a_contradiction_asks_before_it_overwrites(tiny_data):
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    before = cur.path.read_bytes()
    r = cur.add("wheat growers", "Wheat Farms", 0.01)
    assert r.status == "needs_confirm" and "labelled 1" in r.message and "replace with 0.01?" in r.message
    assert cur.path.read_bytes() == before
    r = cur.add("wheat growers", "Wheat Farms", 0.01, confirm=True)
    assert r.status == "replaced"
    assert lines(cur.path)[1:] == ["wheat growers,Wheat Farms,0.01"]
    assert str(cur.history[-1]) == "wheat growers ~ Wheat Farms: 0.01 (was 1)"


def test_relabelling_a_hand_curated_pair_overrides_it_without_touching_that_file(tiny_data):
    hand = (tiny_data / PAIRS_FILE).read_bytes()
    cur = Curator(tiny_data)
    r = cur.add("black americans", "african americans", 0.5)
    assert r.status == "needs_confirm" and "sentence_pairs.csv, line 3" in r.message
    assert not cur.path.exists()
    assert cur.add("black americans", "african americans", 0.5, confirm=True).status == "replaced"
    cat = load_catalog(tiny_data, warn=False)
    labels = [p.score for p in cat.pairs if {p.sentence_1, p.sentence_2} == {"black americans", "african americans"}]
    assert labels == [0.5]                                       # the override, not both labels
    assert any("relabelled" in n for n in cat.warnings)
    assert (tiny_data / PAIRS_FILE).read_bytes() == hand
    assert cur.undo().old == 1.0 and not cur.path.exists()      # undo: the hand label is back
    assert cur.find("black americans", "african americans").score == 1.0


@pytest.mark.parametrize("a,b,score,why", [
    ("", "Wheat Farms", 1, "the query is empty"),
    ("wheat", "   ", 1, "the result text is empty"),
    ("wheat\ngrowers", "Wheat Farms", 1, "line break"),
    ("Wheat Farms", "wheat farms ", 1, "paired with itself"),
    ("wheat", "Wheat Farms", 1.5, "outside [0, 1]"),
    ("wheat", "Wheat Farms", "high", "not a number"),
])
def test_invalid_labels_are_refused_in_one_line(tiny_data, a, b, score, why):
    with pytest.raises(Refused, match=why.replace("[", r"\[").replace("]", r"\]")) as e:
        Curator(tiny_data).add(a, b, score)
    assert "\n" not in str(e.value)
    assert not (tiny_data / CURATION_FILE).exists()


def test_held_out_texts_are_refused(tiny_data):
    cur = Curator(tiny_data)
    with pytest.raises(Refused) as e:
        cur.add("How many poor people", "People Below Poverty Level", 1.0)   # a held-out query
    msg = str(e.value)
    assert "held-out set" in msg and "eval/queries.csv, line 2" in msg and "\n" not in msg
    with pytest.raises(Refused, match="eval/pairs.csv, line 2"):
        cur.add("income", "poverty", 0.2)                        # a sentence of a held-out pair
    assert not cur.path.exists() and cur.history == []
    held = HeldOut.of(tiny_data, eval_dir="none")
    assert held.reason("how many poor people") is None          # no held-out sets: nothing leaks


def test_a_hand_edited_curation_file_that_leaks_is_refused_at_load(tiny_data):
    f = write(tiny_data / CURATION_FILE, """
        sentence_1,sentence_2,score
        wheat growers,Wheat Farms,1
        jobless share,Unemployment Rate,1
        """)
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert e.value.file == f and e.value.line == 3 and e.value.column == "sentence_1"
    assert "held-out set" in str(e.value) and "eval/queries.csv, line 3" in str(e.value)
    # sentence_pairs.csv shares "poverty" with eval/pairs.csv, as the shipped files do: counted, not refused
    c = counts(tiny_data)
    assert c["leaking_rows"] == 3 and c["by_file"] == {str(tiny_data / PAIRS_FILE): 2, str(f): 1}


def test_a_contradiction_between_the_files_by_hand_is_overridden_but_within_one_file_refused(tiny_data):
    write(tiny_data / CURATION_FILE, "sentence_1,sentence_2,score\nwheat,corn,1\ncorn,WHEAT,0.2\n")
    with pytest.raises(DataError, match="labelled 1.0 and 0.2"):
        load_catalog(tiny_data)


def test_writes_are_atomic_and_a_broken_file_is_never_overwritten(tiny_data, monkeypatch):
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    before = cur.path.read_bytes()

    def crash(*a):
        raise OSError("disk full")
    monkeypatch.setattr(curation.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        cur.add("corn growers", "Wheat Farms", 0.2)
    monkeypatch.undo()
    assert cur.path.read_bytes() == before
    assert sorted(p.name for p in cur.path.parent.iterdir()) == sorted(["sentence_pairs.csv", cur.path.name])
    cur.path.write_text("sentence_1,sentence_2,score\nwheat,corn,lots\n", encoding="utf-8")
    with pytest.raises(Refused, match="line 2.*not a number.*nothing was written"):
        cur.add("corn growers", "Wheat Farms", 0.2)
    assert "lots" in cur.path.read_text()


def test_undo_walks_back_every_write(tiny_data):
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    cur.add("corn growers", "Wheat Farms", 0.2)
    cur.add("wheat growers", "Wheat Farms", 0.5, confirm=True)
    assert [str(c) for c in cur.history] == ["wheat growers ~ Wheat Farms: 1", "corn growers ~ Wheat Farms: 0.2",
                                             "wheat growers ~ Wheat Farms: 0.5 (was 1)"]
    cur.undo()
    assert lines(cur.path)[1:] == ["wheat growers,Wheat Farms,1", "corn growers,Wheat Farms,0.2"]
    cur.undo()
    cur.undo()
    assert not cur.path.exists() and cur.undo() is None


def test_grade_buttons_write_ask_and_undo(tiny_data):
    pytest.importorskip("ipywidgets")
    from svtune.eval.label_widget import LabelPanel
    panel = LabelPanel(Curator(tiny_data))
    panel.show("wheat growers", ["Wheat Farms", "Female Population", "Wheat Farms"])
    assert len(panel.rows.children) == 2                        # one row per distinct result
    buttons = panel.rows.children[0].children[1:]
    assert [b.description for b in buttons] == list(curation.GRADES)
    buttons[0].click()                                          # same thing
    assert lines(tiny_data / CURATION_FILE)[1:] == ["wheat growers,Wheat Farms,1"]
    assert "wheat growers ~ Wheat Farms: 1" in panel.undo_list.value and not panel.undo_button.disabled
    buttons[3].click()                                          # wrong: push apart -> asks first
    assert panel.confirm.layout.display != "none" and "replace with 0.01?" in html.unescape(panel.status.value)
    assert lines(tiny_data / CURATION_FILE)[1:] == ["wheat growers,Wheat Farms,1"]
    panel.keep.click()
    assert panel.confirm.layout.display == "none" and lines(tiny_data / CURATION_FILE)[1:] == [
        "wheat growers,Wheat Farms,1"]
    buttons[3].click()
    panel.confirm.click()
    assert lines(tiny_data / CURATION_FILE)[1:] == ["wheat growers,Wheat Farms,0.01"]
    panel.undo_button.click()
    assert lines(tiny_data / CURATION_FILE)[1:] == ["wheat growers,Wheat Farms,1"]
    panel.show("poverty", ["Wheat Farms"])
    panel.rows.children[0].children[1].click()
    assert "Refused:" in panel.status.value and "held-out" in panel.status.value


def test_the_playground_widget_has_grade_buttons_for_its_results(tmp_path, monkeypatch, tiny_model_dir, tiny_data):
    pytest.importorskip("ipywidgets")
    from svtune.eval.playground import widget
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    finished_run(tmp_path / "runs", tiny_model_dir, tiny_data, tuned=True)
    ui = widget(query="wheat growers")
    panel = ui.parts["labels"]
    assert len(panel.texts) == 5 and "Wheat Farms" in panel.texts     # the tiny catalog: 5 StatVars
    row = panel.texts.index("Wheat Farms")
    panel.rows.children[row].children[1].click()
    assert lines(tiny_data / CURATION_FILE)[1:] == ["wheat growers,Wheat Farms,1"]
    ui.parts["query"].value = "   "
    assert panel.texts == [] and panel.rows.children == ()


def test_the_curation_file_is_readable_by_other_users_and_keeps_its_mode(tiny_data):
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    assert cur.path.stat().st_mode & 0o777 == 0o644          # not mkstemp's owner-only 0600
    cur.path.chmod(0o664)
    cur.add("barley growers", "Wheat Farms", 0.5)
    assert cur.path.stat().st_mode & 0o777 == 0o664
