"""A synthetic catalog of any size, with topics and peer groups, for scale tests.

    svtune synthetic --statvars 100000 --out /tmp/synth-100k

StatVars are enumerated the way Data Commons' auto-generator names them (autogen.py): a
measure (Count_Person, Median_Income_Household, ...) with one to three constraint values
(age, sex, race, education, ...), e.g. "Count of Person: 25 - 34 Years, Female, Employed" /
"Number of employed women aged 25 to 34". Measures take turns, so any prefix of the list is
spread over all of them. Every tenth StatVar gets a search-style alternative. Topics: one per
measure, a sub-topic per (measure, first constraint kind), and a peer group per family of
StatVars that differ only in their last constraint value. The folder has the repo's catalog
layout, with the repo's curated pairs, so every tool reads it (`-p data_dir /tmp/synth-100k`).
"""

from __future__ import annotations

import csv
import itertools
import shutil
from pathlib import Path

from svtune import paths
from svtune.data import autogen

GROUPS = ["age", "sex", "race", "nativity", "citizenship", "marital", "employment", "labor_force",
          "insurance", "veteran", "poverty", "edu", "quarters", "moved"]
PEER_GROUP_MAX = 8


def _tokens(group: str) -> list[str]:
    return list(autogen.AGE_BUCKETS) if group == "age" else autogen.tokens(group)


def _families():
    """(measure, [(group, token), ...]) for one to three constraint kinds, measures interleaved."""
    per_measure = []
    for measure in autogen.MEASURES:
        def combos(measure=measure):
            for k in (1, 2, 3):
                for groups in itertools.combinations(GROUPS, k):
                    for toks in itertools.product(*(_tokens(g) for g in groups)):
                        yield measure, list(zip(groups, toks))
        per_measure.append(combos())
    for batch in itertools.zip_longest(*per_measure):
        yield from (item for item in batch if item is not None)


def generate(n: int) -> tuple[list[dict], list[list[str]]]:
    """`n` StatVar rows and the topic CSV rows (topic_dcid, topic_name, member_dcid, type, alternatives)."""
    rows, peer_groups, subtopics = [], {}, {}
    for measure, constraint in _families():
        dcid = "_".join([measure] + [t for _, t in constraint])
        name = autogen.name_for_dcid(dcid)
        desc = autogen.description_for_dcid(dcid)
        counted = len(rows) % 10 == 0 and desc.startswith("Number of")
        alternative = ("how many " + desc.split(" ", 2)[2]) if counted else ""
        rows.append({"dcid": dcid, "Name": name, "Description": desc, "Override_Alternatives": "",
                     "Curated_Alternatives": alternative})
        family = (measure, tuple(constraint[:-1]), constraint[-1][0])
        peer_groups.setdefault(family, []).append(dcid)
        subtopics.setdefault((measure, constraint[0][0]), []).append(dcid)
        if len(rows) >= n:
            break
    topics = []
    for measure in autogen.MEASURES:
        label = autogen.MEASURES[measure][0]
        top = f"dc/topic/Synthetic_{measure}"
        for (m, group), members in subtopics.items():
            if m != measure:
                continue
            sub = f"{top}_By_{group}"
            topics.append([top, label, sub, "Topic", ""])
            topics += [[sub, f"{label} by {group.replace('_', ' ')}", d, "Topic", ""] for d in members[:PEER_GROUP_MAX]]
    for i, ((measure, prefix, group), members) in enumerate(peer_groups.items()):
        if len(members) >= 2:
            name = autogen.name_for_dcid("_".join([measure] + [t for _, t in prefix])) if prefix else \
                autogen.MEASURES[measure][0]
            topics += [[f"dc/svpg/Synthetic_{i}", f"{name} by {group.replace('_', ' ')}", d, "StatVarPeerGroup", ""]
                       for d in members[:PEER_GROUP_MAX]]
    return rows, topics


def write_catalog(out: Path, n: int) -> dict:
    """Write a catalog folder of `n` StatVars; returns counts."""
    rows, topics = generate(n)
    out = Path(out)
    for sub in ("curated_input", "alternatives", "finetuning", "topics"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    autogen.write_csv(out / "curated_input" / "synthetic.csv", rows)
    with open(out / "alternatives" / "synthetic.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dcid", "Alternatives"])
        w.writerows([r["dcid"], r["Description"].lower()] for r in rows[::7] if r["Description"])
    with open(out / "topics" / "topics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["topic_dcid", "topic_name", "member_dcid", "type", "alternatives"])
        w.writerows(topics)
    shutil.copy(paths.DATA_DIR / "finetuning" / "sentence_pairs.csv", out / "finetuning" / "sentence_pairs.csv")
    return {"statvars": len(rows), "topic_edges": len(topics)}
