"""Load and validate a StatVar catalog folder (the Data Commons fine-tuning layout).

    <data_dir>/curated_input/*.csv        dcid,Name,Description,Override_Alternatives,Curated_Alternatives
    <data_dir>/autogen_input/<size>/*.csv same columns; included for that size (medium also takes small)
    <data_dir>/alternatives/*.csv         dcid,Alternatives  (joined to the catalog by dcid)
    <data_dir>/finetuning/sentence_pairs.csv  sentence_1,sentence_2,score
    <data_dir>/finetuning/curated_pairs_playground.csv  same columns, the playground's labels (data/curation.py)
    <data_dir>/topics/*.json|*.csv        optional topic hierarchy (topics.py)
A custom Data Commons folder (config.json, or an importer's nl/sentences.csv) is read by custom_dc.py's
readers into the same Catalog (load_custom_dc). The records themselves (StatVar, CuratedPair, Catalog) and
the curated pairs files' reader are in records.py.

Every problem stops with a DataError naming file, line and column, except an
alternatives dcid that is not in the catalog: that is warned about and counted.
A dcid defined twice with the same Name and Description is kept once; defined twice
with different text it is an error naming both places (which one is right is the
curator's call, not ours); so is one curated pair labelled twice with different scores
(either order, case-insensitive). Topics that reach the catalog's StatVars become catalog
items too (their name and alternatives are searchable, as in Data Commons' index);
peer groups only relate StatVars. Input files are only ever read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from svtune.data.csvio import DataError, glob_files, read_rows, split_list
from svtune.data.custom_dc import (
    CONFIG,
    PAIRS,
    SENTENCES,
    custom_dc_kind,
    custom_dc_topics,
    has_eval,
    read_config,
    read_sentences,
)
from svtune.data.heldout import hold_out
from svtune.data.leaks import HeldOut
from svtune.data.records import Catalog, StatVar, read_all_pairs, read_sentence_pairs
from svtune.data.topics import TOPIC, Hierarchy, read_topics, restrict

CATALOG_COLUMNS = ["dcid", "Name", "Description", "Override_Alternatives", "Curated_Alternatives"]
CATALOG_REQUIRED = ["dcid", "Name", "Description"]
# Which autogen_input sub-folders each size reads; `tiny` is `small` cut down for smoke tests.
SIZE_AUTOGEN = {"tiny": ["small"], "small": ["small"], "medium": ["small", "medium"]}
SIZES = tuple(SIZE_AUTOGEN)


def _require_files(folder: Path, what: str) -> list[Path]:
    files = glob_files(folder)
    if not files:
        raise DataError(f"no CSV files for the {what} (expected {folder}/*.csv)", folder)
    return files


def _read_statvars(path: Path, autogen: bool, out: dict[str, StatVar], notes: list[str]) -> None:
    for row in read_rows(path, CATALOG_REQUIRED, optional=CATALOG_COLUMNS):
        c = row.cells
        dcid = c["dcid"].strip()
        if not dcid:
            raise DataError("empty dcid", path, row.line, "dcid")
        name, descs = c["Name"].strip(), split_list(c["Description"])
        alts = split_list(c["Curated_Alternatives"])
        overrides = split_list(c["Override_Alternatives"])
        if not name and not descs and not alts and not overrides:
            raise DataError(f"StatVar {dcid} has no text at all (Name, Description and alternatives "
                            "are all empty)", path, row.line, "Name")
        if dcid in out:
            first = out[dcid]
            if (first.name, first.descriptions) != (name, descs):
                what = "Name" if first.name != name else "Description"
                raise DataError(f"dcid {dcid} is defined again with a different {what} ({name or descs!r}); "
                                f"first at {first.file}, line {first.line} ({first.name or first.descriptions!r}): "
                                "keep one definition", path, row.line, what)
            notes.append(f"{path}, line {row.line}: dcid {dcid} repeats {first.file}, line {first.line}; kept once")
            continue
        out[dcid] = StatVar(dcid, name, descs, overrides, alts, file=str(path), line=row.line, autogen=autogen)


def load_catalog(data_dir: Path | str, size: str = "small", max_statvars: int | None = None,
                 warn: bool = True, heldout_seed: int | None = 42, eval_dir: str = "") -> Catalog:
    """Read the catalog of `size` from `data_dir`, validated; see the module docstring. A custom Data
    Commons folder (config.json, or an importer's nl/sentences.csv) is read by data/custom_dc.py, which
    holds out search descriptions with `heldout_seed` when it has no eval/ (None: hold out nothing).
    Curated pairs are checked against the held-out sets `eval_dir` names (data/leaks.py: heldout_folder)."""
    if size not in SIZE_AUTOGEN:
        raise DataError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("is a file, expected the data folder" if data_dir.exists() else "data folder not found",
                        data_dir)
    kind = custom_dc_kind(data_dir)
    if kind:
        catalog = load_custom_dc(data_dir, kind, max_statvars, heldout_seed=heldout_seed, eval_dir=eval_dir)
        for n in catalog.warnings if warn else []:
            warnings.warn(n, stacklevel=2)
        return catalog
    files: list[Path] = []
    notes: list[str] = []
    statvars: dict[str, StatVar] = {}
    for f in _require_files(data_dir / "curated_input", "curated catalog"):
        _read_statvars(f, False, statvars, notes)
        files.append(f)
    for sub in SIZE_AUTOGEN[size]:
        folder = data_dir / "autogen_input" / sub
        # autogen_input/small is optional; autogen_input/medium is required for medium.
        autogen_files = (glob_files(folder) if sub == "small"
                         else _require_files(folder, f"{sub} autogenerated StatVars"))
        for f in autogen_files:
            _read_statvars(f, True, statvars, notes)
            files.append(f)
    if max_statvars is not None:
        statvars = dict(list(statvars.items())[:max_statvars])

    unknown = 0
    for f in _require_files(data_dir / "alternatives", "alternatives"):
        files.append(f)
        for row in read_rows(f, ["dcid", "Alternatives"]):
            dcid = row.cells["dcid"].strip()
            if dcid not in statvars:
                unknown += 1
                continue
            statvars[dcid].other_alternatives.extend(split_list(row.cells["Alternatives"]))
    if unknown and max_statvars is None:
        notes.append(f"{unknown} alternatives row(s) name a dcid that is not in the {size} catalog; ignored")

    held = HeldOut.of(data_dir, eval_dir)
    pairs = read_all_pairs(data_dir, files, notes, held=held)
    hierarchy = _add_topics(data_dir / "topics", statvars, files, notes)
    if warn:
        for n in notes:
            warnings.warn(n, stacklevel=2)
    catalog = Catalog(statvars, pairs, files, notes, unknown, hierarchy)
    catalog.heldout_shared = held.shared(pairs)
    return catalog


def _add_topics(folder: Path, statvars: dict[str, StatVar], files: list[Path], notes: list[str]) -> Hierarchy | None:
    """Read the topic hierarchy if there is one; its topics that reach the catalog become items."""
    topic_files = glob_files(folder, "*.json") + glob_files(folder, "*.csv")
    if not topic_files:
        return None
    files.extend(topic_files)
    return attach_topics(read_topics(folder, notes), statvars)


def attach_topics(topics, statvars: dict[str, StatVar]) -> Hierarchy:
    """The topics (read_topics) restricted to `statvars`, as a Hierarchy; its topics become searchable
    catalog items. Members outside this catalog are routine (one hierarchy, several sizes): counted only."""
    hierarchy = restrict(topics, {d for d, sv in statvars.items() if not sv.topic})
    for t in hierarchy.topics.values():
        if t.kind != TOPIC:
            continue
        sv = statvars.get(t.dcid)
        if sv is None:
            statvars[t.dcid] = StatVar(t.dcid, t.name, [], [], list(t.alternatives), file=t.file, line=t.line,
                                       topic=True)
        else:   # a catalog row for the topic keeps its texts and gains the hierarchy's
            sv.topic = True
            sv.curated_alternatives += [a for a in [t.name, *t.alternatives] if a not in sv.sentences()]
    return hierarchy


def load_custom_dc(folder: Path, kind: str, max_statvars: int | None = None, notes: list[str] | None = None,
                   heldout_seed: int | None = 42, eval_dir: str = "") -> Catalog:
    """The Catalog of a custom DC folder (custom_dc.py reads its files). With `heldout_seed` and no eval/
    of its own, one search description of each variable with at least 3 is held out (heldout.py), chosen
    from the whole catalog before `max_statvars` cuts it."""
    notes = [] if notes is None else notes
    source = folder / (CONFIG if kind == "config" else SENTENCES)
    files = [source]
    if kind == "config":
        statvars, groups = read_config(source, notes)
    else:
        statvars, groups = read_sentences(source, notes), {}
    if not statvars:
        raise DataError("no variable with a name or search descriptions", source)
    pairs, held = [], HeldOut.of(folder, eval_dir)   # its own eval/ or `eval_dir` (leaks.heldout_folder)
    if (folder / PAIRS).exists():
        pairs = held.screen(read_sentence_pairs(folder / PAIRS), notes)
        files.append(folder / PAIRS)
    topics = custom_dc_topics(folder, groups, source, files, notes)
    heldout = None
    if heldout_seed is not None and not has_eval(folder):   # topic names are searched and trained on too
        heldout = hold_out(statvars, pairs, heldout_seed, also=[t.name for t in topics.values()])
    if max_statvars is not None:
        statvars = dict(list(statvars.items())[:max_statvars])
    hierarchy = attach_topics(topics, statvars) if topics else None
    catalog = Catalog(statvars, pairs, files, notes, 0, hierarchy, heldout_shared=held.shared(pairs))
    catalog.heldout_queries = heldout
    return catalog
