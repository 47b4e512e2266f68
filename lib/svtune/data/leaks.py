"""The leak rule: a text of the held-out sets must never be trained on (it would inflate the held-out figures).

    from svtune.data.leaks import HeldOut
    held = HeldOut.of(data_dir)              # <data_dir>/eval, else the repo's data/eval (as eval_files finds them)
    held.reason("poverty")                   # None, or one line: "'poverty' is in the held-out set <file>, line 2 ..."
    held.refuse(pairs)                       # DataError naming the first leaking pair's file, line and column
    held.leaking(pairs)                      # [(pair, column, reason)] for counting

A held-out text is a query of eval/queries.csv or eval/topic_queries.csv, or either sentence of
eval/pairs.csv, compared case-insensitively after trimming (records.text_key). The held-out folder is
found by `heldout_folder`, which eval.evaluate.eval_files uses too (`eval_dir`, else <data_dir>/eval,
else the repo's data/eval; `eval_dir` "none": no held-out sets, nothing leaks). At load time:
- the playground's curation file (data/curation.py) is refused when it holds any held-out text;
- every curated pairs file (finetuning/sentence_pairs.csv, a custom DC's too) is refused when a row holds a
  held-out query or is a held-out pair (either order, any case) (`screen`). One file is known to: Data
  Commons' shipped, read-only sentence_pairs.csv (by its sha256, SHIPPED_LEAKS), whose line 5 is the held-out
  pair "african americans ~ black and african american demographic": that row is dropped with a notice;
- a row that merely shares a text with a held-out pair is counted (`shared`; metrics.json data.heldout_shared),
  not refused: today's files share 43 of 223 rows (repo data/) and 35 of 125 (Data Commons').
`python -m svtune.data.leaks DATA_DIR` counts them.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from svtune import paths
from svtune.data.csvio import DataError, read_rows
from svtune.data.custom_dc import custom_dc_kind
from svtune.data.records import pair_key, read_all_pairs, text_key

HELD_OUT = (("queries.csv", ("query",)), ("pairs.csv", ("sentence_1", "sentence_2")),
            ("topic_queries.csv", ("query",)))
# sha256 of curated files we cannot edit whose exact held-out pairs are dropped with a notice, not refused:
# Data Commons' finetuning/sentence_pairs.csv (../shared/datacommons, read-only; 1 such row of 125, line 5).
SHIPPED_LEAKS = {"8df0bf476a1fba9fc568bf79e002bf030d10a96f53b5df116310b02f1167b933": "Data Commons' shipped file"}


def heldout_folder(data_dir: Path | str, eval_dir: str = "") -> Path | None:
    """The folder whose queries.csv / pairs.csv / topic_queries.csv are held out (None: none): `eval_dir`,
    else <data_dir>/eval, else the repo's data/eval, except for a custom Data Commons, whose held-out
    descriptions are its own (data/heldout.py). The one search, for the leak rule and evaluate.eval_files."""
    if str(eval_dir).lower() == "none":
        return None
    custom = not eval_dir and custom_dc_kind(Path(data_dir))
    for folder in ([paths.resolve(eval_dir)] if eval_dir else
                   [Path(data_dir) / "eval", *([] if custom else [paths.DATA_DIR / "eval"])]):
        # Present = anything by that name (a folder or a broken link too): its reader says what is wrong.
        if any((folder / name).exists() or (folder / name).is_symlink() for name, _ in HELD_OUT[:2]):
            return folder
    return None


@dataclass
class HeldOut:
    """Every held-out text (key) -> where it first occurs: (file, line, column)."""
    texts: dict[str, tuple[str, int, str]]
    folder: Path | None = None
    queries: set[str] = field(default_factory=set)                         # held-out query keys
    pairs: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)   # pair key -> (file, line)

    @classmethod
    def of(cls, data_dir: Path | str, eval_dir: str = "") -> HeldOut:
        folder = heldout_folder(data_dir, eval_dir)
        held = cls({}, folder)
        for name, columns in HELD_OUT if folder else ():
            path = folder / name
            if not path.exists():
                continue
            for row in read_rows(path, list(columns)):
                for col in columns:
                    if row.cells[col].strip():
                        held.texts.setdefault(text_key(row.cells[col]), (str(path), row.line, col))
                if len(columns) == 2:
                    held.pairs.setdefault(pair_key(*(row.cells[c] for c in columns)), (str(path), row.line))
                else:
                    held.queries.add(text_key(row.cells[columns[0]]))
        return held

    def reason(self, text: str) -> str | None:
        """Why `text` may not be trained on (one line), or None."""
        where = self.texts.get(text_key(text))
        if where is None:
            return None
        file, line, _ = where
        return (f"{text.strip()!r} is in the held-out set {file}, line {line}: training on it would inflate "
                "the held-out figures")

    def leaking(self, pairs) -> list[tuple[object, str, str]]:
        """(pair, column, reason) for every pair (with .sentence_1/.sentence_2) holding a held-out text."""
        out = []
        for p in pairs:
            for col in ("sentence_1", "sentence_2"):
                why = self.reason(getattr(p, col))
                if why:
                    out.append((p, col, why))
                    break
        return out

    def refuse(self, pairs) -> None:
        """A DataError naming the first leaking pair's file, line and column."""
        bad = self.leaking(pairs)
        if bad:
            p, col, why = bad[0]
            more = f" ({len(bad) - 1} more row(s) leak too)" if len(bad) > 1 else ""
            raise DataError(why + more, Path(p.file), p.line, col)


    def screen(self, pairs: list, notes: list[str] | None = None) -> list:
        """The curated pairs that may be trained on. A row holding a held-out query, or that is a held-out
        pair, is a DataError naming its file and line; in a file of SHIPPED_LEAKS it is dropped, with a notice."""
        kept, shipped = [], {}
        for p in pairs:
            query = next((c for c in ("sentence_1", "sentence_2") if text_key(getattr(p, c)) in self.queries), None)
            if query:
                raise DataError(self.reason(getattr(p, query)), Path(p.file), p.line, query)
            where = self.pairs.get(pair_key(p.sentence_1, p.sentence_2))
            if where is None:
                kept.append(p)
                continue
            why = (f"the pair {p.sentence_1!r} ~ {p.sentence_2!r} is the held-out pair {where[0]}, line {where[1]} "
                   "(either order, any case): training on it would inflate the held-out figures")
            if p.file not in shipped:
                shipped[p.file] = SHIPPED_LEAKS.get(hashlib.sha256(Path(p.file).read_bytes()).hexdigest())
            if not shipped[p.file]:
                raise DataError(why + "; remove the row", Path(p.file), p.line)
            if notes is not None:
                notes.append(f"{p.file}, line {p.line}: {why}; dropped from training ({shipped[p.file]}, "
                             "which svtune cannot edit)")
        return kept

    def shared(self, pairs: list) -> int:
        """How many curated pairs share a text with a held-out pair without being one (counted, not refused)."""
        texts = {t for key in self.pairs for t in key}
        return sum(1 for p in pairs if {text_key(p.sentence_1), text_key(p.sentence_2)} & texts)


def counts(data_dir: Path | str, eval_dir: str = "") -> dict:
    """How many curated pairs of `data_dir` (both files) share a text with its held-out sets."""
    held = HeldOut.of(data_dir, eval_dir)
    pairs = read_all_pairs(Path(data_dir))
    bad = held.leaking(pairs)
    texts = {text_key(t) for p in pairs for t in (p.sentence_1, p.sentence_2) if text_key(t) in held.texts}
    sources: dict[str, int] = {}
    for t in texts:
        name = Path(held.texts[t][0]).name
        sources[name] = sources.get(name, 0) + 1
    by_file: dict[str, int] = {}
    for p, _, _ in bad:
        by_file[p.file] = by_file.get(p.file, 0) + 1
    return {"heldout": str(held.folder), "heldout_texts": len(held.texts), "pairs": len(pairs),
            "leaking_rows": len(bad), "leaking_texts": len(texts), "by_file": by_file, "texts_found_in": sources}


if __name__ == "__main__":
    for d in sys.argv[1:] or [str(paths.DATA_DIR)]:
        print(d, counts(paths.resolve(d)))
