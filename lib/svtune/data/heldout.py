"""Held-out queries in a custom Data Commons owner's own words, for a catalog that brings no eval/.

    queries = hold_out(statvars, pairs, seed)   # takes the chosen texts out of the StatVars: [(text, [dcid])]
    check_count(queries, source)                # fewer than HELDOUT_MIN: the DataError of issue 24
    label(len(queries))                         # "held out: 1 search description of each of N variables"

One `searchDescriptions` entry of every variable that has at least MIN_DESCRIPTIONS is held out: the
variable is its expected answer. The choice is deterministic from the seed and the text (the smallest
sha256 of "seed:dcid:text" wins), so the same seed holds out the same texts on any machine. A text
that also appears elsewhere in the catalog (another variable, the name, a curated pair) is never
chosen: training would see it there. The chosen text is removed from its variable, so neither
training nor the evaluation index holds it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from svtune.data.csvio import DataError
from svtune.data.records import text_key

MIN_DESCRIPTIONS = 3   # a variable keeps at least two search descriptions to train on
HELDOUT_MIN = 20       # fewer held-out queries than this are no evaluation (issue 24)


def label(n: int) -> str:
    """How the summary and the model card name this held-out set."""
    return f"held out: 1 search description of each of {n} variables"


def _rank(seed: int, dcid: str, text: str) -> str:
    return hashlib.sha256(f"{seed}:{dcid}:{text}".encode()).hexdigest()


def hold_out(statvars: dict, pairs: list, seed: int, also: list[str] = ()) -> list[tuple[str, list[str]]]:
    """Hold out one search description (curated alternative) of each StatVar that has at least
    MIN_DESCRIPTIONS; returns the held-out queries (text, [dcid]) in catalog order. `also`: other texts
    training sees (topic names), never chosen."""
    seen = Counter(text_key(s) for sv in statvars.values() for s in sv.sentences())
    seen.update(s for p in pairs for s in {text_key(p.sentence_1), text_key(p.sentence_2)})
    seen.update({text_key(t) for t in also})
    out = []
    for sv in statvars.values():
        descs = sv.curated_alternatives
        if len({text_key(d) for d in descs}) < MIN_DESCRIPTIONS:
            continue
        unique = [d for d in descs if seen[text_key(d)] == 1]
        if not unique:
            continue
        chosen = min(unique, key=lambda d: _rank(seed, sv.dcid, d))
        sv.curated_alternatives = [d for d in descs if text_key(d) != text_key(chosen)]
        out.append((chosen, [sv.dcid]))
    return out


def check_count(queries: list | None, source: Path | str | None) -> None:
    """Refuse a run whose held-out queries are too few to say anything (None: not held out here)."""
    if queries is None or len(queries) >= HELDOUT_MIN:
        return
    raise DataError(f"only {len(queries)} held-out queries (at least {HELDOUT_MIN} needed): without an eval/ "
                    f"folder, 1 search description of each variable with at least {MIN_DESCRIPTIONS} is held out, "
                    f"and {len(queries)} variables have that many. Give more variables {MIN_DESCRIPTIONS}+ "
                    "searchDescriptions, or add held-out sets beside config.json as eval/queries.csv "
                    "(query,expected) and eval/pairs.csv (data/README.md), or pass -p eval_dir none to train "
                    "without a held-out evaluation", source)


def seed_for(cfg) -> int | None:
    """The seed a run holds out search descriptions with: its own, unless it names its held-out sets
    (`eval_dir`, or `none` for no evaluation), when nothing is held out. `cfg`: a RunConfig, or a run's
    config.json params (what every tool that evaluates a run again must use, never a seed of its own)."""
    if isinstance(cfg, dict):   # RunConfig's defaults: seed 42, no eval_dir
        return None if cfg.get("eval_dir") else cfg.get("seed", 42)
    return None if cfg.eval_dir else cfg.seed
