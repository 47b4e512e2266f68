"""The leak rule: a text of the held-out sets must never be trained on (it would inflate the held-out figures).

    from svtune.data.leaks import HeldOut
    held = HeldOut.of(data_dir)              # <data_dir>/eval, else the repo's data/eval (as eval_files finds them)
    held.reason("poverty")                   # None, or one line: "'poverty' is in the held-out set <file>, line 2 ..."
    held.refuse(pairs)                       # DataError naming the first leaking pair's file, line and column
    held.leaking(pairs)                      # [(pair, column, reason)] for counting

A held-out text is a query of eval/queries.csv or eval/topic_queries.csv, or either sentence of
eval/pairs.csv, compared case-insensitively after trimming (catalog.text_key). The held-out folder is
found by `heldout_folder`, which eval.evaluate.eval_files uses too (`eval_dir`, else <data_dir>/eval,
else the repo's data/eval; `eval_dir` "none": no held-out sets, nothing leaks). Where the load-time rule
applies: the playground's curation file (data/curation.py) is refused when it leaks; the hand-curated
finetuning/sentence_pairs.csv is not checked, because today's files already share texts with the held-out
pairs (repo data/: 43 of 223 rows; Data Commons': 35 of 125, one of them a held-out pair itself) and
refusing them would break every run (tests/test_data.py only keeps held-out queries and held-out pairs,
as pairs, out of training).
`python -m svtune.data.leaks DATA_DIR` counts them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from svtune import paths
from svtune.data.csvio import DataError, read_rows

HELD_OUT = (("queries.csv", ("query",)), ("pairs.csv", ("sentence_1", "sentence_2")),
            ("topic_queries.csv", ("query",)))


def _key(text: str) -> str:
    return text.strip().lower()     # = catalog.text_key (catalog imports this module)


def heldout_folder(data_dir: Path | str, eval_dir: str = "") -> Path | None:
    """The folder whose queries.csv / pairs.csv / topic_queries.csv are held out (None: none): `eval_dir`,
    else <data_dir>/eval, else the repo's data/eval, except for a custom Data Commons, whose held-out
    descriptions are its own (data/heldout.py). The one search, for the leak rule and evaluate.eval_files."""
    from svtune.data.custom_dc import custom_dc_kind
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

    @classmethod
    def of(cls, data_dir: Path | str, eval_dir: str = "") -> HeldOut:
        folder = heldout_folder(data_dir, eval_dir)
        texts: dict[str, tuple[str, int, str]] = {}
        for name, columns in HELD_OUT if folder else ():
            path = folder / name
            if not path.exists():
                continue
            for row in read_rows(path, list(columns)):
                for col in columns:
                    if row.cells[col].strip():
                        texts.setdefault(_key(row.cells[col]), (str(path), row.line, col))
        return cls(texts, folder)

    def reason(self, text: str) -> str | None:
        """Why `text` may not be trained on (one line), or None."""
        where = self.texts.get(_key(text))
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


def counts(data_dir: Path | str, eval_dir: str = "") -> dict:
    """How many curated pairs of `data_dir` (both files) share a text with its held-out sets."""
    from svtune.data.catalog import read_all_pairs
    held = HeldOut.of(data_dir, eval_dir)
    pairs = read_all_pairs(Path(data_dir), check_leaks=False)
    bad = held.leaking(pairs)
    texts = {_key(t) for p in pairs for t in (p.sentence_1, p.sentence_2) if _key(t) in held.texts}
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
