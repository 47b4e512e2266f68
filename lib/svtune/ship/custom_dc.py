"""Write a run back where a custom Data Commons' NL server looks: its output folder's nl/embeddings/.

    svtune export RUN --to-custom-dc OUTPUT_FOLDER [--dc-index PATH | --owner-only]
                      [--gcs-folder gs://YOUR_BUCKET/PATH] [--cache-root DIR]
    export_custom_dc(run, output_folder, gcs_folder=None, cache_root=None, dc_index=None, owner_only=False)

A custom DC searches two indexes and merges them by raw cosine under the first one's threshold
(../shared/datacommons/serving.md): the owner's (user_all_minilm_mem) and Data Commons' medium_ft. So by
default both are written, encoded by the one tuned model, and registered in one custom_catalog.yaml (read
after Data Commons' own catalog, it overrides medium_ft by name):
  nl/embeddings/embeddings.csv        the owner's sentences (the folder's nl/sentences.csv, else the run's
                                      custom DC by the importer's rule, held-out ones included), fresh
  nl/embeddings/medium_ft/embeddings.csv  Data Commons' medium index (--dc-index: its dcid,sentence input or
                                      the server's own medium_ft embeddings.csv; default the run's dc_index)
  nl/embeddings/custom_catalog.yaml   version "1", both indexes naming the tuned model, whose entry carries
                                      the threshold the run calibrated on the merged search (eval/served.py)
--owner-only writes the owner's index alone (medium_ft keeps Data Commons' 2023 model).
The model: with --gcs-folder it is uploaded there (svtune publish's upload: read back, then moved into place);
else it is placed at <cache root>/<bucket>/<path> for the catalog's gcs_folder (--cache-root, else
/workspace/nl_cache where that exists, else a private outputs/nl_cache), under the bucket LOCAL_BUCKET that
nobody can own (server_files.py). Each file is written beside its final name and renamed into place; the one
it replaces is kept as <name>.previous. No vector is taken from an older file. The model keeps the run's
own name: the server's catalog merges models by name.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path, PurePosixPath

import yaml

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError, read_text
from svtune.data.custom_dc import SENTENCES, custom_dc_kind
from svtune.data.formats import read_index
from svtune.data.served import owner_rows
from svtune.ship import publish as pub
from svtune.ship.convert import ExportError, _log, check_same, convert_model
from svtune.ship.export import calibrate_run, index_rows, run_data, server_table, write_embeddings
from svtune.ship.publish import PublishError, check_run
from svtune.ship.server_files import CACHE_ROOTS, CATALOG_VERSION, LOCAL_BUCKET, names_for

EMBEDDINGS = Path("nl") / "embeddings"
INDEX = "user_all_minilm_mem"    # the importer's index, a default index of custom_dc_env.yaml
DC_INDEX = "medium_ft"           # Data Commons' index a custom DC searches beside it
DC_EMBEDDINGS = Path(DC_INDEX) / "embeddings.csv"
GCS = re.compile(r"gs://[^/]+/.+")
PRIVATE_CACHE = "nl_cache"       # under outputs/, mode 0700, where the server's /workspace/nl_cache is absent


def owner_index(config: dict, out: Path) -> tuple[list[tuple[str, str]], str]:
    """(sentence, dcid) rows of the owner's sentences, and where they come from."""
    if (out / SENTENCES).exists():
        return read_index(out / SENTENCES)[0], str(out / SENTENCES)
    data_dir, size = run_data(config)
    if not custom_dc_kind(data_dir):
        return index_rows(config), f"the run's catalog {data_dir}"
    catalog = load_catalog(data_dir, size, warn=False, heldout_seed=None)   # every sentence is served
    return owner_rows(catalog), f"{data_dir} (every text of each variable: name, description, searchDescriptions)"


def _read_yaml(old: Path) -> dict:
    if not old.is_file():
        return {}
    try:
        doc = yaml.safe_load(read_text(old)) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise DataError(f"invalid YAML ({getattr(e, 'problem', e)})", old, mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict):
        raise DataError("expected a mapping with indexes: and models:", old, 1)
    return doc


def catalog_doc(old: Path, model_name: str, embeddings: Path, source: Path, gcs_folder: str,
                threshold: float, dc: Path | None = None) -> dict:
    """custom_catalog.yaml: version "1", an existing file's entries kept, its index pointed at the tuned
    model; with `dc` (its input file) also medium_ft, served by the same model, its embeddings beside the owner's."""
    doc = _read_yaml(old)
    indexes, models = dict(doc.get("indexes") or {}), dict(doc.get("models") or {})
    owner = [k for k in indexes if k != DC_INDEX]
    name = owner[0] if len(owner) == 1 else INDEX
    entry = {"store_type": "MEMORY", "source_path": str(source), "embeddings_path": str(embeddings),
             "healthcheck_query": "Life expectancy", **(indexes.get(name) or {})}
    indexes[name] = {**entry, "model": model_name}
    if dc is not None:   # beside the owner's file as the server sees it (an existing catalog's own path form)
        seen = PurePosixPath(str(indexes[name]["embeddings_path"])).parent / DC_EMBEDDINGS.as_posix()
        indexes[DC_INDEX] = {"store_type": "MEMORY", "source_path": str(dc), "embeddings_path": str(seen),
                             "model": model_name, "healthcheck_query": "Life expectancy"}
    else:
        indexes.pop(DC_INDEX, None)   # --owner-only: Data Commons' own medium_ft, with its own model
    models[model_name] = {"type": "LOCAL", "usage": "EMBEDDINGS", "gcs_folder": gcs_folder,
                          "score_threshold": float(threshold)}
    rest = {k: v for k, v in doc.items() if k not in ("version", "indexes", "models")}
    return {"version": CATALOG_VERSION, **rest, "indexes": indexes, "models": models}


