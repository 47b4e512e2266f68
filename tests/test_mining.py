"""Every mining rule, deduplication, self-pairs and label conflicts, on inline data."""

from __future__ import annotations

from svtune.data.mining import mine_pairs
from svtune.data.records import Catalog, CuratedPair, StatVar


def cat(statvars, pairs=()):
    return Catalog({s.dcid: s for s in statvars}, [CuratedPair(*p, "p.csv", i + 2) for i, p in enumerate(pairs)], [])


def rows(df):
    return {(r.sentence_1, r.sentence_2, r.score, r.source) for r in df.itertuples()}


def test_every_rule():
    sv = StatVar("X", "Name X", ["desc one", "desc two", "desc three"], ["override alt"], ["curated alt"],
                 ["llm alt"])
    df, rep = mine_pairs(cat([sv], [("poverty", "prison", 0.01)]))
    assert rows(df) == {
        ("Name X", "desc one", 0.95, "name~description"),
        ("Name X", "desc two", 0.90, "name~description_more"),
        ("Name X", "desc three", 0.90, "name~description_more"),
        ("desc one", "curated alt", 0.95, "description~curated"),
        ("desc one", "override alt", 0.95, "description~curated"),
        ("Name X", "llm alt", 0.85, "name~alternative"),
        ("poverty", "prison", 0.01, "curated_pair"),
    }
    assert rep.counts == {"name~description": 1, "name~description_more": 2, "description~curated": 2,
                          "name~alternative": 1, "curated_pair": 1, "topic~member": 0, "peer_group": 0,
                          "same_topic": 0, "sibling_topics": 0}
    assert set(df.loc[df.source != "curated_pair", "dcid"]) == {"X"}


def test_missing_name_or_description_falls_back():
    no_desc = StatVar("A", "Only Name", [], [], ["alt a"], ["llm a"])
    no_name = StatVar("B", "", ["Only Desc"], [], ["alt b"], ["llm b"])
    only_alts = StatVar("C", "", [], [], ["first alt", "second alt"], [])
    df, _ = mine_pairs(cat([no_desc, no_name, only_alts]))
    r = rows(df)
    assert ("Only Name", "alt a", 0.95, "description~curated") in r
    assert ("Only Name", "llm a", 0.85, "name~alternative") in r
    assert ("Only Desc", "alt b", 0.95, "description~curated") in r
    assert ("Only Desc", "llm b", 0.85, "name~alternative") in r
    assert ("first alt", "second alt", 0.95, "description~curated") in r
    # name == description after fallback is a self-pair, never a training pair
    assert not any(a.lower() == b.lower() for a, b, *_ in r)


def test_strip_empty_self_pairs_and_reverse_duplicates():
    sv = StatVar("A", "  Poverty Rate ", ["poverty rate"], [], ["  ", "share of poor"], ["Share of poor"])
    df, rep = mine_pairs(cat([sv], [("share of poor", "poverty rate", 0.95)]))
    assert rep.dropped_self_pairs == 1                       # Name ~ Description differ only in case
    assert len(df) == 1      # name~alternative is the same pair case-insensitively; the curated one is reversed
    assert all(s == s.strip() and s for s in df.sentence_1.tolist() + df.sentence_2.tolist())
    assert rep.duplicates == 2


def test_curated_pair_wins_conflict_and_is_reported():
    sv = StatVar("A", "black population", ["count of black people"], [], [], ["african americans"])
    df, rep = mine_pairs(cat([sv], [("african americans", "black population", 1.0)]))
    match = df[(df.sentence_1 == "african americans") | (df.sentence_2 == "african americans")]
    assert match.score.tolist() == [1.0] and match.source.tolist() == ["curated_pair"]
    assert len(rep.conflicts) == 1 and rep.conflicts[0]["mined_score"] == 0.85
    assert "1 label conflicts" in rep.summary()


def test_same_label_duplicate_is_not_a_conflict():
    a = StatVar("A", "jobless rate", ["unemployment rate"], [], [], [])
    df, rep = mine_pairs(cat([a], [("unemployment rate", "jobless rate", 0.95)]))
    assert len(df) == 1 and rep.conflicts == [] and rep.duplicates == 1


def test_relation_pairs_from_the_hierarchy():
    from svtune.data.topics import Topic, restrict
    svs = [StatVar(d, f"Name {d}", [f"desc {d}"], [], [], []) for d in ("M", "F", "P", "Q", "R")]
    c = cat(svs, [("name m", "something", 0.01)])
    c.hierarchy = restrict({
        "dc/topic/T": Topic("dc/topic/T", "Topic T", members=["P", "Q", "dc/svpg/G", "dc/topic/S1", "dc/topic/S2"]),
        "dc/svpg/G": Topic("dc/svpg/G", "Group G", "StatVarPeerGroup", members=["M", "F"]),
        "dc/topic/S1": Topic("dc/topic/S1", "Sub one", members=["R"]),
        "dc/topic/S2": Topic("dc/topic/S2", "Sub two", members=["R", "Unknown_StatVar"]),
    }, {"M", "F", "P", "Q", "R"})
    df, rep = mine_pairs(c)
    r = rows(df)
    assert ("Name M", "Name F", 0.5, "peer_group") in r
    assert ("Name P", "Name Q", 0.4, "same_topic") in r
    assert ("Sub one", "Sub two", 0.4, "sibling_topics") in r
    assert {("Topic T", f"Name {d}", 0.7, "topic~member") for d in "PQMF"} <= r      # peer-group members too
    assert ("Topic T", "Sub one", 0.7, "topic~member") in r and ("Sub one", "Name R", 0.7, "topic~member") in r
    assert rep.counts["topic~member"] == 8 and rep.counts["peer_group"] == 1
    assert set(df.loc[df.source.isin(["peer_group", "same_topic", "topic~member", "sibling_topics"]), "dcid"]) == {""}
    assert c.hierarchy.unknown_members == 1


def test_relation_pairs_never_replace_a_mined_pair():
    from svtune.data.topics import Topic, restrict
    a, b = StatVar("A", "Alpha", ["Beta"], [], [], []), StatVar("B", "Beta", [], [], [], [])
    c = cat([a, b])
    c.hierarchy = restrict({"dc/svpg/G": Topic("dc/svpg/G", "G", "StatVarPeerGroup", members=["A", "B"])}, {"A", "B"})
    df, rep = mine_pairs(c)
    assert rows(df) == {("Alpha", "Beta", 0.95, "name~description")} and rep.duplicates == 1
