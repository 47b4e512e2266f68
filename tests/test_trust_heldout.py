"""Issue 34, items 2 and 3: `auto` precision decided once per machine (a resumed run keeps its own), and nothing
held out is trained on: held-out queries and pairs in curated files refused, Data Commons' one known row dropped
with a notice, shared texts counted, and every tool that evaluates a run again holds out the run's own texts."""

from __future__ import annotations

import hashlib
import json
import threading
import warnings

import pytest

from helpers import custom_dc, variables, write
from svtune import cli, paths
from svtune.data import leaks
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.heldout import seed_for
from svtune.data.records import PAIRS_FILE
from svtune.model import hardware

# --- the same command, the same precision ---------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(hardware, "matmul_gflops", lambda dtype, device="cpu", seconds=0.15: 1.0)
    return tmp_path / "cache" / "precision"


def test_auto_precision_is_measured_once_per_machine_and_then_read(cache, monkeypatch):
    monkeypatch.setattr(hardware, "bf16_pays", lambda device: True)
    first, why = hardware.precision_choice("auto", "cpu")
    assert first == "bf16" and why["source"].startswith("measured now, cached in")
    monkeypatch.setattr(hardware, "bf16_pays", lambda device: False)     # a loaded machine measures otherwise
    again, why = hardware.precision_choice("auto", "cpu")
    assert again == "bf16" and why["source"].startswith("cached measurement") and why["bf16"] is True
    assert [p.name for p in cache.iterdir()] == [f"{hardware.machine_key()}.json"]   # no temporary file left
    assert hardware.precision_choice("fp32", "cpu") == ("fp32", {"requested": "fp32", "source": "requested"})
    assert hardware.precision_choice("auto", "cpu", recipe_allows_bf16=False)[0] == "fp32"


def test_runs_that_measure_at_once_agree_on_the_first_record_written(cache, monkeypatch):
    calls = iter(range(1000))
    lock = threading.Lock()

    def flaky(device):                                                   # every measurement differs from the last
        with lock:
            return next(calls) % 2 == 0
    monkeypatch.setattr(hardware, "bf16_pays", flaky)
    start, out = threading.Barrier(8), []

    def one():
        start.wait()
        out.append(hardware.precision_choice("auto", "cpu")[0])
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    on_disk = json.loads((cache / f"{hardware.machine_key()}.json").read_text())["bf16"]
    assert out == ["bf16" if on_disk else "fp32"] * 8


def test_a_run_that_lost_the_race_takes_the_record_written_first(cache, monkeypatch):
    monkeypatch.setattr(hardware, "bf16_pays", lambda device: True)
    path, read = cache / f"{hardware.machine_key()}.json", hardware._read_record

    def other_run_wrote_meanwhile(p):                                    # both read "no cache", the other wrote first
        monkeypatch.setattr(hardware, "_read_record", read)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"bf16": False, "measured": "a moment ago"}))
        return None
    monkeypatch.setattr(hardware, "_read_record", other_run_wrote_meanwhile)
    chosen, why = hardware.precision_choice("auto", "cpu")
    assert chosen == "fp32" and "same time" in why["source"]
    assert json.loads(path.read_text())["bf16"] is False                 # the first record is never replaced


def test_a_resumed_run_keeps_the_precision_it_started_in(tiny_model_dir, tiny_data, tmp_path, cache, monkeypatch):
    from svtune.run import Run
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(hardware, "bf16_pays", lambda device: False)     # a new decision here would say fp32
    params = dict(data_dir=str(tiny_data), base_model=str(tiny_model_dir), size="small", epochs=1, batch_size=4)
    failed = tmp_path / "runs" / "20260101-000000-small-tiny.failed"
    failed.mkdir(parents=True)
    (failed / "config.json").write_text(json.dumps({"status": "failed", "reason": "killed", "precision": "bf16",
                                                    "params": {**params, "precision": "auto"}}))
    run = Run.start(resume=str(failed))
    try:
        doc = json.loads((run.dir / "config.json").read_text())
    finally:
        run.memory.__exit__(None, None, None)
    assert run.precision == "bf16" and doc["precision"] == "bf16"
    assert doc["precision_choice"] == {"requested": "auto", "source": "resumed run"}
    assert "-p precision bf16" in doc["command"]                          # the decision, pinned for another machine


def test_a_new_run_records_where_its_precision_came_from(tiny_model_dir, tiny_data, tmp_path, cache, monkeypatch):
    from svtune.run import Run
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(hardware, "bf16_pays", lambda device: False)
    run = Run.start(data_dir=str(tiny_data), base_model=str(tiny_model_dir), size="small")
    try:
        doc = json.loads((run.dir / "config.json").read_text())
    finally:
        run.memory.__exit__(None, None, None)
    assert doc["precision"] == "fp32" and doc["precision_choice"]["source"].startswith("measured now")
    assert doc["params"]["precision"] == "auto" and "-p precision fp32" in doc["command"]


# --- nothing held out is trained on ----------------------------------------------------------------------------