def cache_root_for(cache_root: Path | str | None = None) -> Path:
    """The named root, else the server image's /workspace/nl_cache, else a private folder under outputs/
    (never a predictable path in world-writable /tmp)."""
    if cache_root:
        return Path(cache_root)
    if Path(CACHE_ROOTS[0]).is_dir():
        return Path(CACHE_ROOTS[0])
    root = paths.OUTPUTS_DIR / PRIVATE_CACHE
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    return root


def cache_path(gcs_folder: str, cache_root: Path | str | None = None) -> Path:
    """Where the server looks on local disk for `gcs_folder` before downloading it."""
    return cache_root_for(cache_root) / gcs_folder.removeprefix("gs://")


def publish_model(model_dir: Path, gcs_folder: str) -> None:
    """The model folder's files at `gcs_folder` itself (where the server loads it), with svtune publish's
    upload: to a partial name, read back and checked, then moved into place."""
    try:
        fs, dest = pub.filesystem(gcs_folder)
    except PublishError as e:   # gcsfs not installed: one line, exit 2, nothing replaced
        raise ExportError(str(e)) from None
    pub.put_folder(fs, dest.rstrip("/"), model_dir, pub.bundle_files(model_dir), overwrite=True)


def replace_keeping(new: Path, final: Path) -> None:
    """`new` takes the name `final`; what was there is kept as `<final>.previous` (an older one removed)."""
    previous = final.with_name(final.name + ".previous")
    if final.exists():
        if previous.is_dir() and not previous.is_symlink():
            shutil.rmtree(previous)
        elif previous.exists() or previous.is_symlink():
            previous.unlink()
        if final.is_dir():
            os.replace(final, previous)
        else:
            shutil.copy2(final, previous)   # the old file stays under its name until the new one replaces it
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(new, final)


def dc_source(config: dict, dc_index: Path | str | None, owner_only: bool) -> Path | None:
    """Data Commons' medium index input to re-encode: --dc-index, else the run's own dc_index."""
    if owner_only:
        return None
    chosen = dc_index or (config.get("params") or {}).get("dc_index")
    if not chosen:
        raise ExportError("this run names no Data Commons index (-p dc_dir): pass --dc-index PATH (medium_ft's "
                          "dcid,sentence input, or the server's medium_ft embeddings.csv), or --owner-only to "
                          "write the owner's index alone")
    path = Path(chosen)
    if not path.is_file():
        raise ExportError(f"--dc-index {path}: no such file (a dcid,sentence CSV or an embeddings.csv)")
    return path


def _check(run: Path, out: Path, gcs_folder: str | None) -> dict:
    try:
        config = check_run(run)
    except PublishError as e:
        raise ExportError(str(e)) from None
    if gcs_folder is not None and not GCS.fullmatch(gcs_folder):
        raise ExportError(f"gcs_folder must be gs://bucket/path (the server refuses anything else), not {gcs_folder!r}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, expected the custom Data Commons output folder")
    return config


def served_threshold(run: Path, config: dict, both: bool) -> dict | None:
    """The threshold the run calibrated on its served search, (c) for both indexes, (b) for the owner's alone:
    right answers and nonsense queries from the same merged index, graded on the other half."""
    metrics = run / runs.METRICS
    served = runs.read_metrics(run).get("served") if metrics.is_file() else None
    if not served or (both and served.get("files", {}).get("dc_index") != (config.get("params") or {}).get("dc_index")):
        return None
    c = served["configs"]["c" if both else "b"]
    return {"threshold": c["threshold"], "rule": c["threshold_rule"], "from": f"{metrics} (served search, "
            f"configuration {'c' if both else 'b'})", "answered@10": {s: c[s]["answered@10"] for s in ("owner", "dc")}}


def _encode_write(model, rows, path: Path, what: str) -> tuple:
    sentences, dcids = server_table(rows)
    if not sentences:
        raise ExportError(f"no sentences to index in {what}")
    _log(f"encoding {len(sentences):,} distinct sentences from {what}")
    emb = model.encode(sentences, show_progress_bar=len(sentences) > 2000)   # as the server: raw
    path.parent.mkdir(parents=True, exist_ok=True)
    write_embeddings(path, emb, sentences, dcids)
    return sentences, emb


