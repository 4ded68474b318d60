"""Chunk plans, the automatic chunk size, and per-dataset keys that ignore chunking."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from bayesuq.batch.plan import (
    ChunkPlan,
    automatic_chunk_size,
    available_bytes,
    dataset_bytes,
    dataset_keys,
)


def test_plan_covers_every_dataset_once_and_pads_the_last_chunk():
    plan = ChunkPlan(n_datasets=10, chunk_size=4)
    assert plan.n_chunks == 3
    assert np.concatenate([plan.datasets(i) for i in range(3)]).tolist() == list(range(10))
    assert plan.padded(2).tolist() == [8, 9, 9, 9]
    with pytest.raises(IndexError, match="chunk must be in"):
        plan.datasets(3)


def test_keys_depend_on_the_dataset_index_only():
    whole = dataset_keys(3, np.arange(10), chains=2)
    parts = np.concatenate(
        [dataset_keys(3, np.arange(k, k + 2), chains=2) for k in range(0, 10, 2)]
    )
    np.testing.assert_array_equal(whole, parts)
    assert whole.shape[:2] == (10, 2)
    assert len({tuple(k) for k in np.asarray(whole).reshape(20, -1)}) == 20  # all distinct
    assert not np.array_equal(dataset_keys(4, np.arange(10), chains=2), whole)


def test_chunk_size_follows_memory():
    per = dataset_bytes(
        position_size=10,
        output_size=20,
        data_size=100,
        chains=4,
        iterations=2000,
        scan_length=100,
        max_tree_depth=10,
        dense_mass=False,
        itemsize=4,
    )
    # Outputs dominate: 4 chains x 2100 iterations x 20 values x 4 bytes.
    assert 4 * 2100 * 20 * 4 <= per <= 2 * 4 * 2100 * 20 * 4
    assert automatic_chunk_size(1000, per, devices=1, free_bytes=10**12) == 1000
    assert automatic_chunk_size(1000, per, devices=2, free_bytes=10**12) == 500
    small = automatic_chunk_size(1000, per, devices=1, free_bytes=40 * per)
    assert small == 10  # a quarter of the free memory
    assert automatic_chunk_size(1000, per, devices=1, free_bytes=1) == 1
    assert automatic_chunk_size(1000, per, devices=1, free_bytes=10**12, cap=7) == 7


def test_free_memory_is_known():
    assert available_bytes(jax.local_devices()[0]) > 0
