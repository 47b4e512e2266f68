"""Export a finished run as a bundle the Data Commons NL server serves (sentence-transformers 2.7.0).

    svtune export outputs/runs/<run> --to build/bundles/<run> [--index FOLDER] [--onnx] [--int8] [--overwrite]
    export(run_dir, to, index=None, onnx=False, int8=False, overwrite=False, gcs_folder=None)   # the same

The bundle (../shared/datacommons/serving.md says what the server expects):
  model/             the tuned model rewritten for sentence-transformers 2.7.0: modules.json names
                     sentence_transformers.models.*, every config in 2.7's keys, Dense weights as
                     pytorch_model.bin; loads with a plain SentenceTransformer(path), no svtune needed
  embeddings.csv     columns 0..d-1, dcid (`;`-joined), sentence: each distinct sentence, encoded fresh
  input/sentences.csv  the index as dcid,sentence (`;`-joined), the server's input format
  catalog.yaml       indexes: and models: entries, score_threshold calibrated (eval/threshold.py)
  custom_dc_env.yaml, env.list   default/enabled indexes and ADDITIONAL_CATALOG_PATH for a custom DC
  calibration.json   the threshold, and answered@10 at 0.5 and at it
  speed.json         with --onnx/--int8: speed and MRR@10 per backend, and which copies were kept
  README.md          how to install it
  .svtune-bundle     one line of JSON (what wrote it, when): --overwrite replaces only a folder holding it

`--to` is taken from the current folder, like RUN. --overwrite never replaces a non-empty folder
without the marker, a file, the repo, a folder above it, the home folder, / or the run itself.

The index is the run's catalog (config.json's data_dir and size, topics included) or a folder of
`dcid,sentence` CSVs. Only complete runs are exported; the bundle is built under a temporary sibling
name and renamed into place, so a failure never leaves a half bundle.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import numpy as np
import yaml

from svtune import __version__, paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError, glob_files
from svtune.data.formats import index_from_catalog, read_index, read_pairs, read_queries
from svtune.data.heldout import seed_for
from svtune.eval.evaluate import NONSENSE_QUERIES, Index, eval_files, evaluate_retrieval
from svtune.eval.threshold import calibration, expected_scores, read_nonsense
from svtune.ship.convert import ExportError, _log, check_same, convert_model
from svtune.ship.onnx import add_onnx
from svtune.ship.publish import PublishError, check_run
from svtune.ship.server_files import LOCAL_BUCKET, catalog_entries, names_for, readme_text

BUNDLE_MARKER = ".svtune-bundle"   # in every bundle: --overwrite replaces only a folder that holds it


def run_data(config: dict) -> tuple[Path, str]:
    """The run's data folder and catalog size, from config.json (either layout)."""
    params = config.get("params") or config
    return paths.data_dir(params.get("data_dir") or None), params.get("size") or "small"


def index_rows(config: dict, index: Path | str | None = None) -> list[tuple[str, str]]:
    """(sentence, dcid) rows: a folder of `dcid,sentence` CSVs (`_*` skipped), else the run's catalog."""
    if index is None:
        data_dir, size = run_data(config)
        return index_from_catalog(load_catalog(data_dir, size, warn=False, heldout_seed=None))   # serve every text
    files = [f for f in glob_files(Path(index)) if not f.name.startswith("_")]
    if not files:
        raise DataError("no dcid,sentence CSV files (names starting with _ are skipped)", index)
    return [row for f in files for row in read_index(f)[0]]


