"""Load and validate a StatVar catalog folder (the Data Commons fine-tuning layout).

    <data_dir>/curated_input/*.csv        dcid,Name,Description,Override_Alternatives,Curated_Alternatives
    <data_dir>/autogen_input/<size>/*.csv same columns; included for that size (medium also takes small)
    <data_dir>/alternatives/*.csv         dcid,Alternatives  (joined to the catalog by dcid)
    <data_dir>/finetuning/sentence_pairs.csv  sentence_1,sentence_2,score
    <data_dir>/finetuning/curated_pairs_playground.csv  same columns, the playground's labels (data/curation.py)
    <data_dir>/topics/*.json|*.csv        optional topic hierarchy (topics.py)
A custom Data Commons folder (config.json, or an importer's nl/sentences.csv) is read by custom_dc.py.

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

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from svtune.data.csvio import DataError, glob_files, parse_score, read_rows, split_list
from svtune.data.leaks import HeldOut
from svtune.data.topics import TOPIC, Hierarchy, read_topics, restrict

CATALOG_COLUMNS = ["dcid", "Name", "Description", "Override_Alternatives", "Curated_Alternatives"]
CATALOG_REQUIRED = ["dcid", "Name", "Description"]
PAIR_COLUMNS = ["sentence_1", "sentence_2", "score"]
PAIRS_FILE = Path("finetuning") / "sentence_pairs.csv"          # hand-curated; only ever read
CURATION_FILE = Path("finetuning") / "curated_pairs_playground.csv"   # the playground's labels (data/curation.py)
# Which autogen_input sub-folders each size reads; `tiny` is `small` cut down for smoke tests.
SIZE_AUTOGEN = {"tiny": ["small"], "small": ["small"], "medium": ["small", "medium"]}
SIZES = tuple(SIZE_AUTOGEN)
# Two labels of one pair closer than this are the same label (a duplicate row, not a contradiction).
LABEL_TOLERANCE = 1e-9


@dataclass
class StatVar:
    dcid: str
    name: str
    descriptions: list[str]
    override_alternatives: list[str]
    curated_alternatives: list[str]
    other_alternatives: list[str] = field(default_factory=list)  # from alternatives/*.csv
    file: str = ""
    line: int | None = None
    autogen: bool = False
    topic: bool = False      # a Data Commons topic: searchable like a StatVar, and a group of them

    def sentences(self) -> list[str]:
        """Every text that describes this StatVar (what a search index holds), deduplicated."""
        seen, out = set(), []
        for s in [self.name, *self.descriptions, *self.override_alternatives,
                  *self.curated_alternatives, *self.other_alternatives]:
            if s and s.lower() not in seen:
                seen.add(s.lower())
                out.append(s)
        return out


@dataclass
class CuratedPair:
    sentence_1: str
    sentence_2: str
    score: float
    file: str
    line: int


@dataclass
class Catalog:
    statvars: dict[str, StatVar]
    pairs: list[CuratedPair]
    files: list[Path]
    warnings: list[str] = field(default_factory=list)
    unknown_alternative_dcids: int = 0
    hierarchy: Hierarchy | None = None
    # A custom Data Commons without eval/ (data/custom_dc.py): its held-out search descriptions
    # [(text, [dcid])], never trained on; None for every other catalog.
    heldout_queries: list | None = None
    # Curated pairs that share a text with a held-out pair without being one: counted, not refused (leaks.py).
    heldout_shared: int = 0

    @property
    def num_statvars(self) -> int:
        return sum(1 for sv in self.statvars.values() if not sv.topic)

    @property
    def num_topics(self) -> int:
        return sum(1 for sv in self.statvars.values() if sv.topic)

    def sha256(self) -> dict[str, str]:
        """sha256 of every input file read, for the run's config.json."""
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files}


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
    from svtune.data.custom_dc import custom_dc_kind, load_custom_dc
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

    pairs = read_all_pairs(data_dir, files, notes, eval_dir=eval_dir)
    hierarchy = _add_topics(data_dir / "topics", statvars, files, notes)
    if warn:
        for n in notes:
            warnings.warn(n, stacklevel=2)
    catalog = Catalog(statvars, pairs, files, notes, unknown, hierarchy)
    catalog.heldout_shared = HeldOut.of(data_dir, eval_dir).shared(pairs)
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


def text_key(text: str) -> str:
    """Case-insensitive identity of a text: how pairs, batches and negatives tell texts apart."""
    return text.strip().lower()


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Order-free, case-insensitive identity of a pair."""
    a, b = text_key(a), text_key(b)
    return (a, b) if a <= b else (b, a)


def check_pair_labels(pairs: list[CuratedPair]) -> None:
    """A pair labelled twice with different scores is a DataError naming both rows: which label is
    right is the curator's call. Same-score repeats are duplicates, merged when mining."""
    first: dict[tuple[str, str], CuratedPair] = {}
    for p in pairs:
        old = first.setdefault(pair_key(p.sentence_1, p.sentence_2), p)
        if abs(old.score - p.score) > LABEL_TOLERANCE:
            where = {"earlier_line": old.line} if old.file == p.file else {}
            elsewhere = "" if where else f" (first at {old.file}, line {old.line})"
            raise DataError(f"the pair {old.sentence_1!r} ~ {old.sentence_2!r} is labelled {old.score} and "
                            f"{p.score}{elsewhere}; keep one", Path(p.file), p.line, **where)


def read_all_pairs(data_dir: Path, files: list[Path] | None = None, notes: list[str] | None = None,
                   check_leaks: bool = True, eval_dir: str = "") -> list[CuratedPair]:
    """finetuning/sentence_pairs.csv joined with the playground's curation file (CURATION_FILE, when
    present): a curation row overrides the same pair in sentence_pairs.csv (the playground asked before
    writing it). With `check_leaks` (data/leaks.py), a held-out query or held-out pair in either file is a
    DataError with file and line (a known row of Data Commons' read-only file is dropped with a note), and
    the curation file may hold no held-out text at all (the playground refuses them before writing)."""
    held = HeldOut.of(data_dir, eval_dir) if check_leaks else None
    pairs_file, curated_file = data_dir / PAIRS_FILE, data_dir / CURATION_FILE
    pairs = read_sentence_pairs(pairs_file)
    if held is not None:
        pairs = held.screen(pairs, notes)
    files = [] if files is None else files
    files.append(pairs_file)
    if not curated_file.exists():
        return pairs
    curated = read_sentence_pairs(curated_file)
    files.append(curated_file)
    if held is not None:
        held.refuse(curated)
    mine = {pair_key(p.sentence_1, p.sentence_2) for p in curated}
    kept = [p for p in pairs if pair_key(p.sentence_1, p.sentence_2) not in mine]
    if notes is not None and len(kept) < len(pairs):
        notes.append(f"{len(pairs) - len(kept)} pair(s) of {pairs_file} relabelled in {curated_file}")
    return kept + curated


def read_sentence_pairs(path: Path | str) -> list[CuratedPair]:
    """Scored pairs `sentence_1,sentence_2,score`, every score checked to be in [0, 1] and every
    pair labelled consistently (check_pair_labels)."""
    path = Path(path)
    out = []
    for row in read_rows(path, PAIR_COLUMNS):
        c = row.cells
        for col in ("sentence_1", "sentence_2"):
            if not c[col].strip():
                raise DataError("empty sentence", path, row.line, col)
        out.append(CuratedPair(c["sentence_1"].strip(), c["sentence_2"].strip(),
                               parse_score(c["score"].strip(), path, row.line), str(path), row.line))
    check_pair_labels(out)
    return out
