"""Mine scored sentence pairs from a catalog: the original Data Commons rules, as named constants.

Rules, in order (a missing Name or Description falls back to the other; a row with
only alternatives, like Data Commons' SDG topics, anchors on its first alternative):
  name~description         Name ~ first Description                      0.95
  name~description_more    Name ~ each further Description               0.90
  description~curated      first Description ~ each curated/override alt 0.95
  name~alternative         Name ~ each LLM/other alternative             0.85
  curated_pair             every curated sentence pair, its own score
With a topic hierarchy (topics.py), graded relations between different items, each text
being an item's name (labels and why: data/README.md, measured in docs/experiments.md):
  topic~member             topic name ~ each member StatVar (also through its peer groups)
                           and each sub-topic                                        0.7
  peer_group               two StatVars of one peer group ("Population: Male" ~ "...: Female") 0.5
  same_topic               two StatVars directly under one topic                     0.4
  sibling_topics           two sub-topics of one topic                               0.4
Within a group, each member is paired with its next RELATION_NEIGHBOURS members (list
order), so a topic of n members gives at most 3n pairs, not n^2/2.

Texts are stripped; empty texts and self-pairs (case-insensitive) are dropped;
(A,B) and (B,A) are one pair. When one pair gets different labels, a curated
sentence pair wins over a mined one (counted as a conflict and reported); two curated
rows that disagree are a DataError (records.check_pair_labels); among mined rules the
first rule wins, and relation pairs never replace another rule's pair.
Relation and curated pairs carry no dcid: they join two items, not texts of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from svtune.data.records import Catalog, check_pair_labels, pair_key, text_key

SCORE_NAME_DESCRIPTION = 0.95
SCORE_NAME_MORE_DESCRIPTIONS = 0.90
SCORE_DESCRIPTION_CURATED = 0.95
SCORE_NAME_ALTERNATIVE = 0.85

SCORE_TOPIC_MEMBER = 0.7
SCORE_PEER_GROUP = 0.5
SCORE_SAME_TOPIC = 0.4
SCORE_SIBLING_TOPICS = 0.4
RELATION_NEIGHBOURS = 3

RELATIONS = {"topic~member": SCORE_TOPIC_MEMBER, "peer_group": SCORE_PEER_GROUP,
             "same_topic": SCORE_SAME_TOPIC, "sibling_topics": SCORE_SIBLING_TOPICS}
SOURCES = ["name~description", "name~description_more", "description~curated",
           "name~alternative", "curated_pair", *RELATIONS]
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
    yield from _relations(catalog)


def _chain(items: list[str]):
    """Each item with its next RELATION_NEIGHBOURS items: linear in the group's size."""
    for i, a in enumerate(items):
        for b in items[i + 1:i + 1 + RELATION_NEIGHBOURS]:
            yield a, b


def _relations(catalog: Catalog):
    """Graded pairs between different items, from the topic hierarchy."""
    h = catalog.hierarchy
    if h is None:
        return

    def text(dcid: str) -> str:
        sv = catalog.statvars.get(dcid)
        if sv is not None:
            return sv.name or (sv.descriptions[0] if sv.descriptions else "")
        return h.topics[dcid].name if dcid in h.topics else ""

    for t in h.topics.values():
        if t.kind == "StatVarPeerGroup":
            for a, b in _chain([m for m in t.members if m in catalog.statvars]):
                yield text(a), text(b), SCORE_PEER_GROUP, "peer_group", ""
            continue
        subtopics = [m for m in t.members if m in h.topics and h.topics[m].kind == "Topic"]
        direct = [m for m in t.members if m not in h.topics]
        grouped = [s for m in t.members if m in h.topics and h.topics[m].kind != "Topic" for s in h.topics[m].members]
        for m in dict.fromkeys(direct + grouped + subtopics):
            yield text(t.dcid), text(m), SCORE_TOPIC_MEMBER, "topic~member", ""
        for a, b in _chain(direct):
            yield text(a), text(b), SCORE_SAME_TOPIC, "same_topic", ""
        for a, b in _chain(subtopics):
            yield text(a), text(b), SCORE_SIBLING_TOPICS, "sibling_topics", ""


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
    check_pair_labels(catalog.pairs)    # catalogs built in code skip read_sentence_pairs' check
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
        if old[2] == score or source in RELATIONS:
            continue
        if source == "curated_pair" and old[3] != "curated_pair":
            report.conflicts.append({"sentence_1": s1, "sentence_2": s2, "mined_score": old[2],
                                     "mined_source": old[3], "curated_score": score})
            kept[key] = [s1, s2, score, source, old[4]]
    df = pd.DataFrame(list(kept.values()), columns=PAIR_COLUMNS)
    report.counts = {s: int((df["source"] == s).sum()) for s in SOURCES}
    return df, report
