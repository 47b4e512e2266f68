"""Write a curator's labels (query ~ result text, score) to the catalog's curation file, safely.

    from svtune.data.curation import Curator
    cur = Curator(data_dir)                       # eval_dir= as the run's (for the leak rule)
    r = cur.add("poor families", "People Below Poverty Level", 1.0)
    r.status      # "added" | "duplicate" | "needs_confirm" (nothing written; add(..., confirm=True) replaces)
    cur.undo()    # reverts the last write; cur.history is the undo list, newest last

The file: <data_dir>/finetuning/curated_pairs_playground.csv (records.CURATION_FILE), in the layout of
sentence_pairs.csv, which the catalog reader joins with it (a row here overrides the same pair there).
A second file, not sentence_pairs.csv itself: a user's hand-made file is never rewritten.
Every write is validated (non-empty one-line texts, two different texts, a score in [0, 1]), refused
when a text is held out (data/leaks.py), deduplicated (the same pair, either order, case-insensitive, at
the same score in either file), checked for contradictions (the same pair at another score in either file
asks first: status "needs_confirm"), and atomic (a temporary file beside it, then os.replace). The file is
read again before every write, so hand edits in between are kept; a file that does not parse is never
overwritten. A refusal raises Refused (a ValueError) with a one-line reason.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from svtune.data.csvio import DataError
from svtune.data.leaks import HeldOut
from svtune.data.records import (
    CURATION_FILE,
    LABEL_TOLERANCE,
    PAIR_COLUMNS,
    PAIRS_FILE,
    CuratedPair,
    pair_key,
    read_sentence_pairs,
)

# The seed's four grades: button label -> score.
GRADES = {"same thing": 1.0, "related, lower priority": 0.5, "weak link": 0.2, "wrong: push apart": 0.01}


class Refused(ValueError):
    """A label that cannot be written; str() is the one-line reason."""


@dataclass
class Result:
    status: str                       # added | replaced | duplicate | needs_confirm
    message: str
    pair: tuple[str, str, float]
    existing: CuratedPair | None = None


@dataclass
class Change:
    """One write, as the undo list shows it: `old` is the score replaced (None: the row was new)."""
    sentence_1: str
    sentence_2: str
    score: float
    old: float | None = None

    def __str__(self) -> str:
        was = "" if self.old is None else f" (was {self.old:g})"
        return f"{self.sentence_1} ~ {self.sentence_2}: {self.score:g}{was}"


def validate(a: str, b: str, score) -> tuple[str, str, float]:
    """(a, b, score) trimmed and checked, or Refused with the reason."""
    a, b = (str(a or "").strip(), str(b or "").strip())
    for name, t in (("query", a), ("result text", b)):
        if not t:
            raise Refused(f"the {name} is empty")
        if any(c in t for c in "\r\n"):
            raise Refused(f"the {name} holds a line break")
    if a.lower() == b.lower():
        raise Refused(f"{a!r} would be paired with itself")
    try:
        score = float(score)
    except (TypeError, ValueError):
        raise Refused(f"score {score!r} is not a number") from None
    if not 0.0 <= score <= 1.0:
        raise Refused(f"score {score} lies outside [0, 1]")
    return a, b, score


def write_pairs(path: Path, rows: list[tuple[str, str, float]]) -> None:
    """The whole file, atomically: a temporary file in the same folder, flushed, then os.replace.
    No rows left: the file is removed (an empty curation file would not load)."""
    if not rows:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PAIR_COLUMNS)
    w.writerows([a, b, f"{s:g}"] for a, b, s in rows)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes owner-only files; keep the file's own mode, or a plain file's, for other users' runs
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Curator:
    """Labels for one data folder: add, confirm, undo (see the module docstring)."""

    def __init__(self, data_dir: Path | str, eval_dir: str = ""):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / CURATION_FILE
        self.hand_file = self.data_dir / PAIRS_FILE
        self.held = HeldOut.of(self.data_dir, eval_dir)
        self.history: list[Change] = []

    def _read(self, path: Path) -> list[CuratedPair]:
        """The rows of `path` ([] when absent); a file that does not parse is a Refused naming file and line."""
        if not path.exists():
            return []
        try:
            return read_sentence_pairs(path)
        except DataError as e:
            raise Refused(f"{e} (fix the file first: nothing was written)") from None

    def rows(self) -> list[CuratedPair]:
        """The curation file's rows, as they are on disk now."""
        return self._read(self.path)

    def find(self, a: str, b: str) -> CuratedPair | None:
        """The pair's current label: the curation file's, else sentence_pairs.csv's."""
        key = pair_key(a, b)
        for rows in (self.rows(), self._read(self.hand_file)):
            hit = next((p for p in rows if pair_key(p.sentence_1, p.sentence_2) == key), None)
            if hit:
                return hit
        return None

    def add(self, query: str, text: str, score: float, confirm: bool = False) -> Result:
        """Label `query ~ text` with `score`; see the module docstring for what is checked."""
        a, b, score = validate(query, text, score)
        for t in (a, b):
            if why := self.held.reason(t):
                raise Refused(why)
        old = self.find(a, b)
        if old is not None and abs(old.score - score) <= LABEL_TOLERANCE:
            return Result("duplicate", f"already labelled {old.score:g} ({old.file}, line {old.line})",
                          (a, b, score), old)
        if old is not None and not confirm:
            return Result("needs_confirm", f"{old.sentence_1!r} ~ {old.sentence_2!r} is labelled {old.score:g} "
                          f"({old.file}, line {old.line}); replace with {score:g}?", (a, b, score), old)
        self._put(a, b, score)
        self.history.append(Change(a, b, score, None if old is None else old.score))
        verb = "added" if old is None else "replaced"
        return Result(verb, f"{verb}: {self.history[-1]}", (a, b, score), old)

    def _put(self, a: str, b: str, score: float | None) -> None:
        """Set (or, score None, drop) the pair's row in the curation file, keeping every other row."""
        key = pair_key(a, b)
        rows = [(p.sentence_1, p.sentence_2, p.score) for p in self.rows()]
        at = next((i for i, r in enumerate(rows) if pair_key(r[0], r[1]) == key), None)
        if score is None:
            rows = [r for i, r in enumerate(rows) if i != at]
        elif at is None:
            rows.append((a, b, score))
        else:
            rows[at] = (rows[at][0], rows[at][1], score)
        write_pairs(self.path, rows)

    def undo(self) -> Change | None:
        """Revert the last write (the old score back, or the new row gone); None when there is nothing to undo.
        A replaced sentence_pairs.csv label comes back by dropping the override."""
        if not self.history:
            return None
        last = self.history.pop()
        hand = {pair_key(p.sentence_1, p.sentence_2): p.score for p in self._read(self.hand_file)}
        back_to_hand = last.old is None or hand.get(pair_key(last.sentence_1, last.sentence_2)) == last.old
        self._put(last.sentence_1, last.sentence_2, None if back_to_hand else last.old)
        return last