def export_custom_dc(run_dir: Path | str, output_folder: Path | str, gcs_folder: str | None = None,
                     cache_root: Path | str | None = None, dc_index: Path | str | None = None,
                     owner_only: bool = False) -> dict:
    """Write the tuned model's indexes into a custom DC's output folder (module docstring); returns
    {embeddings, dc_embeddings, catalog, model_at, gcs_folder, threshold, sentences, published, next}."""
    run, out = Path(run_dir), paths.resolve(output_folder)
    config = _check(run, out, gcs_folder)
    dc = dc_source(config, dc_index, owner_only)
    dc_rows = read_index(dc)[0] if dc else None
    rows, source = owner_index(config, out)
    target = out / EMBEDDINGS
    model_name, _ = names_for(run)
    gcs = gcs_folder or f"gs://{LOCAL_BUCKET}/{model_name}"
    old_yaml = target / "custom_catalog.yaml"
    catalog_doc(old_yaml, model_name, target / "embeddings.csv", out / "nl", gcs, 0.5)   # a bad file: refused now
    target.mkdir(parents=True, exist_ok=True)
    work = target / f".svtune-partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        _log(f"converting {run / 'model'} for sentence-transformers 2.7.0")
        model = convert_model(run / "model", work / "model")
        check_same(model, work / "model", [s for s, _ in rows[:64]])
        sentences, _ = _encode_write(model, rows, work / "embeddings.csv", source)
        if dc_rows:
            _encode_write(model, dc_rows, work / DC_EMBEDDINGS, f"Data Commons' index {dc}")
        cal = served_threshold(run, config, bool(dc_rows)) or calibrate_run(run, config, model)
        doc = catalog_doc(old_yaml, model_name, target / "embeddings.csv", out / "nl", gcs, cal["threshold"],
                          dc.resolve() if dc_rows else None)
        (work / "custom_catalog.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        model_at = _place_model(work / "model", gcs, gcs_folder, cache_root)
        names = ["embeddings.csv", *([str(DC_EMBEDDINGS)] if dc_rows else []), "custom_catalog.yaml"]
        for name in names:   # the catalog last: it never names a file that is not in place yet
            replace_keeping(work / name, target / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    done = {"embeddings": target / "embeddings.csv", "dc_embeddings": target / DC_EMBEDDINGS if dc_rows else None,
            "dc_sentences": len(server_table(dc_rows)[0]) if dc_rows else 0, "catalog": target / "custom_catalog.yaml",
            "model_at": model_at, "gcs_folder": gcs, "threshold": cal["threshold"], "threshold_from":
            cal.get("from", "calibrated now on the owner's index"), "sentences": len(sentences),
            "published": gcs_folder is not None and cache_root is None}
    done["next"] = next_line(done)
    return done


def _place_model(model_dir: Path, gcs: str, gcs_folder: str | None, cache_root) -> Path | str:
    """Upload to the owner's bucket (--gcs-folder alone), else place at the cache path the server reads."""
    if gcs_folder is not None and cache_root is None:
        _log(f"publishing the model to {gcs_folder}")
        publish_model(model_dir, gcs_folder)
        return gcs_folder
    model_at = cache_path(gcs, cache_root)
    model_at.parent.mkdir(parents=True, exist_ok=True)
    replace_keeping(model_dir, model_at)
    return model_at


def next_line(done: dict) -> str:
    """The one command the owner runs next: the NL server reloads its catalog when it restarts."""
    bucket_path = done["gcs_folder"].removeprefix("gs://")
    where = ("" if done["published"] else
             f"; it must see {done['model_at']} as {CACHE_ROOTS[0]}/{bucket_path}: run the container with "
             f"-v {str(done['model_at']).removesuffix('/' + bucket_path)}:{CACHE_ROOTS[0]}")
    return (f"docker restart <your Data Commons services container>   # with RESOLVE_WITH_SPANNER_EMBEDDINGS=false "
            f"and ENABLE_MODEL=true its NL server loads {done['catalog']} through ADDITIONAL_CATALOG_PATH{where}")


def report(done: dict) -> str:
    """What was done, in a few lines, ending with the one next command."""
    how = (f"published the model to {done['gcs_folder']}" if done["published"] else
           f"placed the model at {done['model_at']}, the server's local cache path for {done['gcs_folder']}")
    which = (f"both indexes, one model: wrote {done['dc_embeddings']} (Data Commons' medium_ft, "
             f"{done['dc_sentences']:,} sentences, re-encoded by the tuned model)" if done["dc_embeddings"] else
             "the owner's index only (--owner-only): medium_ft keeps Data Commons' 2023 model, and the "
             "threshold below applies to its matches too")
    return "\n".join([f"wrote {done['embeddings']} ({done['sentences']:,} sentences, encoded fresh by the tuned model)",
                      which, f"wrote {done['catalog']} (version 1, score_threshold {done['threshold']}, from "
                      f"{done['threshold_from']}); old files kept as *.previous", how,
                      "Re-run this export after every import: the importer rewrites nl/embeddings with its own model.",
                      f"next: {done['next']}"])