def server_table(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Distinct sentences (sorted) and, for each, the `;`-joined sorted dcids that have it."""
    dcids: dict[str, set[str]] = {}
    for sentence, dcid in rows:
        if sentence.strip():
            dcids.setdefault(sentence.strip(), set()).add(dcid)
    sentences = sorted(dcids)
    return sentences, [";".join(sorted(dcids[s])) for s in sentences]


def write_embeddings(path: Path, emb: np.ndarray, sentences: list[str], dcids: list[str]) -> None:
    import pandas as pd
    table = pd.DataFrame(emb.astype(np.float32), columns=[str(i) for i in range(emb.shape[1])])
    table["dcid"], table["sentence"] = dcids, sentences
    table.to_csv(path, index=False)


def write_input(path: Path, rows: list[tuple[str, str]]) -> None:
    """The index in the server's input format: one row per dcid, its sentences `;`-joined."""
    import pandas as pd
    by_dcid: dict[str, list[str]] = {}
    for sentence, dcid in rows:
        by_dcid.setdefault(dcid, []).append(sentence.strip())
    path.parent.mkdir(parents=True)
    pd.DataFrame({"dcid": list(by_dcid), "sentence": [";".join(dict.fromkeys(s)) for s in by_dcid.values()]}
                 ).to_csv(path, index=False)


# --- the threshold -------------------------------------------------------------------------------------


def evaluation_set(config: dict) -> tuple[list[tuple[str, str]], list[tuple[str, list[str]]], str]:
    """The index the run was evaluated on (its catalog, a custom DC's held-out descriptions taken out with
    the run's own seed), its held-out queries and where they come from."""
    from types import SimpleNamespace
    params = config.get("params") or config
    data_dir, size = run_data(config)
    eval_dir = params.get("eval_dir") or ""
    catalog = load_catalog(data_dir, size, warn=False, heldout_seed=seed_for(params), eval_dir=eval_dir)
    qfile = eval_files(SimpleNamespace(eval_dir=eval_dir, data_dir=data_dir))[0]
    if qfile is not None:
        return index_from_catalog(catalog), read_queries(qfile), str(qfile)
    if catalog.heldout_queries:
        return index_from_catalog(catalog), catalog.heldout_queries, "the run's held-out search descriptions"
    raise ExportError(f"{data_dir}: no held-out queries to calibrate the threshold on")


def heldout_pairs(run: Path) -> list:
    """The held-out scored pairs the run was evaluated on (eval_after.json names the file), or []."""
    after = run / runs.eval_file("after")
    files = (runs.read_eval(run, "after").get("summary") or {}).get("files") or {} if after.is_file() else {}
    path = files.get("pairs")
    return read_pairs(Path(path)) if path and Path(path).is_file() else []


def calibrate_run(run: Path, config: dict, model, rows: list[tuple[str, str]] | None = None) -> dict:
    """The threshold to ship (threshold.py): the held-out queries' right answers and the nonsense queries'
    top scores searched in one index, calibrated on one half of the queries and graded on the other. The
    run's catalog (`rows` None): the run's own calibration (metrics.json), else its evaluation index
    searched now; another index (`rows`): that index, with the held-out queries whose answers it holds."""
    metrics = run / runs.METRICS
    recorded = (runs.read_metrics(run).get("after") or {}).get("calibration") if metrics.is_file() else None
    if rows is None and recorded and "graded_queries" in recorded:
        return {**recorded, "heldout_from": "metrics.json: the run's evaluation index, held-out texts out",
                "nonsense_searched": "the same index"}
    nonsense = list(dict.fromkeys([*NONSENSE_QUERIES, *read_nonsense()]))
    own_rows, queries, source = evaluation_set(config)
    index = Index(model, rows if rows is not None else own_rows)
    details = evaluate_retrieval(index, queries)[1]
    if not details:
        raise ExportError(f"none of the run's held-out queries has its answer in this index: no threshold to "
                          f"calibrate ({source})")
    scores = [t[0][1] for t in index.search(nonsense, k=1)]
    out = calibration(expected_scores(details), scores, queries=[q["query"] for q in details])
    out.update(heldout_from=source, nonsense_searched="the same index as the held-out queries",
               nonsense_best=dict(zip(nonsense, scores)))
    return out


# --- ONNX copies, kept only where they answer as well ------------------------------------------------------

def _write(path: Path, doc, fmt: str = "json") -> None:
    text = json.dumps(doc, indent=2) if fmt == "json" else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def _build(run: Path, config: dict, work: Path, dest: Path, index, onnx: bool, int8: bool, gcs_folder) -> None:
    """Everything of the bundle, written into `work` (names inside the files point at `dest`)."""
    _log(f"converting {run / 'model'} for sentence-transformers 2.7.0")
    model = convert_model(run / "model", work / "model")
    rows = index_rows(config, index)
    sentences, dcids = server_table(rows)
    check_same(model, work / "model", sentences[:64])
    _log(f"encoding {len(sentences):,} distinct index sentences")
    emb = model.encode(sentences, show_progress_bar=len(sentences) > 2000)   # as the server: raw, default batch
    write_embeddings(work / "embeddings.csv", emb, sentences, dcids)
    if index is None:
        write_input(work / "input" / "sentences.csv", rows)
    cal = calibrate_run(run, config, model, rows if index is not None else None)
    _write(work / "calibration.json", cal)
    model_name, index_name = names_for(run)
    gcs_folder = gcs_folder or f"gs://{LOCAL_BUCKET}/{model_name}"
    source = Path(index).resolve() if index is not None else dest / "input"
    _write(work / "catalog.yaml", catalog_entries(model_name, index_name, dest / "embeddings.csv", source,
                                                  gcs_folder, cal["threshold"]), "yaml")
    # A custom DC searches its own index and Data Commons' medium_ft; this index takes the place of its own.
    _write(work / "custom_dc_env.yaml", {"default_indexes": [index_name, "medium_ft"],
                                         "enabled_indexes": [index_name, "medium_ft"]}, "yaml")
    (work / "env.list").write_text(f"ADDITIONAL_CATALOG_PATH={dest / 'catalog.yaml'}\n", encoding="utf-8")
    speed = None
    if onnx or int8:
        queries = evaluation_set(config)[1]
        speed = add_onnx(run, model, work / "model" / "onnx", onnx, int8, queries, index_rows(config),
                         heldout_pairs(run), cal["threshold"])
    if speed:
        _write(work / "speed.json", speed)
    (work / "README.md").write_text(readme_text(run, dest, model_name, index_name, gcs_folder, cal, speed),
                                    encoding="utf-8")
    marker = {"written_by": "svtune export", "svtune_version": __version__, "run": run.name,
              "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (work / BUNDLE_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def refuse_to_replace(dest: Path, run: Path, overwrite: bool) -> None:
    """ExportError (nothing touched) unless the existing `dest` may be replaced by a new bundle."""
    if dest in (Path("/"), Path.home().resolve()) or paths.REPO_ROOT.is_relative_to(dest):
        raise ExportError(f"refusing to replace {dest}: it is /, the home folder, the repo or a folder above it")
    if run.resolve().is_relative_to(dest):
        raise ExportError(f"refusing to replace {dest}: it holds the run being exported")
    if not overwrite:
        raise ExportError(f"{dest} already exists (use --overwrite to replace it)")
    if not dest.is_dir():
        raise ExportError(f"refusing to replace {dest}: it is a file, not a bundle folder")
    if not (dest / BUNDLE_MARKER).is_file() and any(dest.iterdir()):
        raise ExportError(f"refusing to replace {dest}: a non-empty folder without {BUNDLE_MARKER}, so not a "
                          "bundle svtune wrote; remove it yourself or choose another --to")


def _replace(work: Path, dest: Path) -> None:
    """Move the finished bundle into place; an old one is renamed away first and removed only after."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.replaced-{secrets.token_hex(4)}"
        os.replace(dest, old)
    try:
        os.replace(work, dest)
    except BaseException:
        if old:
            os.replace(old, dest)
        raise
    if old:
        shutil.rmtree(old)


def export(run_dir: Path | str, to: Path | str, index: Path | str | None = None, onnx: bool = False,
           int8: bool = False, overwrite: bool = False, gcs_folder: str | None = None) -> Path:
    """Write the bundle of a complete run to `to` (see the module docstring); returns its absolute path."""
    run = Path(run_dir)
    try:
        config = check_run(run)
    except PublishError as e:
        raise ExportError(str(e)) from None
    dest = Path(to).expanduser().resolve()   # from the current folder, as RUN is (not the repo root)
    if dest.exists():
        refuse_to_replace(dest, run, overwrite)
    if gcs_folder is not None and not re.fullmatch(r"gs://[^/]+/.+", gcs_folder):
        raise ExportError(f"gcs_folder must be gs://bucket/path (the server refuses anything else), not {gcs_folder!r}")
    if index is not None and not Path(index).is_dir():
        raise ExportError(f"--index {index} is not a folder of dcid,sentence CSV files")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        _build(run, config, work, dest, index, onnx, int8, gcs_folder)
        if dest.exists():   # again: something may have appeared there while the bundle was built
            refuse_to_replace(dest, run, overwrite)
        _replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _log(f"exported {run.name} to {dest}")
    return dest

