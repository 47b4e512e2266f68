"""The shipped data set: valid, big enough, held-out data really held out; the real data loads."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from svtune import paths
from svtune.data.catalog import load_catalog
from svtune.data.formats import read_pairs, read_queries
from svtune.data.mining import mine_pairs, pair_key


@pytest.fixture(scope="module")
def shipped():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # the shipped data must load with no warning
        small = load_catalog(paths.DATA_DIR, "small")
        medium = load_catalog(paths.DATA_DIR, "medium")
    return small, medium


def test_counts(shipped):
    small, medium = shipped
    curated = [sv for sv in small.statvars.values() if not sv.topic]
    assert len(curated) >= 300
    assert len({sv.file for sv in curated}) >= 15                      # one file per topic
    assert all(3 <= len(sv.curated_alternatives) <= 8 for sv in curated)
    assert sum(1 for sv in curated if sv.other_alternatives) >= 200
    assert len(medium.statvars) - len(small.statvars) >= 500
    assert len(small.pairs) >= 150
    bands = Counter("low" if p.score <= 0.05 else "weak" if p.score < 0.3 else "mid" if p.score < 0.9
                    else "high" for p in small.pairs)
    assert min(bands.values()) >= 15 and set(bands) == {"low", "weak", "mid", "high"}


def test_eval_set_is_held_out(shipped):
    small, medium = shipped
    queries = read_queries(paths.DATA_DIR / paths.EVAL_QUERIES)
    pairs = read_pairs(paths.DATA_DIR / paths.EVAL_PAIRS)
    assert len(queries) >= 80 and len(pairs) >= 40
    for q, expected in queries:
        assert expected and all(d in small.statvars for d in expected), q
    train, _ = mine_pairs(medium)
    train_texts = {t.strip().lower() for t in train.sentence_1.tolist() + train.sentence_2.tolist()}
    train_keys = {pair_key(a, b) for a, b in zip(train.sentence_1, train.sentence_2)}
    assert not [q for q, _ in queries if q.strip().lower() in train_texts]
    assert not [p for p in pairs if pair_key(p[0], p[1]) in train_keys]


@pytest.mark.shared
def test_eval_dcids_mostly_exist_in_data_commons():
    from svtune.data.formats import read_index
    known = {d for _, d in read_index(paths.SHARED_DATACOMMONS / "preindex" / "medium" / "sv_descriptions.csv")[0]}
    expected = [d for _, exp in read_queries(paths.DATA_DIR / paths.EVAL_QUERIES) for d in exp]
    assert sum(d in known for d in expected) / len(expected) >= 0.7


@pytest.mark.shared
@pytest.mark.parametrize("size,min_statvars", [("small", 1100), ("medium", 5000)])
def test_real_data_commons_loads(size, min_statvars):
    cat = load_catalog(paths.SHARED_DATACOMMONS, size, warn=False)
    pairs, report = mine_pairs(cat)
    assert len(cat.statvars) >= min_statvars and len(cat.pairs) >= 124
    assert report.counts["name~alternative"] > 1000 and len(pairs) > 5000


def test_topics_load_and_topic_queries_are_held_out(shipped):
    small, medium = shipped
    h = small.hierarchy
    assert sum(t.kind == "Topic" for t in h.topics.values()) >= 40 and small.num_topics >= 40
    assert sum(t.kind == "StatVarPeerGroup" for t in h.topics.values()) >= 20
    covered = set().union(*(h.statvars_under(d) for d in h.topics))
    assert len(covered) >= 0.9 * small.num_statvars               # nearly every curated StatVar has a topic
    queries = read_queries(paths.DATA_DIR / "eval" / "topic_queries.csv")
    assert len(queries) >= 80 and all(all(d.startswith("dc/topic/") for d in e) for _, e in queries)
    train, _ = mine_pairs(medium)
    texts = {t.strip().lower() for t in train.sentence_1.tolist() + train.sentence_2.tolist()}
    texts |= {s.lower() for sv in medium.statvars.values() for s in sv.sentences()}
    assert not [q for q, _ in queries if q.strip().lower() in texts]
