"""Mine scored sentence pairs from a catalog: the original Data Commons rules, as named constants.

Rules, in order (a missing Name or Description falls back to the other; a row with
only alternatives, like Data Commons' SDG topics, anchors on its first alternative):
  name~description         Name ~ first Description                      0.95
  name~description_more    Name ~ each further Description               0.90
  description~curated      first Description ~ each curated/override alt 0.95
  name~alternative         Name ~ each LLM/other alternative             0.85
  curated_pair             every curated sentence pair, its own score

Texts are stripped; empty texts and self-pairs (case-insensitive) are dropped;
(A,B) and (B,A) are one pair. When one pair gets different labels, a curated
sentence pair wins over a mined one (counted as a conflict and reported); among
mined rules the first rule wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .catalog import Catalog

SCORE_NAME_DESCRIPTION = 0.95
SCORE_NAME_MORE_DESCRIPTIONS = 0.90
SCORE_DESCRIPTION_CURATED = 0.95
SCORE_NAME_ALTERNATIVE = 0.85

SOURCES = ["name~description", "name~description_more", "description~curated",
           "name~alternative", "curated_pair"]
PAIR_COLUMNS = ["sentence_1", "sentence_2", "score", "source", "dcid"]


@dataclass
class MiningReport:
    """What happened while mining: counts per source and the label conflicts found."""
    counts: dict[str, int]
    dropped_self_pairs: int = 0
    duplicates: int = 0
    conflicts: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(self.counts.values())
        parts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return (f"{total} pairs ({parts}); {self.duplicates} duplicates merged, "
                f"{self.dropped_self_pairs} self-pairs dropped, {len(self.conflicts)} label conflicts "
                "(curated pair wins)")


def _candidates(catalog: Catalog):
    """Yield (s1, s2, score, source, dcid) for every rule, before cleaning."""
    for sv in catalog.statvars.values():
        alts = [*sv.curated_alternatives, *sv.override_alternatives]
        name = sv.name or (sv.descriptions[0] if sv.descriptions else "") or (alts[0] if alts else "")
        descs = sv.descriptions or [name]
        first = descs[0]
        yield name, first, SCORE_NAME_DESCRIPTION, "name~description", sv.dcid
        for d in descs[1:]:
            yield name, d, SCORE_NAME_MORE_DESCRIPTIONS, "name~description_more", sv.dcid
        for alt in alts:
            yield first, alt, SCORE_DESCRIPTION_CURATED, "description~curated", sv.dcid
        for alt in sv.other_alternatives:
            yield name, alt, SCORE_NAME_ALTERNATIVE, "name~alternative", sv.dcid
    for p in catalog.pairs:
        yield p.sentence_1, p.sentence_2, p.score, "curated_pair", ""


def text_key(text: str) -> str:
    """Case-insensitive identity of a text: how pairs, batches and negatives tell texts apart."""
    return text.strip().lower()


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Order-free, case-insensitive identity of a pair."""
    a, b = text_key(a), text_key(b)
    return (a, b) if a <= b else (b, a)


def text_dcids(pairs: pd.DataFrame) -> dict[str, set[str]]:
    """Which StatVars each text was mined from (keyed by text_key): the false-negative guard's keys."""
    out: dict[str, set[str]] = {}
    for s1, s2, dcid in pairs[["sentence_1", "sentence_2", "dcid"]].itertuples(index=False):
        if dcid:
            out.setdefault(text_key(s1), set()).add(dcid)
            out.setdefault(text_key(s2), set()).add(dcid)
    return out


def mine_pairs(catalog: Catalog) -> tuple[pd.DataFrame, MiningReport]:
    """All training pairs with a `source` column, deduplicated, plus a report."""
    kept: dict[tuple[str, str], list] = {}
    report = MiningReport(counts={s: 0 for s in SOURCES})
    for s1, s2, score, source, dcid in _candidates(catalog):
        s1, s2 = (s1 or "").strip(), (s2 or "").strip()
        if not s1 or not s2:
            continue
        key = pair_key(s1, s2)
        if key[0] == key[1]:
            report.dropped_self_pairs += 1
            continue
        old = kept.get(key)
        if old is None:
            kept[key] = [s1, s2, score, source, dcid]
            continue
        report.duplicates += 1
        if old[2] == score:
            continue
        if source == "curated_pair" and old[3] != "curated_pair":
            report.conflicts.append({"sentence_1": s1, "sentence_2": s2, "mined_score": old[2],
                                     "mined_source": old[3], "curated_score": score})
            kept[key] = [s1, s2, score, source, old[4]]
        elif source == "curated_pair":
            # Two curated rows disagree: the later row wins, as a hand edit usually appends.
            report.conflicts.append({"sentence_1": s1, "sentence_2": s2, "mined_score": old[2],
                                     "mined_source": old[3], "curated_score": score})
            kept[key] = [s1, s2, score, source, old[4]]
    df = pd.DataFrame(list(kept.values()), columns=PAIR_COLUMNS)
    report.counts = {s: int((df["source"] == s).sum()) for s in SOURCES}
    return df, report
