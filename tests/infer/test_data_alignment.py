"""pandas entries are matched by label, never mislabelled by position (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesuq.data import eight_schools_noncentered, load_eight_schools
from bayesuq.infer.data import prepare_data


def test_reordered_series_are_aligned_by_index():
    frame = load_eight_schools()
    prepared = prepare_data(
        eight_schools_noncentered, {"sigma": frame.sigma, "y": frame.y.iloc[::-1]}
    )
    np.testing.assert_array_equal(np.asarray(prepared.arrays["y"]), frame.y.to_numpy())
    assert list(prepared.indexes["y"]) == list(frame.index)


def test_same_length_with_different_labels_is_refused():
    frame = load_eight_schools()
    other = pd.Series(frame.y.to_numpy(), index=[f"school {i}" for i in range(8)])
    with pytest.raises(ValueError, match=r"data\['y'\] and data\['sigma'\].*different row labels"):
        prepare_data(eight_schools_noncentered, {"sigma": frame.sigma, "y": other})


def test_unlabelled_entries_stay_positional():
    frame = load_eight_schools()
    prepared = prepare_data(
        eight_schools_noncentered, {"sigma": frame.sigma, "y": frame.y.to_numpy()[::-1]}
    )
    np.testing.assert_array_equal(np.asarray(prepared.arrays["y"]), frame.y.to_numpy()[::-1])
