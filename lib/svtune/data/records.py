"""What a catalog is made of, and how texts are told apart: the records every reader of the data shares.

    StatVar, CuratedPair, Catalog        # a catalog item, a hand-curated scored pair, the whole catalog
    text_key("  Poverty ")               # "poverty": the identity of a text (case-insensitive, trimmed)
    pair_key(a, b)                       # the identity of a pair, either order
    read_sentence_pairs(path)            # a curated pairs file (`sentence_1,sentence_2,score`), checked
    read_all_pairs(data_dir, held=...)   # sentence_pairs.csv joined with the playground's curation file

The catalog readers (catalog.py, custom_dc.py), the leak rule (leaks.py), the held-out descriptions
(heldout.py), mining and evaluation all import these from here; nothing here imports them back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from svtune.data.csvio import DataError, parse_score, read_rows
from svtune.data.topics import Hierarchy

PAIR_COLUMNS = ["sentence_1", "sentence_2", "score"]
PAIRS_FILE = Path("finetuning") / "sentence_pairs.csv"          # hand-curated; only ever read
CURATION_FILE = Path("finetuning") / "curated_pairs_playground.csv"   # the playground's labels (data/curation.py)
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


def text_key(text: str) -> str:
    """Case-insensitive identity of a text: how pairs, batches, negatives and the leak rule tell texts apart."""
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


def read_all_pairs(data_dir: Path, files: list[Path] | None = None, notes: list[str] | None = None,
                   held=None) -> list[CuratedPair]:
    """finetuning/sentence_pairs.csv joined with the playground's curation file (CURATION_FILE, when
    present): a curation row overrides the same pair in sentence_pairs.csv (the playground asked before
    writing it). With `held` (a leaks.HeldOut: catalog.load_catalog passes the run's), a held-out query or
    held-out pair in either file is a DataError with file and line (a known row of Data Commons' read-only
    file is dropped with a note), and the curation file may hold no held-out text at all (the playground
    refuses them before writing)."""
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
