import random

import torch

from textvae.text.data.batching import BucketBatchSampler, collate, padding_fraction


def _lengths(n=997, seed=0):
    rng = random.Random(seed)
    return [rng.randint(1, 41) for _ in range(n)]


def test_collate_layout():
    batch = collate([[5, 6, 7], [8]], bos_id=2, eos_id=3, pad_id=0)
    assert batch.ids.tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]]
    assert batch.lengths.tolist() == [4, 2]
    assert batch.ids.dtype == torch.long


def test_every_index_once_per_epoch_and_batch_sizes():
    lengths = _lengths()
    for bucketed in (True, False):
        batches = BucketBatchSampler(lengths, 31, seed=3, bucketed=bucketed).batches(0)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(lengths)))
        assert len(batches) == len(BucketBatchSampler(lengths, 31))
        assert sorted(len(b) for b in batches)[1:] == [31] * (len(batches) - 1)


def test_order_is_deterministic_in_seed_and_epoch():
    lengths = _lengths()
    a = BucketBatchSampler(lengths, 17, seed=1)
    b = BucketBatchSampler(lengths, 17, seed=1)
    assert a.batches(4) == b.batches(4)
    assert a.batches(4) != a.batches(5)
    assert a.batches(4) != BucketBatchSampler(lengths, 17, seed=2).batches(4)


def test_bucketing_cuts_padding():
    lengths = _lengths(5003)
    bucketed = BucketBatchSampler(lengths, 32).batches(0)
    shuffled = BucketBatchSampler(lengths, 32, bucketed=False).batches(0)
    assert padding_fraction(bucketed, lengths) < 0.02
    assert padding_fraction(shuffled, lengths) > 0.3


def test_unshuffled_keeps_dataset_order():
    lengths = _lengths(50)
    batches = BucketBatchSampler(lengths, 7, shuffle=False, bucketed=False).batches(0)
    assert [i for b in batches for i in b] == list(range(50))


def test_padding_fraction_by_hand():
    assert padding_fraction([[0, 1], [2]], [3, 1, 4]) == 1 - 8 / 10