def test_a_held_out_query_in_sentence_pairs_is_refused_before_anything_is_written(tiny_data, tiny_model_dir,
                                                                                    tmp_path, monkeypatch, capsys):
    f = tiny_data / PAIRS_FILE
    f.write_text(f.read_text() + "Jobless Share,unemployment rate,1\n")     # line 6: a held-out query, other case
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert (e.value.file, e.value.line, e.value.column) == (f, 6, "sentence_1")
    assert "held-out set" in str(e.value) and "eval/queries.csv, line 3" in str(e.value)
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    with pytest.raises(SystemExit) as code:
        cli.main(["train", "-p", "data_dir", str(tiny_data), "-p", "base_model", str(tiny_model_dir)])
    assert code.value.code == 2 and "line 6" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_held_out_pair_in_either_order_and_any_case_is_refused(tiny_data):
    f = tiny_data / PAIRS_FILE
    f.write_text(f.read_text() + "African American Men,BLACK MEN,1\n")
    with pytest.raises(DataError) as e:
        load_catalog(tiny_data)
    assert (e.value.file, e.value.line) == (f, 6)
    assert "held-out pair" in str(e.value) and "eval/pairs.csv, line 3" in str(e.value)
    assert load_catalog(tiny_data, eval_dir="none").pairs[-1].sentence_1 == "African American Men"   # nothing held out


def test_the_known_shipped_row_is_dropped_with_a_notice_naming_file_and_line(tiny_data, monkeypatch):
    f = tiny_data / PAIRS_FILE
    f.write_text(f.read_text() + "black men,african american men,1\n")
    monkeypatch.setattr(leaks, "SHIPPED_LEAKS", {hashlib.sha256(f.read_bytes()).hexdigest(): "a shipped file"})
    with pytest.warns(UserWarning, match=r"sentence_pairs.csv, line 6: .* dropped from training"):
        cat = load_catalog(tiny_data)
    assert [p.line for p in cat.pairs] == [2, 3, 4, 5]
    f.write_text(f.read_text() + "women,female population,1\n")           # the file changed: refused again
    with pytest.raises(DataError, match="line 6"):
        load_catalog(tiny_data)


@pytest.mark.shared
def test_data_commons_loads_without_its_one_held_out_pair():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cat = load_catalog(paths.SHARED_DATACOMMONS, "small")
    notes = [str(w.message) for w in caught if "held-out pair" in str(w.message)]
    assert len(notes) == 1 and "sentence_pairs.csv, line 5" in notes[0] and "eval/pairs.csv, line 3" in notes[0]
    assert len(cat.pairs) == 124 and cat.heldout_shared == 34
    keys = {(p.sentence_1.lower(), p.sentence_2.lower()) for p in cat.pairs}
    assert ("african americans", "black and african american demographic") not in keys


def test_shared_texts_are_counted_and_shown_in_summary_and_card(tiny_data):
    cat = load_catalog(tiny_data)
    assert cat.heldout_shared == 2                                       # both rows with "poverty" (eval/pairs.csv)
    from svtune.eval.summary import shared_line
    from svtune.ship.card_sections import data_section
    assert shared_line({"heldout_shared": 2}).startswith("2 curated training pair(s) share a text")
    assert shared_line({}) == "" and shared_line({"heldout_shared": 0}) == ""
    card = "\n".join(data_section({"data": {"pairs": 9, "heldout_shared": 2}}, {}))
    assert "2 hand-curated pair(s) share a text with a held-out pair" in card


def test_a_custom_data_commons_with_its_own_eval_is_checked_too(tmp_path):
    folder = custom_dc(tmp_path, variables(4), pairs="sentence_1,sentence_2,score\nrent,housing cost,0.9\n")
    write(folder / "eval" / "pairs.csv", "sentence_1,sentence_2,score\nHousing Cost,RENT,0.9\n")
    with pytest.raises(DataError) as e:
        load_catalog(folder, warn=False)
    assert e.value.file == folder / "finetuning" / "sentence_pairs.csv" and e.value.line == 2


# --- tools that evaluate a run again hold out the run's own texts -----------------------------------------------


def test_the_held_out_seed_of_a_run_is_its_own():
    assert seed_for({"seed": 7, "eval_dir": ""}) == 7 and seed_for({}) == 42
    assert seed_for({"seed": 7, "eval_dir": "none"}) is None


def test_compare_fresh_holds_out_what_the_run_held_out(tmp_path, tiny_model_dir, monkeypatch):
    import importlib

    from svtune.eval import evaluate
    from svtune.model import load
    folder = custom_dc(tmp_path, variables(6))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"params": {"data_dir": str(folder), "size": "small", "seed": 7,
                                                            "base_model": str(tiny_model_dir)}}))
    seen = []
    monkeypatch.setattr(load, "load_model", lambda *a, **k: None)
    monkeypatch.setattr(evaluate, "evaluate_run", lambda model, catalog, cfg: seen.append(catalog) or {"details": {}})
    importlib.import_module("svtune.bench.compare")._fresh_details(str(run))   # svtune.bench.compare: a function too
    own = load_catalog(folder, warn=False, heldout_seed=7).heldout_queries
    assert seen[0].heldout_queries == own != load_catalog(folder, warn=False, heldout_seed=42).heldout_queries
