"""The grouped batch sampler: no shared text or StatVar inside a batch, less padding, exact length."""

from __future__ import annotations

from datasets import Dataset

from svtune.train.sampling import GroupedBatchSampler


def make(n=60):
    anchors = [f"name {i // 3}" for i in range(n)]               # 3 pairs per StatVar share the anchor
    positives = [f"alt {i} " + "long " * (i % 7) for i in range(n)]
    dcids = {f"name {i // 3}": {f"D{i // 3}"} for i in range(n)}
    dcids.update({p.strip().lower(): {f"D{i // 3}"} for i, p in enumerate(positives)})
    return Dataset.from_dict({"anchor": anchors, "positive": positives}), dcids


def test_no_shared_text_or_dcid_in_a_batch():
    ds, dcids = make()
    s = GroupedBatchSampler(ds, batch_size=8, drop_last=False, text_dcids=dcids, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 8
    for b in batches:
        anchors = [ds[i]["anchor"] for i in b]
        assert len(set(anchors)) == len(anchors)
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))


def test_length_grouping_cuts_padding():
    ds, _ = make(240)
    lengths = [len(ds[i]["positive"]) for i in range(240)]

    def padding(sampler):
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in sampler)
    grouped = GroupedBatchSampler(ds, 8, False, seed=0, no_duplicates=False)
    plain = GroupedBatchSampler(ds, 8, False, seed=0, no_duplicates=False, group_by_length=False)
    assert padding(grouped) < 0.5 * padding(plain)


def test_scored_datasets_keep_duplicates_and_epochs_differ():
    ds = Dataset.from_dict({"sentence_1": ["a"] * 10, "sentence_2": ["b"] * 10, "score": [0.5] * 10})
    s = GroupedBatchSampler(ds, 5, False, seed=0)
    assert s.keys is None and sorted(i for b in s for i in b) == list(range(10))
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first                      # each epoch reshuffles
    assert sum(len(b) for b in s) == 10


def test_one_pass_rows_guard_only_the_in_batch_positives():
    # label = [score, positive, scored] (losses.InBatchAndScored): 12 scored-only copies of one curated
    # pair may share batches; the 4 positives sharing "poverty" may not.
    ds = Dataset.from_dict({"sentence_1": ["poverty"] * 4 + ["prison"] * 12,
                            "sentence_2": [f"poor {i}" for i in range(4)] + ["jail"] * 12,
                            "label": [[0.95, 1, 1]] * 4 + [[0.01, 0, 1]] * 12})
    s = GroupedBatchSampler(ds, batch_size=8, drop_last=False, seed=0, guard_labelled=True)
    batches = list(s)
    assert sum(len(b) for b in batches) == 16
    assert all(sum(i < 4 for i in b) <= 1 for b in batches)   # never two "poverty" positives together
    assert len(batches) <= 5       # the 12 copies fill up batches (guarded, they would need 12+ batches of their own)


def test_under_two_processes_each_global_batch_is_guarded_as_a_whole():
    ds, dcids = make(64)
    s = GroupedBatchSampler(ds, batch_size=4, drop_last=False, text_dcids=dcids, seed=3, world_size=2)
    batches = list(s)
    assert len(batches) == len(s) and len(batches) % 2 == 0
    for first, second in zip(batches[::2], batches[1::2]):      # process 0's and process 1's share of a step
        anchors = [ds[i]["anchor"] for i in first + second]
        assert len(set(anchors)) == len(anchors) and len(first) <= 4 and len(second) <= 4
    assert sorted(i for b in batches for i in b) == list(range(64))


def test_two_processes_train_the_same_global_batches_as_one():
    """The trainer forces drop_last under DDP; the sampler's split global batches must still be the
    single-process run's batches (short ones included), in the same order."""
    ds, dcids = make(60)                                          # 60 rows: not a multiple of 8
    one = list(GroupedBatchSampler(ds, batch_size=8, drop_last=False, text_dcids=dcids, seed=5))
    two = list(GroupedBatchSampler(ds, batch_size=4, drop_last=True, text_dcids=dcids, seed=5, world_size=2))
    assert any(len(b) < 8 for b in one)                           # the guard leaves short batches
    assert [a + b for a, b in zip(two[::2], two[1::2])] == one
