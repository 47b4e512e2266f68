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
from pathlib import Path

import numpy as np
import yaml

from svtune import paths
from svtune.data.csvio import DataError, glob_files
from svtune.eval.threshold import calibration, expected_scores, read_nonsense, top1_scores
from svtune.ship.convert import ExportError, _log, check_same, convert_model
from svtune.ship.onnx import add_onnx
from svtune.ship.publish import PublishError, check_run
from svtune.ship.server_files import DEFAULT_BUCKET, catalog_entries, names_for, readme_text


def run_data(config: dict) -> tuple[Path, str]:
    """The run's data folder and catalog size, from config.json (either layout)."""
    params = config.get("params") or config
    return paths.data_dir(params.get("data_dir") or None), params.get("size") or "small"


def index_rows(config: dict, index: Path | str | None = None) -> list[tuple[str, str]]:
    """(sentence, dcid) rows: a folder of `dcid,sentence` CSVs (`_*` skipped), else the run's catalog."""
    from svtune.data.catalog import load_catalog
    from svtune.data.formats import index_from_catalog, read_index
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


def heldout_details(run: Path, config: dict, model) -> tuple[list[dict], str]:
    """Per-query held-out results of the tuned model and where they come from: eval_after.json's, else
    evaluated here the same way (evaluate.py) on the run's catalog."""
    after = run / "eval_after.json"
    details = json.loads(after.read_text()).get("details", {}).get("queries") if after.is_file() else None
    if details:
        return details, "eval_after.json (the run's catalog)"
    from types import SimpleNamespace

    from svtune.data.formats import read_queries
    from svtune.eval.evaluate import Index, eval_files, evaluate_retrieval
    data_dir, _ = run_data(config)
    eval_dir = (config.get("params") or {}).get("eval_dir") or ""
    qfile = eval_files(SimpleNamespace(eval_dir=eval_dir, data_dir=data_dir))[0]
    if qfile is None:
        raise ExportError(f"{run}: no eval_after.json and no held-out queries to calibrate the threshold on")
    return evaluate_retrieval(Index(model, index_rows(config)), read_queries(qfile))[1], f"{qfile}, evaluated now"


def heldout_pairs(run: Path) -> list:
    """The held-out scored pairs the run was evaluated on (eval_after.json names the file), or []."""
    from svtune.data.formats import read_pairs
    after = run / "eval_after.json"
    files = (json.loads(after.read_text()).get("summary") or {}).get("files") or {} if after.is_file() else {}
    path = files.get("pairs")
    return read_pairs(Path(path)) if path and Path(path).is_file() else []


def calibrate_run(run: Path, config: dict, model, index_emb: np.ndarray) -> dict:
    """The threshold for this model on this index: held-out answers against nonsense top-1 scores."""
    from svtune.eval.evaluate import NONSENSE_QUERIES
    nonsense = list(dict.fromkeys([*NONSENSE_QUERIES, *read_nonsense()]))
    scores = top1_scores(model.encode(nonsense), index_emb)
    details, source = heldout_details(run, config, model)
    out = calibration(expected_scores(details), scores.tolist())
    out.update(heldout_from=source, nonsense_searched="this bundle's embeddings.csv",
               nonsense_best=dict(zip(nonsense, map(float, scores))))
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
    cal = calibrate_run(run, config, model, emb)
    _write(work / "calibration.json", cal)
    model_name, index_name = names_for(run)
    gcs_folder = gcs_folder or f"gs://{DEFAULT_BUCKET}/{model_name}"
    source = Path(index).resolve() if index is not None else dest / "input"
    _write(work / "catalog.yaml", catalog_entries(model_name, index_name, dest / "embeddings.csv", source,
                                                  gcs_folder, cal["threshold"]), "yaml")
    # A custom DC searches its own index and Data Commons' medium_ft; this index takes the place of its own.
    _write(work / "custom_dc_env.yaml", {"default_indexes": [index_name, "medium_ft"],
                                         "enabled_indexes": [index_name, "medium_ft"]}, "yaml")
    (work / "env.list").write_text(f"ADDITIONAL_CATALOG_PATH={dest / 'catalog.yaml'}\n", encoding="utf-8")
    speed = None
    if onnx or int8:
        queries = [(q["query"], q["expected"]) for q in heldout_details(run, config, model)[0]]
        speed = add_onnx(run, model, work / "model" / "onnx", onnx, int8, queries, index_rows(config),
                         heldout_pairs(run), cal["threshold"])
    if speed:
        _write(work / "speed.json", speed)
    (work / "README.md").write_text(readme_text(run, dest, model_name, index_name, gcs_folder, cal, speed),
                                    encoding="utf-8")


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
    dest = paths.resolve(to)
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest} already exists (use --overwrite to replace it)")
    if gcs_folder is not None and not re.fullmatch(r"gs://[^/]+/.+", gcs_folder):
        raise ExportError(f"gcs_folder must be gs://bucket/path (the server refuses anything else), not {gcs_folder!r}")
    if index is not None and not Path(index).is_dir():
        raise ExportError(f"--index {index} is not a folder of dcid,sentence CSV files")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        _build(run, config, work, dest, index, onnx, int8, gcs_folder)
        _replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _log(f"exported {run.name} to {dest}")
    return dest

